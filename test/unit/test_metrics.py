import numpy as np
import pytest

from competency_cf.evaluation.metrics import (aurc, auroc, error_detection_auroc, excess_aurc,
                                              flagged_rate, risk_coverage_curve,
                                              silent_failure_rate)

# Five predictions, most confident first: right, wrong, right, right, wrong.
CORRECT = np.array([True, False, True, True, False])
CONFIDENCE = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
# A tie: the two images at 0.5 are one right and one wrong.
TIED_CORRECT = np.array([True, False, True, False])
TIED_CONFIDENCE = np.array([0.9, 0.5, 0.5, 0.1])


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


def test_silent_failure_and_flagged_rates_hand_computed():
    # threshold 0.6: accepted are 0.9, 0.8, 0.7, 0.6 (>= counts as accepted); of these only 0.8
    # is wrong -> 1 silent failure among all 5 images. Flagged: only 0.5 -> 1 of 5.
    assert silent_failure_rate(CORRECT, CONFIDENCE, 0.6) == pytest.approx(0.2)
    assert flagged_rate(CONFIDENCE, 0.6) == pytest.approx(0.2)
    # threshold 0.0 accepts everything: both wrong ones are silent; nothing is flagged.
    assert silent_failure_rate(CORRECT, CONFIDENCE, 0.0) == pytest.approx(0.4)
    assert flagged_rate(CONFIDENCE, 0.0) == 0.0
    # threshold above every confidence: no silent failure, everything flagged.
    assert silent_failure_rate(CORRECT, CONFIDENCE, 1.0) == 0.0
    assert flagged_rate(CONFIDENCE, 1.0) == 1.0
    assert silent_failure_rate(CORRECT.astype(int), CONFIDENCE, 0.6) == pytest.approx(0.2)


def test_error_detection_auroc_hand_computed():
    # right: 0.9 0.7 0.6, wrong: 0.8 0.5. Pairs right > wrong: 0.9>0.8, 0.9>0.5, 0.7>0.5,
    # 0.6>0.5; not: 0.7<0.8, 0.6<0.8 -> 4 of 6.
    assert error_detection_auroc(CORRECT, CONFIDENCE) == pytest.approx(4 / 6)
    # Ties count half: right 0.9 0.5, wrong 0.5 0.1 -> 1 + 1 + 0.5 + 1 = 3.5 of 4.
    assert error_detection_auroc(TIED_CORRECT, TIED_CONFIDENCE) == pytest.approx(0.875)


def test_error_detection_auroc_is_nan_without_both_outcomes():
    assert np.isnan(error_detection_auroc([True, True], [0.2, 0.3]))
    assert np.isnan(error_detection_auroc([False, False], [0.2, 0.3]))


def test_risk_coverage_curve_and_aurc_hand_computed():
    # Accepted in order 0.9 (right), 0.8 (wrong), 0.7, 0.6 (right), 0.5 (wrong): errors so far
    # 0, 1, 1, 1, 2 -> risks 0/1, 1/2, 1/3, 1/4, 2/5 at coverages 1/5 .. 5/5.
    coverage, risk = risk_coverage_curve(CORRECT, CONFIDENCE)
    np.testing.assert_allclose(coverage, [0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_allclose(risk, [0, 1 / 2, 1 / 3, 1 / 4, 2 / 5])
    # AURC = (0 + 1/2 + 1/3 + 1/4 + 2/5) / 5 = (89/60) / 5 = 89/300.
    assert aurc(CORRECT, CONFIDENCE) == pytest.approx(89 / 300)
    # The oracle accepts the 3 right ones first: risks 0, 0, 0, 1/4, 2/5 -> (39/60) / 5.
    assert excess_aurc(CORRECT, CONFIDENCE) == pytest.approx(89 / 300 - 39 / 300)
    # Shuffling the input changes nothing.
    order = [3, 0, 4, 2, 1]
    assert aurc(CORRECT[order], CONFIDENCE[order]) == pytest.approx(89 / 300)


def test_risk_coverage_ties_count_as_the_average_over_orders():
    # 0.9 right; the tied pair at 0.5 has 1 error in 2, so each accepted one counts 1/2; then
    # 0.1 wrong. Errors so far 0, 0.5, 1, 2 -> risks 0, 1/4, 1/3, 1/2.
    coverage, risk = risk_coverage_curve(TIED_CORRECT, TIED_CONFIDENCE)
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0, 1 / 4, 1 / 3, 1 / 2])
    # The two orders of the tie give risks (0, 0, 1/3, 1/2) and (0, 1/2, 1/3, 1/2): their mean
    # AURC is (10/12 + 16/12) / 2 / 4 = 13/48, the same as above.
    assert aurc(TIED_CORRECT, TIED_CONFIDENCE) == pytest.approx(13 / 48)
    swapped = [0, 2, 1, 3]
    assert aurc(TIED_CORRECT[swapped], TIED_CONFIDENCE[swapped]) == pytest.approx(13 / 48)


def test_constant_confidence_has_the_error_rate_at_every_coverage():
    _, risk = risk_coverage_curve(CORRECT, np.full(5, 0.3))
    np.testing.assert_allclose(risk, 0.4)
    assert aurc(CORRECT, np.full(5, 0.3)) == pytest.approx(0.4)


def test_perfect_ranking_has_zero_excess_aurc():
    confidence = np.where(CORRECT, 1.0, 0.0)
    assert excess_aurc(CORRECT, confidence) == pytest.approx(0.0)
    assert aurc(np.ones(3, bool), [0.1, 0.2, 0.3]) == 0.0


@pytest.mark.parametrize("correct, confidence", [
    ([True, False], [0.5]),                     # lengths differ
    ([], []),                                   # nothing to measure
    ([True, False], [0.5, float("nan")]),       # NaN confidence
    ([[True, False]], [[0.5, 0.4]]),            # not 1-d
    ([2, 0], [0.5, 0.4]),                       # not booleans
])
def test_reliability_metrics_reject_bad_input(correct, confidence):
    for metric in (aurc, error_detection_auroc, risk_coverage_curve):
        with pytest.raises(ValueError):
            metric(correct, confidence)
    with pytest.raises(ValueError):
        silent_failure_rate(correct, confidence, 0.5)
