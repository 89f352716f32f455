import pytest
import torch
import torch.nn.functional as F

from competency_cf.data.corruptions import (CORRUPTIONS, HELD_OUT_CORRUPTIONS,
                                            SEEDED_CORRUPTIONS, SEVERITIES, TUNING_CORRUPTIONS,
                                            corrupt, corruption_parameters, severity_runs)
from competency_cf.data.domains import get_domain
from competency_cf.data.synthesize import render_sample

# Frost and fog lay a veil over the view and dim it; on dark lunar views a stronger level can
# move pixel values less while hiding more of the view, so their strength is the loss of the
# view's structure (1 - SSIM). Every other corruption is measured by the mean absolute change.
VEILS = ("frost", "fog")


@pytest.fixture(scope="module")
def views():
    lunar = render_sample(get_domain("lunar"), per_class=1).images[[0, 3, 6]]
    speed = render_sample(get_domain("speed"), per_class=1).images[[0, 3, 5]]
    return torch.cat([lunar, speed])


@pytest.fixture(scope="module")
def corrupted(views):
    """Every corruption at every severity of the fixed views with seed 0, computed once."""
    return {(name, severity): corrupt(views, name, severity, seed=0)
            for name in CORRUPTIONS for severity in SEVERITIES}


def mean_absolute_change(corrupted, clean):
    return (corrupted - clean).abs().mean().item()


def structure_loss(corrupted, clean):
    """1 - SSIM (Gaussian window of sigma 1.5 px, the usual constants), averaged over pixels."""
    taps = torch.exp(-0.5 * ((torch.arange(11.0) - 5.0) / 1.5) ** 2)
    window = (taps[:, None] * taps[None, :] / taps.sum() ** 2).expand(3, 1, 11, 11)

    def local_mean(images):
        return F.conv2d(images, window, groups=3)

    mean_x, mean_y = local_mean(corrupted), local_mean(clean)
    var_x = local_mean(corrupted * corrupted) - mean_x ** 2
    var_y = local_mean(clean * clean) - mean_y ** 2
    covariance = local_mean(corrupted * clean) - mean_x * mean_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ssim = ((2 * mean_x * mean_y + c1) * (2 * covariance + c2)
            / ((mean_x ** 2 + mean_y ** 2 + c1) * (var_x + var_y + c2)))
    return 1.0 - ssim.mean().item()


def test_suite_is_the_papers_nineteen_corruptions():
    assert len(CORRUPTIONS) == len(set(CORRUPTIONS)) == 19
    assert set(CORRUPTIONS) >= {"gaussian_noise", "glass_blur", "snow", "frost", "fog",
                                "elastic_transform", "pixelate", "jpeg_compression"}
    assert SEVERITIES == (1, 2, 3, 4, 5)


def test_groups_are_disjoint_and_cover_the_suite():
    assert TUNING_CORRUPTIONS == ("speckle_noise", "gaussian_blur", "spatter", "saturate")
    assert len(HELD_OUT_CORRUPTIONS) == 15
    assert not set(TUNING_CORRUPTIONS) & set(HELD_OUT_CORRUPTIONS)
    assert set(TUNING_CORRUPTIONS) | set(HELD_OUT_CORRUPTIONS) == set(CORRUPTIONS)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_output_is_a_batch_of_float32_images_in_unit_range(corrupted, views, name):
    for severity in SEVERITIES:
        out = corrupted[name, severity]
        assert out.shape == views.shape and out.dtype == torch.float32
        assert torch.isfinite(out).all()
        assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_same_seed_gives_the_same_output_whatever_the_batch(corrupted, views, name):
    # Each image has its own random stream: the first view alone with seed 0 is corrupted
    # exactly as it was at the head of the whole batch.
    for severity in SEVERITIES:
        alone = corrupt(views[:1], name, severity, seed=0)
        assert torch.equal(alone, corrupted[name, severity][:1])
        other_seed = corrupt(views[:1], name, severity, seed=1)
        assert torch.equal(alone, other_seed) == (name not in SEEDED_CORRUPTIONS)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_strength_grows_with_severity(corrupted, views, name):
    distance = structure_loss if name in VEILS else mean_absolute_change
    strength = {severity: distance(corrupted[name, severity], views) for severity in SEVERITIES}
    for run in severity_runs(name):
        values = [strength[severity] for severity in run]
        assert values == sorted(values), f"{name}: {strength}"
    assert mean_absolute_change(corrupted[name, 5], views) > 0.02


def test_only_spatter_and_saturate_change_kind_between_levels():
    assert severity_runs("spatter") == ((1, 2, 3), (4, 5))
    assert severity_runs("saturate") == ((1, 2), (3, 4, 5))
    for name in set(CORRUPTIONS) - {"spatter", "saturate"}:
        assert severity_runs(name) == (SEVERITIES,)
    with pytest.raises(ValueError, match="unknown corruption"):
        severity_runs("hail")


def test_spatter_is_water_then_mud():
    modes = [corruption_parameters("spatter", severity)["mode"] for severity in SEVERITIES]
    assert modes == ["water", "water", "water", "mud", "mud"]


def test_saturate_desaturates_then_oversaturates(corrupted, views):
    def saturation(images):
        high, low = images.max(dim=1).values, images.min(dim=1).values
        return ((high - low) / high.clamp_min(1e-6)).mean().item()

    level = {severity: saturation(corrupted["saturate", severity]) for severity in SEVERITIES}
    assert level[2] < level[1] < saturation(views) < level[3] < level[4] < level[5]


def test_spatial_sizes_scale_with_the_image_and_others_do_not():
    at_224 = corruption_parameters("defocus_blur", 3, image_size=224)
    at_64 = corruption_parameters("defocus_blur", 3, image_size=64)
    assert at_224["radius"] == 6 and at_64["radius"] == pytest.approx(6 * 64 / 224)
    assert corruption_parameters("gaussian_blur", 5, 224)["sigma"] == 6
    assert corruption_parameters("gaussian_noise", 5, 64)["sigma"] == 0.38
    assert corruption_parameters("jpeg_compression", 1, 64)["quality"] == 25
    assert corruption_parameters("pixelate", 5, 64)["scale"] == 0.25


def test_non_square_images_keep_their_shape():
    generator = torch.Generator().manual_seed(3)
    images = torch.rand((1, 3, 40, 56), generator=generator)
    for name in CORRUPTIONS:
        out = corrupt(images, name, 3, seed=1)
        assert out.shape == images.shape and out.dtype == torch.float32, name


def test_unknown_corruption_names_the_value_and_the_choices(views):
    with pytest.raises(ValueError, match="unknown corruption 'rain'.*gaussian_noise.*"
                                         "jpeg_compression"):
        corrupt(views, "rain", 1)


@pytest.mark.parametrize("severity", [0, 6, -1, 2.5, "3", True])
def test_severity_outside_one_to_five_is_rejected(views, severity):
    with pytest.raises(ValueError, match=r"severity must be an integer in 1\.\.5, got "
                                         + repr(severity).replace(".", r"\.")):
        corrupt(views, "fog", severity)
    with pytest.raises(ValueError, match="severity must be"):
        corruption_parameters("fog", severity)


def test_bad_seed_and_bad_images_are_rejected(views):
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        corrupt(views, "snow", 1, seed=-1)
    with pytest.raises(ValueError, match=r"expected shape \(N, 3, H, W\)"):
        corrupt(views[:, :1], "snow", 1)
    with pytest.raises(ValueError, match="values must lie in"):
        corrupt(views * 2.0, "snow", 1)
    with pytest.raises(ValueError, match="at least 16 pixels"):
        corrupt(views[..., :8, :8], "snow", 1)
