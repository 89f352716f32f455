import numpy as np
import pytest
import torch

from competency_cf.competency.examples import ExampleSet
from competency_cf.data.causes import CAUSES
from competency_cf.evaluation.explanation_report import (evaluate_explanations,
                                                         grade_explanations)
from competency_cf.explain.explanation import HIGH, LOW, sentence


def _examples(images, threshold):
    causes = np.array([CAUSES[i % 6] for i in range(len(images))])
    factors = np.array([2.0 if i % 12 < 6 else 0.5 for i in range(len(images))])
    return ExampleSet(images, causes, factors, np.arange(len(images)),
                      np.zeros(len(images), int), np.ones(len(images)), np.zeros(len(images)),
                      ("a", "b", "c"), threshold)


def test_grading_counts_causes_and_inverted_directions():
    examples = _examples(torch.zeros((12, 3, 8, 8)), 0.9)
    texts = [sentence(c, HIGH) for c in CAUSES] + [sentence(c, HIGH) for c in CAUSES]
    accuracy, confusion = grade_explanations(texts, examples)
    # Rows 6-11 have factor 0.5: "too bright / more contrast / over-saturated" are inverted.
    assert accuracy["brightness"] == 0.5 and accuracy["contrast"] == 0.5
    assert accuracy["noise"] == 1.0 and accuracy["spatial"] == 1.0
    assert confusion["brightness"] == {"brightness": 2}
    texts[1] = sentence("brightness", LOW)
    assert grade_explanations(texts, examples)[0]["brightness"] == 0.0


def test_report_rows_files_and_limit(setup, descriptor_explainer, tmp_path):
    estimator, calibration, batch = setup
    examples = _examples(torch.cat([batch, batch.flip(-1), batch[:2]]), estimator.threshold)
    report = evaluate_explanations(descriptor_explainer, estimator, "fixture", examples,
                                   calibration, counterfactuals=("None", "Reco", "LNN"),
                                   batch_size=5, limit_per_cause=2, show_progress=False)
    assert report.images == 12
    assert [row.counterfactual for row in report.rows] == ["None", "Reco", "LNN"]
    for row in report.rows:
        assert row.average == pytest.approx(np.mean(list(row.accuracy_by_cause.values())))
        assert sum(sum(said.values()) for said in row.confusion.values()) == 12
        assert row.ms_per_explanation > 0
    report.save(tmp_path)
    assert "| None |" in (tmp_path / "explanations.md").read_text()
    assert (tmp_path / "explanations.json").is_file()
    assert (tmp_path / "explanations.png").stat().st_size > 5_000
