"""The field causes' formulas, and the descriptors each one moves on real renders."""

import math

import numpy as np
import pytest
import torch

from competency_cf.data.cause_implementations import get_implementation
from competency_cf.data.dataset import from_uint8
from competency_cf.data.domains import get_domain
from competency_cf.data.field_causes import (_box_weights, _disc_kernel, _line_kernel,
                                             bloom_spot, box_blur, corner_finger,
                                             overexposed_patch, uniform_haze)
from competency_cf.data.synthesize import render_image
from competency_cf.explain.descriptors import DESCRIPTORS, describe, spatial_concentration


@pytest.fixture(scope="module")
def renders():
    def views(name):
        spec = get_domain(name)
        return from_uint8(np.stack([render_image(spec, i % len(spec.class_names), 4_200_000 + i)
                                    for i in range(8)]))
    return {name: views(name) for name in ("lunar", "speed")}


def _generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_kernels_keep_the_mean_and_have_the_asked_size():
    assert torch.allclose(_box_weights(1.0), torch.ones(1, dtype=torch.float64))
    assert float(_box_weights(4.0).sum()) == pytest.approx(4.0)
    assert float(_disc_kernel(3.0).sum()) == pytest.approx(math.pi * 9.0, rel=0.02)
    line = _line_kernel(9.0, 0.0)
    assert (line.sum(dim=1) > 0).sum() == 1  # horizontal: one row
    assert int((line.sum(dim=0) > 1e-6).sum()) in (10, 11)
    flat = torch.full((1, 3, 16, 16), 0.4)
    assert torch.allclose(box_blur(flat, 5.0), flat)


def test_haze_moves_every_pixel_towards_one_airlight():
    images = torch.rand((2, 3, 16, 16), generator=_generator())
    assert torch.allclose(uniform_haze(images, 0.0, _generator()), images)
    full = uniform_haze(images, 1.0, _generator())
    assert torch.allclose(full, full[:, :, :1, :1].expand_as(full))  # one colour per image
    assert float(full.amin()) >= 0.65 * 0.78 - 1e-6


def test_glare_only_adds_light_and_occlusion_covers_its_share():
    images = torch.rand((3, 3, 32, 32), generator=_generator())
    assert (bloom_spot(images, 1.5, _generator()) >= images - 1e-6).all()
    assert (overexposed_patch(images, 2.0, _generator()) >= images - 1e-6).all()
    grey = torch.full((4, 3, 64, 64), 0.9)
    covered = (corner_finger(grey, 0.25, _generator()) < 0.6).flatten(1).float().mean(1)
    assert torch.allclose(covered, torch.full((4,), 0.25), atol=0.06)


# Implementation, domain, descriptor, sign: what each field cause moves on renders. Glass blur is
# missing on purpose: it shuffles pixels after blurring, which reads as fine detail, and occlusion
# by translucent dirt or on lunar views (a dark sky already fills the dark-cell share) moves no
# descriptor of its own: the explainer reads those through a counterfactual's difference.
MOVES = [(name, domain, "detail", -1) for domain in ("lunar", "speed")
         for name in ("box_blur", "disc_defocus", "line_motion_blur", "imagenet_c_gaussian_blur",
                      "imagenet_c_defocus_blur", "imagenet_c_motion_blur",
                      "imagenet_c_zoom_blur")]
MOVES += [(name, domain, "veil", 1) for domain in ("lunar", "speed")
          for name in ("uniform_haze", "graded_haze", "scattering_haze", "imagenet_c_fog")]
MOVES += [(name, "speed", "dark_cells", 1) for name in ("dark_blobs", "corner_finger")]
MOVES += [(name, domain, "hot_spot", 1) for domain in ("lunar", "speed")
          for name in ("bloom_spot", "sun_flare", "overexposed_patch", "light_streak")]


@pytest.mark.parametrize("name, domain, descriptor, sign", MOVES,
                         ids=[f"{m[0]}-{m[1]}" for m in MOVES])
def test_each_field_cause_moves_its_descriptor_by_a_clear_margin(
        renders, name, domain, descriptor, sign):
    impl = get_implementation(name)
    images = renders[domain]
    strongest = impl.strengths[1]
    column = DESCRIPTORS.index(descriptor)
    before = describe(images)[:, column]
    after = describe(impl.apply(images, strongest, seed=1, domain=domain))[:, column]
    # A clear margin: the mean move exceeds half the spread of the descriptor over clean views.
    spread = float(before.std()) + 0.01
    assert sign * float((after - before).mean()) > 0.5 * spread, (name, domain, before, after)


def test_placed_causes_concentrate_their_difference_and_global_ones_spread_it(renders):
    images = renders["speed"]

    def concentration(name, strength):
        degraded = get_implementation(name).apply(images, strength, seed=1, domain="speed")
        return float(spatial_concentration(degraded, images).mean())

    placed = [concentration("dark_blobs", 0.2), concentration("bloom_spot", 1.0)]
    spread = [concentration("uniform_haze", 0.5), concentration("disc_defocus", 3.0)]
    assert min(placed) > max(spread), (placed, spread)
