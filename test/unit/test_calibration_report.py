import dataclasses
import json

import numpy as np
import pytest

from competency_cf.competency.parce import load_estimator
from competency_cf.data.causes import CAUSES
from competency_cf.data.domains import DOMAINS
from competency_cf.data.synthesize import render_domain
from competency_cf.evaluation.calibration_report import calibration_report
from competency_cf.evaluation.metrics import auroc
from competency_cf.resources import models_dir


@pytest.fixture(scope="module")
def report_and_inputs(tmp_path_factory):
    domain = dataclasses.replace(DOMAINS["speed"], images_per_class=30, ood_images=20)
    data = render_domain(domain, cache_dir=tmp_path_factory.mktemp("cache"), show_progress=False)
    estimator = load_estimator(models_dir("speed"))
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


def test_checks_follow_the_targets(report_and_inputs):
    report, *_ = report_and_inputs
    checks = report.checks()
    assert len(checks) == 2 + len(CAUSES)
    gap_check = next(name for name in checks if name.startswith("calibration gap"))
    assert checks[gap_check] == (report.calibration_gap <= 0.01)
    worse = dataclasses.replace(report, correct_above_threshold=0.5)
    assert not all(worse.checks().values())


def test_report_saves_markdown_and_json(report_and_inputs, tmp_path):
    report, *_ = report_and_inputs
    report.save(tmp_path)
    saved = json.loads((tmp_path / "calibration.json").read_text())
    assert np.isclose(saved["calibration_gap"], report.calibration_gap)
    markdown = (tmp_path / "calibration.md").read_text()
    assert "| spatial |" in markdown and "AUROC vs examples" in markdown
