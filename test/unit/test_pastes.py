import numpy as np
import pytest
import torch

from competency_cf.data.domains import get_domain
from competency_cf.data.pastes import (AREA_FRACTION_RANGE, HELD_OUT_PASTES, OTHER_DOMAIN,
                                       PASTE_SOURCES, PHOTOGRAPHS, TUNING_PASTES,
                                       load_photograph, paste_objects,
                                       paste_objects_with_masks)
from competency_cf.data.synthesize import render_sample

DOMAIN_NAMES = ("lunar", "speed")
# Rectangular objects (renders, photographs) come within half a row of the requested area.
AREA_TOLERANCE = 0.01


@pytest.fixture(scope="module")
def views():
    return {name: render_sample(get_domain(name), per_class=1).images[:4]
            for name in DOMAIN_NAMES}


def test_groups_are_disjoint_and_cover_the_sources():
    assert TUNING_PASTES == ("shapes",)
    assert set(HELD_OUT_PASTES) == {"other_domain", "photographs"}
    assert not set(TUNING_PASTES) & set(HELD_OUT_PASTES)
    assert set(TUNING_PASTES) | set(HELD_OUT_PASTES) == set(PASTE_SOURCES)
    assert OTHER_DOMAIN == {"lunar": "speed", "speed": "lunar"}


@pytest.mark.parametrize("domain", DOMAIN_NAMES)
@pytest.mark.parametrize("source", PASTE_SOURCES)
@pytest.mark.parametrize("area_fraction", AREA_FRACTION_RANGE + (0.3,))
def test_object_covers_the_requested_area_and_nothing_else_changes(views, source, domain,
                                                                   area_fraction):
    images = views[domain]
    pasted, masks = paste_objects_with_masks(images, source, area_fraction, seed=3,
                                             domain=domain)
    assert pasted.shape == images.shape and pasted.dtype == torch.float32
    assert pasted.min() >= 0.0 and pasted.max() <= 1.0
    assert masks.shape == (len(images), 64, 64) and masks.dtype == torch.bool
    covered = masks.float().mean(dim=(1, 2))
    assert torch.allclose(covered, torch.full_like(covered, area_fraction),
                          atol=AREA_TOLERANCE), covered
    if source == "shapes":
        assert (masks.sum(dim=(1, 2)) == round(area_fraction * 64 * 64)).all()
    outside = ~masks[:, None].expand_as(images)
    assert torch.equal(pasted[outside], images[outside])
    for image, original, mask in zip(pasted, images, masks):
        assert (image - original).abs()[:, mask].mean() > 0.02


@pytest.mark.parametrize("source", PASTE_SOURCES)
def test_same_seed_same_paste_and_other_seeds_differ(views, source):
    images = views["speed"]
    first, first_masks = paste_objects_with_masks(images, source, 0.25, seed=5, domain="speed")
    again, again_masks = paste_objects_with_masks(images, source, 0.25, seed=5, domain="speed")
    assert torch.equal(first, again) and torch.equal(first_masks, again_masks)
    other = paste_objects(images, source, 0.25, seed=6, domain="speed")
    assert not torch.equal(first, other)
    assert torch.equal(paste_objects(images, source, 0.25, seed=5, domain="speed"), first)


def test_domain_may_be_given_as_a_domain_object(views):
    by_name = paste_objects(views["lunar"], "other_domain", 0.2, seed=1, domain="lunar")
    by_object = paste_objects(views["lunar"], "other_domain", 0.2, seed=1,
                              domain=get_domain("lunar"))
    assert torch.equal(by_name, by_object)


def test_other_domain_objects_come_from_the_other_domain(views):
    # With one seed both batches get the same placements; the pasted pixels differ because
    # lunar views get sign renders and sign views get terrain renders.
    into_lunar, lunar_masks = paste_objects_with_masks(views["lunar"], "other_domain", 0.4,
                                                       seed=2, domain="lunar")
    into_speed, speed_masks = paste_objects_with_masks(views["speed"], "other_domain", 0.4,
                                                       seed=2, domain="speed")
    assert torch.equal(lunar_masks, speed_masks)
    mask = lunar_masks[:, None].expand_as(into_lunar)
    assert not torch.equal(into_lunar[mask], into_speed[mask])


@pytest.mark.parametrize("name", PHOTOGRAPHS)
def test_every_photograph_ships_with_the_installed_wheel(name):
    photo = load_photograph(name)
    assert photo.ndim == 3 and photo.shape[2] == 3 and min(photo.shape[:2]) >= 256
    assert photo.dtype == np.float32 and 0.0 <= photo.min() and photo.max() <= 1.0


def test_errors_name_the_value_and_what_was_expected(views):
    images = views["lunar"]
    with pytest.raises(ValueError, match="unknown paste source 'cats'; expected one of "
                                         "shapes, other_domain, photographs"):
        paste_objects(images, "cats", 0.3)
    for fraction in (0.1, 0.6, "0.3", True, None):
        with pytest.raises(ValueError, match=r"area_fraction must be a number in \[0\.15, "
                                             r"0\.5\].*got " + repr(fraction)):
            paste_objects(images, "shapes", fraction)
    with pytest.raises(ValueError, match="needs domain="):
        paste_objects(images, "other_domain", 0.3)
    with pytest.raises(ValueError, match="unknown domain 'mars'"):
        paste_objects(images, "other_domain", 0.3, domain="mars")
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -2"):
        paste_objects(images, "shapes", 0.3, seed=-2)
    with pytest.raises(ValueError, match=r"expected shape \(N, 3, H, W\)"):
        paste_objects(images[0], "shapes", 0.3)
    with pytest.raises(ValueError, match="unknown photograph 'moon.png'"):
        load_photograph("moon.png")
