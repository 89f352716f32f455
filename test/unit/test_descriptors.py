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
    assert busiest_region(images[1:], changed[1:]) == ["upper left"]
    changed[1] = 0.5
    changed[1, :, 28:36, 28:36] = 1.0
    assert busiest_region(images[1:], changed[1:]) == ["centre"]
