"""Each degradation moves its own descriptor; spatial concentration and regions by hand."""

import pytest
import torch

from competency_cf.data.causes import degrade
from competency_cf.data.dataset import from_uint8, to_uint8
from competency_cf.explain.descriptors import (DESCRIPTORS, GRID, TOP_CELLS, busiest_region,
                                               describe, spatial_concentration)
from tiny_data import class_images


def _moved(before, after):
    return {name: float((after[:, i] - before[:, i]).abs().median())
            for i, name in enumerate(DESCRIPTORS)}


@pytest.fixture
def images():
    # Mid-range images with smooth texture (like renders) so that moderate changes do not clip.
    base, _ = class_images(16, seed=3)
    coarse = torch.rand((16, 3, 8, 8), generator=torch.Generator().manual_seed(1))
    texture = torch.nn.functional.interpolate(coarse, size=64, mode="bilinear")
    return (0.25 + 0.5 * (0.7 * base + 0.3 * texture)).clamp(0, 1)


@pytest.mark.parametrize("cause, factor, expected", [
    ("brightness", 1.4, "brightness"), ("brightness", 0.5, "brightness"),
    ("contrast", 0.3, "contrast"), ("contrast", 1.8, "contrast"),
    ("saturation", 0.0, "saturation"), ("saturation", 3.0, "saturation"),
    ("noise", 60.0, ("noise", "colour_noise"))])
def test_each_degradation_moves_its_own_descriptor_most(images, cause, factor, expected):
    before = describe(images)
    after = describe(degrade(images, cause, factor, reference_size=64,
                             generator=torch.Generator().manual_seed(0)))
    moved = _moved(before, after)
    assert max(moved, key=moved.get) in (expected if isinstance(expected, tuple)
                                         else (expected,)), moved


def test_blockiness_rises_with_pixelation_but_not_with_darkening_or_flattening(images):
    def quantised(x):
        return from_uint8(to_uint8(x))

    index = DESCRIPTORS.index("blockiness")
    before = describe(quantised(images))[:, index]
    pixelated = describe(quantised(degrade(images, "pixelation", 16.0, reference_size=64)))
    assert float((pixelated[:, index] - before).median()) > 0.3
    for cause, factor in (("brightness", 0.3), ("contrast", 0.3)):
        after = describe(quantised(degrade(images, cause, factor)))[:, index]
        assert float((after - before).median()) < 0.1, cause


def test_brightness_scaling_leaves_contrast_and_saturation_alone(images):
    before, after = describe(images), describe(degrade(images, "brightness", 1.2))
    moved = _moved(before, after)
    assert moved["brightness"] == pytest.approx(torch.log(torch.tensor(1.2)).item(), abs=0.02)
    assert moved["contrast"] < 0.02 and moved["saturation"] < 0.02


def test_spatial_concentration_uniform_vs_one_patch():
    images = torch.full((2, 3, 64, 64), 0.5)
    changed = images.clone()
    changed[0] += 0.1                    # a global change
    changed[1, :, :8, :8] = 1.0          # one object in the upper-left cell
    concentration = spatial_concentration(images, changed)
    assert concentration[0] == pytest.approx(TOP_CELLS / GRID ** 2, abs=1e-5)
    assert concentration[1] == pytest.approx(1.0, abs=1e-5)
    names, maps = busiest_region(images[1:], changed[1:])
    assert names == ["upper left"] and maps.shape == (1, GRID, GRID)
    assert maps[0, 0, 0] == 1.0 and maps[0].sum() == pytest.approx(1.0)  # one hot cell
    changed[1] = 0.5
    changed[1, :, 28:36, 28:36] = 1.0  # straddles the four central cells equally
    names, maps = busiest_region(images[1:], changed[1:])
    assert names == ["centre"]
    centre = GRID // 2
    assert torch.allclose(maps[0, centre - 1:centre + 1, centre - 1:centre + 1],
                          torch.ones(2, 2)) and maps[0].sum() == pytest.approx(4.0)


def _column(name):
    return DESCRIPTORS.index(name)


def test_blur_lowers_detail_and_noise_raises_it(images):
    detail = _column("detail")
    before = describe(images)[:, detail]
    blurred = images
    previous = before
    for _ in range(3):  # stronger blur, less fine detail each time
        blurred = torch.nn.functional.avg_pool2d(blurred, 3, stride=1, padding=1,
                                                 count_include_pad=False)
        now = describe(blurred)[:, detail]
        assert (now < previous).all()
        previous = now
    noisy = degrade(images, "noise", 40.0, generator=torch.Generator().manual_seed(0))
    assert (describe(noisy)[:, detail] > before).all()
    # A ratio of gradients: brightness and contrast changes leave it (almost) alone.
    assert (describe(images * 0.6)[:, detail] - before).abs().max() < 0.02


def test_a_bright_veil_lifts_the_dark_tones(images):
    veil = _column("veil")
    before = describe(images)[:, veil]
    for density in (0.2, 0.5, 0.8):
        hazy = images * (1 - density) + 0.85 * density
        now = describe(hazy)[:, veil]
        assert (now > before).all()
        before = now


def test_a_dark_flat_patch_fills_dark_cells(images):
    dark = _column("dark_cells")
    assert float(describe(images)[:, dark].max()) == 0.0
    covered = images.clone()
    covered[:, :, 40:, 40:] = 0.02  # lower right quarter, dirt on the lens
    values = describe(covered)[:, dark]
    assert torch.allclose(values, torch.full_like(values, 9 / GRID ** 2))  # 3 x 3 cells of 8


def test_a_local_bloom_is_a_hot_spot_a_global_gain_is_not(images):
    hot = _column("hot_spot")
    before = describe(images)[:, hot]
    rows = torch.arange(64).view(64, 1).float()
    columns = torch.arange(64).view(1, 64).float()
    bloom = torch.exp(-((rows - 10) ** 2 + (columns - 12) ** 2) / (2 * 6.0 ** 2))
    glared = (images + 1.5 * bloom).clamp(0, 1)
    brighter = (images * 1.3).clamp(0, 1)
    rise = describe(glared)[:, hot] - before
    assert rise.min() > 0.3
    assert ((describe(brighter)[:, hot] - before).abs() < rise / 3).all()
