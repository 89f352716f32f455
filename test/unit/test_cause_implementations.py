import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from competency_cf.data.causes import CAUSES, grayscale
from competency_cf.data.corruptions import HELD_OUT_CORRUPTIONS, TUNING_CORRUPTIONS
from competency_cf.data.domains import get_domain
from competency_cf.data.field_causes import FIELD_CAUSES
from competency_cf.data.pastes import HELD_OUT_PASTES, TUNING_PASTES
from competency_cf.data.synthesize import OOD_LABEL, render_image
from competency_cf.data.cause_implementations import (EXPLAINED_CAUSES, GROUPS, IMPLEMENTATIONS,
                                                      SHIFT_RENDER_INDEX, CauseImplementation,
                                                      area_pixelate, get_implementation,
                                                      implementations)
from competency_cf.explain.explanation import HIGH, LOW


def _views(count=3, side=32, seed=0):
    """Colourful mid-tone views with texture: every property has room to move both ways."""
    generator = torch.Generator().manual_seed(seed)
    coarse = 0.25 + 0.5 * torch.rand((count, 3, 4, 4), generator=generator)
    views = F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)
    checker = (torch.arange(side).view(-1, 1) + torch.arange(side).view(1, -1)) % 2
    return (views + 0.04 * (checker - 0.5)).clamp(0, 1).float()


def _luma_std(images):
    return float(grayscale(images).flatten(1).std(dim=1).mean())


def _chroma(images):
    return float((images.max(dim=1).values - images.min(dim=1).values).mean())


def _distance(original):
    return lambda images: float((images - original).abs().mean())


def _roughness(images):
    """Mean absolute difference between horizontal neighbours: grain raises it."""
    return float((images[..., 1:] - images[..., :-1]).abs().mean())


def _measure(impl, original):
    """What the implementation must move, and the sign of the move."""
    if impl.cause in ("blur", "haze"):  # haze scales the scene's detail by its transmission
        return _roughness, -1
    if impl.cause == "glare":
        return (lambda images: float(grayscale(images).mean())), 1
    if impl.cause == "brightness":
        sign = 1 if impl.direction == HIGH else -1
        return (lambda images: float(grayscale(images).mean())), sign
    if impl.cause == "contrast":
        return _luma_std, 1 if impl.direction == HIGH else -1
    if impl.cause == "saturation":
        return _chroma, 1 if impl.direction == HIGH else -1
    if impl.cause == "noise":
        return _roughness, 1
    return _distance(original), 1  # pixelation, pastes, occlusion: further from the view


def _strength_grid(impl):
    weakest, strongest = impl.strengths
    if impl.cause == "pixelation" and not impl.integer:
        # Between close block sizes the sampling phase matters more than the size: compare ends.
        return [weakest, strongest]
    if impl.integer:
        step = 1 if strongest > weakest else -1
        return [float(level) for level in range(int(weakest), int(strongest) + step, step)]
    return list(np.linspace(weakest, strongest, 4))


WITH_STRENGTH = [impl for impl in IMPLEMENTATIONS if impl.strengths is not None]


@pytest.mark.parametrize("impl", WITH_STRENGTH, ids=lambda impl: impl.name)
def test_each_implementation_moves_its_property_and_grows_with_strength(impl):
    original = _views()
    measure, sign = _measure(impl, original)
    values = [measure(original)] + [measure(impl.apply(original, s, seed=3, domain="lunar"))
                                    for s in _strength_grid(impl)]
    if impl.benchmark_shift is not None and impl.cause in FIELD_CAUSES:
        # ImageNet-C's blurs and fog on these checkered views: each level moves the property
        # the right way; their growth with severity is tested with the benchmark's corruptions.
        steps = sign * (np.array(values[1:]) - values[0])
    else:
        steps = sign * np.diff(values)
    assert (steps > 0).all(), f"{impl.name}: {values}"


@pytest.mark.parametrize("impl", IMPLEMENTATIONS, ids=lambda impl: impl.name)
def test_shape_range_and_seeded_determinism(impl):
    images = _views(side=64)
    strength = impl.strengths[1] if impl.strengths is not None else float("nan")
    first = impl.apply(images, strength, seed=5, domain="lunar")
    assert first.shape == images.shape and first.dtype == torch.float32
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, impl.apply(images, strength, seed=5, domain="lunar"))
    assert not torch.equal(first, images)
    # Pure white and black pixels too, where rounding can push a curve past the range.
    extremes = images.clone()
    extremes[:, :, :32] = 1.0
    extremes[:, :, 32:40] = 0.0
    rng = np.random.default_rng(0)
    levels = ([impl.sample_strength(rng) for _ in range(40)] if impl.strengths is not None
              else [float("nan")])
    for level in levels:
        out = impl.apply(extremes, level, seed=5, domain="lunar")
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0, (impl.name, level)


@pytest.mark.parametrize("name", ["uniform_noise", "monochrome_gaussian_noise",
                                  "salt_and_pepper", "imagenet_c_impulse_noise", "paste_shapes"])
def test_seed_changes_random_implementations(name):
    impl = get_implementation(name)
    images = _views()
    strength = impl.strengths[1]
    assert not torch.equal(impl.apply(images, strength, seed=1),
                           impl.apply(images, strength, seed=2))


def test_tone_curve_darkening_lowers_luma_monotonically():
    images = _views()
    luma = [float(grayscale(get_implementation("gamma_darken").apply(images, g)).mean())
            for g in (1.5, 2.0, 3.0, 5.0)]
    assert luma[0] < float(grayscale(images).mean()) and all(np.diff(luma) < 0)


def test_s_curve_raises_and_inverse_lowers_luma_std_about_a_dark_mean():
    # A dark view: a curve pivoting on 0.5 would darken it further instead of adding contrast.
    images = _views() * 0.4
    mean = float(grayscale(images).mean())
    steeper = get_implementation("s_curve").apply(images, 4.0)
    flatter = get_implementation("inverse_s_curve").apply(images, 8.0)
    assert _luma_std(steeper) > 1.3 * _luma_std(images) > 1.3 * _luma_std(flatter)
    assert abs(float(grayscale(steeper).mean()) - mean) < 0.05


def test_hsv_scaling_keeps_the_value_and_moves_chroma():
    images = _views()
    for name, compare in (("hsv_saturation_high", np.greater), ("hsv_saturation_low", np.less)):
        impl = get_implementation(name)
        result = impl.apply(images, impl.strengths[1])
        assert compare(_chroma(result), _chroma(images))
        assert torch.allclose(result.max(dim=1).values, images.max(dim=1).values, atol=1e-5)
    gray = get_implementation("hsv_saturation_low").apply(images, 0.0)
    assert float(gray.max(dim=1).values.sub(gray.min(dim=1).values).max()) < 1e-5


def test_area_resampling_produces_blocks_of_mean_colour():
    images = _views(count=2, side=32)
    blocks = area_pixelate(images, 4.0)
    tiles = blocks.unfold(2, 4, 4).unfold(3, 4, 4)  # (N, 3, 8, 8, 4, 4)
    assert torch.allclose(tiles, tiles[..., :1, :1].expand_as(tiles))
    assert torch.allclose(tiles[..., 0, 0], F.avg_pool2d(images, 4), atol=1e-6)


def test_bilinear_resampling_removes_fine_detail_without_blocks():
    images = _views()
    result = get_implementation("bilinear_resample").apply(images, 8.0)
    assert _roughness(result) < 0.5 * _roughness(images)
    same_neighbours = (result[..., 1:] == result[..., :-1]).float().mean()
    assert float(same_neighbours) < 0.5


def test_ood_render_replaces_views_with_fresh_out_of_distribution_renders():
    impl = get_implementation("ood_render")
    lunar = get_domain("lunar")
    zeros = torch.zeros((2, 3, lunar.image_size, lunar.image_size))
    rendered = impl.apply(zeros, seed=7, domain="lunar")
    assert torch.equal(rendered, impl.apply(torch.ones_like(zeros), seed=7, domain="lunar"))
    expected = render_image(lunar, OOD_LABEL, SHIFT_RENDER_INDEX + 7 + 1)
    assert torch.equal(rendered[1], torch.from_numpy(expected).float() / 255.0)
    with pytest.raises(ValueError, match="64x64"):
        impl.apply(torch.zeros((1, 3, 32, 32)), domain="lunar")


def test_pastes_cover_the_requested_share_of_the_view():
    images = _views(count=4, side=64)
    for name in ("paste_shapes", "paste_photographs"):
        impl = get_implementation(name)
        for fraction in (0.15, 0.4):
            changed = (impl.apply(images, fraction, seed=2) != images).any(dim=1).float()
            assert abs(float(changed.mean()) - fraction) < 0.06


def test_groups_respect_the_robustness_benchmark():
    fit = implementations(group="fit")
    for impl in fit:
        shift = impl.benchmark_shift
        if shift is not None:
            tuning = TUNING_CORRUPTIONS if shift[0] == "corruption" else TUNING_PASTES
            assert shift[1] in tuning, impl.name
    used = {impl.benchmark_shift for impl in IMPLEMENTATIONS if impl.benchmark_shift}
    held_out_shifts = ({("corruption", name) for name in HELD_OUT_CORRUPTIONS}
                       | {("paste", name) for name in HELD_OUT_PASTES})
    held = [impl for impl in IMPLEMENTATIONS if impl.benchmark_shift in held_out_shifts]
    assert held and all(impl.group == "held_out" for impl in held)
    assert ("paste", "photographs") in used and ("corruption", "impulse_noise") in used
    with pytest.raises(ValueError, match="holds out corruption 'contrast'"):
        CauseImplementation("sneaky", "contrast", LOW, "fit", (1, 5),
                            get_implementation("imagenet_c_contrast").transform, integer=True)


def test_every_cause_has_fit_and_held_out_implementations_with_unique_names():
    assert EXPLAINED_CAUSES[:len(CAUSES)] == CAUSES
    for cause in EXPLAINED_CAUSES:
        for group in GROUPS:
            assert implementations(cause, group), (cause, group)
    names = [impl.name for impl in IMPLEMENTATIONS]
    assert len(names) == len(set(names))
    for cause in ("brightness", "contrast", "saturation"):
        for group in GROUPS:
            directions = {impl.direction for impl in implementations(cause, group)}
            assert directions == {HIGH, LOW}, (cause, group, directions)


def test_saturate_runs_have_their_own_directions():
    low, high = (get_implementation(f"imagenet_c_saturate_{d}") for d in ("low", "high"))
    assert (low.direction, sorted(low.strengths)) == (LOW, [1, 2])
    assert (high.direction, sorted(high.strengths)) == (HIGH, [3, 5])


def test_sampled_strengths_stay_in_range_and_levels_are_integers():
    rng = np.random.default_rng(0)
    for impl in WITH_STRENGTH:
        low, high = sorted(impl.strengths)
        draws = [impl.sample_strength(rng) for _ in range(20)]
        assert all(low <= d <= high for d in draws)
        if impl.integer:
            assert all(d == int(d) for d in draws)
    assert math.isnan(get_implementation("ood_render").sample_strength(rng))


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match="unknown implementation 'fog'"):
        get_implementation("fog")
    with pytest.raises(ValueError, match="unknown cause 'smear'"):
        implementations("smear")
    with pytest.raises(ValueError, match="unknown group"):
        implementations(group="tuning")
    gain = get_implementation("gain_darken")
    images = _views()
    for bad in (0.9, 0.0, float("nan"), "0.3", True):
        with pytest.raises(ValueError, match="gain_darken: strength must be a number in"):
            gain.apply(images, bad)
    with pytest.raises(ValueError, match="must be an integer in \\[1, 5\\]"):
        get_implementation("imagenet_c_contrast").apply(images, 2.5)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        gain.apply(images, 0.3, seed=-1)
    with pytest.raises(ValueError, match="values must lie in"):
        gain.apply(images * 2.0, 0.3)
    with pytest.raises(ValueError, match="strengths must be two different finite numbers"):
        CauseImplementation("flat", "noise", HIGH, "fit", (1.0, 1.0), gain.transform)
    with pytest.raises(ValueError, match="unknown cause"):
        CauseImplementation("smear", "smear", HIGH, "fit", (1.0, 2.0), gain.transform)
