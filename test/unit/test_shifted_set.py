import numpy as np
import pytest
import torch

from competency_cf.competency.shifted_set import (ShiftedSet, competent_frames, merge_shifted,
                                                  shift_frames)
from competency_cf.data.cause_implementations import CauseImplementation, get_implementation
from competency_cf.data.dataset import ImageSet
from competency_cf.explain.explanation import HIGH
from tiny_data import class_images

# Views that stay as they were: nothing may be kept from them.
UNCHANGED = CauseImplementation("unchanged", "noise", HIGH, "fit", (0.1, 0.2),
                                lambda images, strength, seed, domain: images.clone())
SOME = tuple(get_implementation(name) for name in
             ("gain_darken", "uniform_noise", "area_pixelation", "paste_photographs"))


@pytest.fixture
def clean():
    images, labels = class_images(60, seed=11)
    return ImageSet(images, labels)


def _shift(estimator, clean, seed=0, implementations=SOME + (UNCHANGED,), per=4):
    return shift_frames(estimator, clean, "lunar", per, seed=seed,
                        implementations=implementations, show_progress=False)


def test_keeps_only_frames_below_the_threshold_from_competent_sources(setup, clean):
    estimator = setup[0]
    shifted = _shift(estimator, clean)
    assert len(shifted) > 0 and shifted.threshold == estimator.threshold
    assert (shifted.competency < estimator.threshold).all()
    rescored = estimator.evaluate(shifted.images).competency.numpy()
    np.testing.assert_allclose(rescored, shifted.competency, atol=1e-5)
    assert set(shifted.source_index) <= set(competent_frames(estimator, clean))
    kept = shifted.kept()
    assert kept["unchanged"] == 0 and shifted.tried["unchanged"] == \
        len(competent_frames(estimator, clean))
    for impl in SOME:
        rows = shifted.implementations == impl.name
        assert kept[impl.name] <= 4 and shifted.tried[impl.name] >= kept[impl.name]
        assert set(shifted.causes[rows]) <= {impl.cause}
        assert set(shifted.directions[rows]) <= {impl.direction}
        assert set(shifted.groups[rows]) <= {impl.group}
        low, high = sorted(impl.strengths)
        assert ((shifted.strengths[rows] >= low) & (shifted.strengths[rows] <= high)).all()
        # Each clean frame is degraded at most once per implementation.
        assert len(set(shifted.source_index[rows])) == int(rows.sum())


def test_same_seed_same_frames_other_seed_other_frames(setup, clean):
    estimator = setup[0]
    first, again = _shift(estimator, clean, seed=3), _shift(estimator, clean, seed=3)
    assert torch.equal(first.images, again.images)
    assert np.array_equal(first.strengths, again.strengths)
    assert first.tried == again.tried
    other = _shift(estimator, clean, seed=4)
    assert not np.array_equal(first.strengths[:len(other)], other.strengths[:len(first)])


def test_an_implementation_keeps_its_frames_whatever_else_is_shifted(setup, clean):
    estimator = setup[0]
    alone = _shift(estimator, clean, implementations=(SOME[1],))
    together = _shift(estimator, clean)
    rows = together.implementations == SOME[1].name
    assert torch.equal(alone.images, together.images[torch.from_numpy(rows)])


def test_bad_arguments_are_refused(setup, clean):
    with pytest.raises(ValueError, match="per_implementation must be a positive integer"):
        _shift(setup[0], clean, per=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        _shift(setup[0], clean, seed=-2)


def _tiny_set(names, threshold=0.9):
    count = len(names)
    return ShiftedSet(torch.rand((count, 3, 8, 8)), np.full(count, "noise"),
                      np.full(count, HIGH), np.array(names), np.full(count, "fit"),
                      np.ones(count), np.zeros(count), np.arange(count), threshold,
                      {name: 3 for name in names})


def test_merged_sets_keep_their_frames_in_order_and_refuse_other_thresholds():
    first, second = _tiny_set(["a", "a"]), _tiny_set(["b"])
    merged = merge_shifted([first, second])
    assert len(merged) == 3 and list(merged.implementations) == ["a", "a", "b"]
    assert torch.equal(merged.images, torch.cat([first.images, second.images]))
    assert merged.tried == {"a": 3, "b": 3} and merged.threshold == 0.9
    with pytest.raises(ValueError, match="different thresholds"):
        merge_shifted([first, _tiny_set(["c"], threshold=0.8)])
    with pytest.raises(ValueError, match="nothing to merge"):
        merge_shifted([])
