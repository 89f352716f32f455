"""The robustness benchmark's bookkeeping on a few shifts of the committed speed models."""

import json

import numpy as np
import pytest

from competency_cf.evaluation.metrics import aurc
from competency_cf.evaluation.robustness import (STANDARD_DETECTORS, Shift, all_shifts, robustness)

SHIFTS = [Shift("corruption", "gaussian_noise", 5.0, "held_out"),
          Shift("corruption", "contrast", 5.0, "held_out"),
          Shift("corruption", "speckle_noise", 5.0, "tuning"),
          Shift("paste", "photographs", 0.5, "held_out"),
          Shift("paste", "shapes", 0.3, "tuning")]


@pytest.fixture(scope="module")
def report():
    return robustness("speed", per_class=2, shifts=SHIFTS, fit_per_class=4,
                      show_progress=False)


def test_every_shift_is_in_the_group_its_module_fixes():
    from competency_cf.data.corruptions import CORRUPTIONS, TUNING_CORRUPTIONS
    from competency_cf.data.pastes import PASTE_SOURCES, TUNING_PASTES

    shifts = all_shifts()
    assert len(shifts) == 5 * len(CORRUPTIONS) + 3 * len(PASTE_SOURCES)
    for shift in shifts:
        tuning = TUNING_CORRUPTIONS if shift.kind == "corruption" else TUNING_PASTES
        assert shift.group == ("tuning" if shift.name in tuning else "held_out"), shift


def test_rows_are_consistent(report):
    assert [row.shift for row in report.rows] == SHIFTS
    for row in [report.clean] + report.rows:
        assert row.images == 14  # 2 per class, 7 classes
        # A silent failure is wrong and not flagged: at most the wrong ones, at most the unflagged.
        for estimator in ("parce", "fused"):
            assert row.silent_failures[estimator] <= min(1 - row.accuracy,
                                                         1 - row.flagged[estimator]) + 1e-9
        assert set(row.auroc) == set(row.aurc) == {"parce", "fused", *STANDARD_DETECTORS}
        assert all(0.0 <= value <= 1.0 for value in row.aurc.values())
    correct, scores = report.pooled["held_out"]
    assert len(correct) == 2 * 14 and all(len(s) == 2 * 14 for s in scores.values())


def test_summaries_average_their_group_only(report):
    held = report.summary("held_out")
    rows = report.corruption_rows("held_out")
    assert held["corruption_sets"] == 2
    for estimator in ("parce", "fused"):
        assert held["silent_failures"][estimator] == pytest.approx(
            np.mean([r.silent_failures[estimator] for r in rows]))
        assert held["paste_flagged"][estimator] == pytest.approx(
            report.paste_rows("held_out")[0].flagged[estimator])
    assert report.candidate == "fused"
    assert report.summary("tuning")["corruption_sets"] == 1
    assert len(report.checks()) == 7


def test_report_files(report, tmp_path):
    report.save(tmp_path)
    saved = json.loads((tmp_path / "robustness.json").read_text())
    assert [check["met"] for check in saved["checks"]] == [met for _, _, met in report.checks()]
    assert saved["rows"][0]["shift"]["name"] == "gaussian_noise"
    markdown = (tmp_path / "robustness.md").read_text()
    assert "| held_out AUROC |" in markdown and "| photographs 50% | held_out |" in markdown
    assert "| held_out AURC pooled |" in markdown
    correct, scores = report.pooled["held_out"]
    assert saved["pooled_aurc"]["held_out"]["fused"] == pytest.approx(
        aurc(correct, scores["fused"]))
    assert (tmp_path / "robustness.png").stat().st_size > 20_000
