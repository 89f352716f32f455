import dataclasses
import json

import numpy as np
import pytest

from competency_cf.data.causes import CAUSES
from competency_cf.evaluation.calibration_report import calibration_report
from competency_cf.evaluation.metrics import auroc


@pytest.fixture(scope="module")
def report_and_inputs(small_speed, tmp_path_factory):
    domain, data, estimator = small_speed
    figure = tmp_path_factory.mktemp("figures") / "calibration.png"
    report = calibration_report(estimator, domain, data, per_cause=5, show_progress=False,
                                figure=figure)
    return report, estimator, data, figure


def test_report_figures_are_recomputable(report_and_inputs):
    report, estimator, data, figure = report_and_inputs
    test = estimator.evaluate(data.test.images)
    correct = (test.prediction == data.test.labels).numpy()
    assert report.test_accuracy == pytest.approx(correct.mean())
    above = (test.competency.numpy()[correct] >= estimator.threshold).mean()
    assert report.correct_above_threshold == pytest.approx(above)
    spatial = auroc(test.competency.numpy(), estimator.evaluate(data.ood.images).competency)
    assert report.auroc_unselected["spatial"] == pytest.approx(spatial)
    assert set(report.auroc) == set(CAUSES) == set(report.auroc_unselected)
    assert set(report.auroc_per_factor["noise"]) == {"20", "40", "60", "80", "100", "120"}
    assert figure.stat().st_size > 10_000


def test_checks_follow_the_targets_of_the_issue():
    """Made-up figures on either side of each target: gap <= 0.01, correct ID images above
    threshold >= 90 %, AUROC per cause >= 0.95."""
    from competency_cf.evaluation.calibration_report import CalibrationReport

    passing = CalibrationReport("lunar", threshold=0.9, z_star=1.0, calibration_accuracy=0.95,
                                calibration_mean_competency=0.945, test_accuracy=0.95,
                                correct_above_threshold=0.93,
                                auroc={cause: 0.97 for cause in CAUSES})

    def failing(**changes) -> str:
        checks = dataclasses.replace(passing, **changes).checks()
        return " | ".join(name for name, ok in checks.items() if not ok)

    assert len(passing.checks()) == 2 + len(CAUSES) and failing() == ""
    assert failing(calibration_mean_competency=0.93).startswith("calibration gap")  # gap 0.02
    assert failing(calibration_mean_competency=0.959) == ""                        # gap 0.009
    assert failing(correct_above_threshold=0.89).startswith("correct ID test images")
    assert failing(auroc={**passing.auroc, "noise": 0.94}).startswith("AUROC noise")


def test_report_saves_markdown_and_json(report_and_inputs, tmp_path):
    report, *_ = report_and_inputs
    report.save(tmp_path)
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert np.isclose(saved["calibration_gap"], report.calibration_gap)
    markdown = (tmp_path / "calibration.md").read_text()
    assert "| spatial |" in markdown and "AUROC vs examples" in markdown
