"""Leave one way out on fixture frames whose ways are known."""

import json

import numpy as np
import pytest

from competency_cf.competency.shifted_set import ShiftedSet
from competency_cf.evaluation.explainer_generality import (MODES, cause_means,
                                                           leave_one_way_out, write_report)
from competency_cf.explain.descriptor_explainer import LABELS, DescriptorFeatures
from competency_cf.explain.training_set import (GENERATOR_WAY, DecisionFrames,
                                                TrainingFrames)
from explainer_frames import blurred, field_set, smooth_images

# Fixture frames per label: 24 each (see field_set). Blur is made by one formula but filed
# under two fit-group ways; haze under one.
WAYS = {"blur": ("box_blur", "disc_defocus"), "haze": ("uniform_haze",)}


def _ways(labels):
    ways = []
    for row, label in enumerate(labels.tolist()):
        cause = LABELS[label][0]
        names = WAYS.get(cause, (GENERATOR_WAY,))
        ways.append(names[row % len(names)])
    return ways


def _training(seed):
    images, labels, counterfactuals = field_set(seed)
    return TrainingFrames(images, [LABELS[i] for i in labels.tolist()], _ways(labels)), \
        [counterfactuals]


def _decision(seed):
    images, labels, counterfactuals = field_set(seed)
    count = len(images)
    frames = ShiftedSet(images, np.array([LABELS[i][0] for i in labels.tolist()]),
                        np.array([LABELS[i][1] for i in labels.tolist()]),
                        np.array(_ways(labels)), np.array(["fit"] * count),
                        np.full(count, np.nan), np.zeros(count), np.arange(count), 0.5)
    return DecisionFrames(frames, labels, [counterfactuals, blurred(images)])


@pytest.fixture(scope="module")
def scores():
    calibration = smooth_images(64, seed=0)
    features = DescriptorFeatures().fit(calibration, blurred(calibration))
    training, counterfactual_sets = _training(seed=1)
    return leave_one_way_out(features, training, counterfactual_sets, _decision(seed=2),
                             causes=("blur", "haze"), show_progress=False)


def test_a_way_covered_by_another_is_still_named_and_a_lone_way_is_not(scores):
    by_way = {score.way: score for score in scores}
    # Fit-group ways without decision frames (line motion blur, graded haze...) are skipped.
    assert set(by_way) == {"box_blur", "disc_defocus", "uniform_haze"}
    for way in ("box_blur", "disc_defocus"):
        assert by_way[way].frames == 12
        assert min(by_way[way].left_out.values()) >= 0.75
    haze = by_way["uniform_haze"]
    assert haze.frames == 24 and haze.cause == "haze"
    # Without its only way, haze has no training frame: the explainer cannot name it.
    assert max(haze.left_out.values()) == 0.0
    assert min(haze.fitted.values()) >= 0.75


def test_cause_means_and_the_report(scores, tmp_path):
    means = cause_means(scores)
    assert set(means) == {"blur", "haze"} and set(means["blur"]) == set(MODES)
    blur = [s for s in scores if s.cause == "blur"]
    assert means["blur"]["None"] == pytest.approx(np.mean([s.left_out["None"] for s in blur]))
    markdown, data = write_report(scores, "fixture", tmp_path)
    text = markdown.read_text()
    assert "| haze | uniform_haze | 24 | 0 / 0 / 0 |" in text
    payload = json.loads(data.read_text())
    assert [row["way"] for row in payload["ways"]] == [s.way for s in scores]
    assert payload["average"]["None"] == pytest.approx(
        (means["blur"]["None"] + means["haze"]["None"]) / 2)


def test_refuses_unknown_causes_and_missing_counterfactuals():
    calibration = smooth_images(16, seed=0)
    features = DescriptorFeatures().fit(calibration, blurred(calibration))
    training, counterfactual_sets = _training(seed=1)
    decision = _decision(seed=2)
    with pytest.raises(ValueError, match="unknown causes"):
        leave_one_way_out(features, training, counterfactual_sets, decision, causes=("rain",))
    decision.counterfactual_sets = decision.counterfactual_sets[:1]
    with pytest.raises(ValueError, match="counterfactual sets"):
        leave_one_way_out(features, training, counterfactual_sets, decision)


def test_training_frames_count_and_index_their_labels():
    training, _ = _training(seed=1)
    counts = training.counts()
    assert counts["brightness"] == 48 and counts["haze"] == 24 and counts["spatial"] == 24
    assert sum(counts.values()) == len(training.images)
    assert [LABELS[i] for i in training.label_indices().tolist()] == training.labels
