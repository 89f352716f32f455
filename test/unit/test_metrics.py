import numpy as np
import pytest

from competency_cf.evaluation.metrics import auroc


def test_auroc_hand_computed():
    assert auroc([3, 4], [1, 2]) == 1.0
    assert auroc([1, 2], [3, 4]) == 0.0
    # pairs: (2>1) (2<3) (4>1) (4>3) -> 3 of 4
    assert auroc([2, 4], [1, 3]) == 0.75
    assert auroc([1, 1], [1]) == 0.5


def test_auroc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    positive, negative = rng.normal(1, 1, 50), rng.normal(0, 1, 40)
    pairwise = np.mean([(p > n) + 0.5 * (p == n) for p in positive for n in negative])
    assert auroc(positive, negative) == pytest.approx(pairwise)


def test_auroc_needs_both_sets():
    with pytest.raises(ValueError):
        auroc([], [1.0])
