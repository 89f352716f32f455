import pytest
import torch

from competency_cf.data.causes import (CAUSES, DEGRADATIONS, degrade, grayscale,
                                       pixelation_side)


@pytest.fixture
def images():
    generator = torch.Generator().manual_seed(0)
    return 0.2 + 0.6 * torch.rand((4, 3, 16, 16), generator=generator)


def saturation_of(images):
    return (images - grayscale(images)).abs().mean()


def test_six_causes_in_paper_order():
    assert CAUSES == ("spatial", "brightness", "contrast", "saturation", "noise", "pixelation")
    assert DEGRADATIONS == CAUSES[1:]


@pytest.mark.parametrize("factor", [0.5, 2.0])
def test_brightness_scales_intensity(images, factor):
    out = degrade(images, "brightness", factor)
    assert torch.allclose(out, (images * factor).clamp(0, 1))
    assert (out.mean() > images.mean()) == (factor > 1)


def test_contrast_moves_pixels_relative_to_mean_gray(images):
    spread = images.std()
    assert degrade(images, "contrast", 0.25).std() < spread * 0.3
    assert degrade(images, "contrast", 2.0).std() > spread * 1.5
    flat = degrade(images, "contrast", 0.0)
    assert torch.allclose(flat, flat[:, :1].expand_as(flat))


def test_saturation_zero_is_gray_and_large_is_more_colourful(images):
    gray = degrade(images, "saturation", 0.0)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    assert saturation_of(degrade(images, "saturation", 5.0)) > 2 * saturation_of(images)


def test_noise_is_uniform_within_amplitude_and_seeded(images):
    out = degrade(images, "noise", 40.0, generator=torch.Generator().manual_seed(1))
    difference = (out - images) * 255.0
    assert difference.abs().max() <= 40.0 + 1e-3
    assert difference.abs().mean() > 15.0  # E|U(-40, 40)| = 20, a little lost to clipping
    again = degrade(images, "noise", 40.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


def test_noise_is_clipped_to_unit_range():
    out = degrade(torch.ones((1, 3, 8, 8)), "noise", 120.0)
    assert out.max() <= 1.0 and out.min() >= 1.0 - 120.0 / 255.0 - 1e-6


def test_pixelation_makes_constant_blocks(images):
    big = torch.rand((1, 3, 64, 64), generator=torch.Generator().manual_seed(2))
    out = degrade(big, "pixelation", 32.0, reference_size=128)  # 4 px per side -> 16 px blocks
    assert pixelation_side(32.0, 128) == 4
    blocks = out.unfold(2, 16, 16).unfold(3, 16, 16)
    assert torch.allclose(blocks, blocks[..., :1, :1].expand_as(blocks))
    assert out.shape == big.shape


def test_pixelation_side_scales_with_reference():
    assert pixelation_side(10, 256) == 26
    assert pixelation_side(40, 256) == 6
    assert pixelation_side(1000, 64) == 1


def test_unknown_and_spatial_causes_raise(images):
    with pytest.raises(ValueError, match="unknown cause 'blur'"):
        degrade(images, "blur", 1.0)
    with pytest.raises(ValueError, match="OOD"):
        degrade(images, "spatial", 1.0)
