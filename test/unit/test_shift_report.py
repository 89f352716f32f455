import json
import math

import numpy as np
import pytest
import torch

from competency_cf.competency.shifted_set import ShiftedSet
from competency_cf.data.cause_implementations import EXPLAINED_CAUSES
from competency_cf.evaluation.shift_report import evaluate_shifted_explanations, grade_shifted
from competency_cf.explain.explanation import HIGH, LOW, sentence

# (implementation, cause, direction, group) per frame: every cause in the fit group, three in
# the held-out group.
FRAMES = ([("gain_darken", "brightness", LOW, "fit"), ("gain_brighten", "brightness", HIGH, "fit")]
          + [(name, cause, HIGH, "fit") for name, cause in
             (("ood_render", "spatial"), ("s_curve", "contrast"),
              ("blend_saturation_high", "saturation"), ("uniform_noise", "noise"),
              ("area_pixelation", "pixelation"))]
          + [("black_offset_darken", "brightness", LOW, "held_out"),
             ("imagenet_c_impulse_noise", "noise", HIGH, "held_out"),
             ("imagenet_c_impulse_noise", "noise", HIGH, "held_out"),
             ("paste_photographs", "spatial", HIGH, "held_out")])


def _shifted(images):
    names, causes, directions, groups = (np.array(column) for column in zip(*FRAMES))
    tried = {name: 3 for name in dict.fromkeys(names)}
    return ShiftedSet(images, causes, directions, names, groups, np.ones(len(names)),
                      np.zeros(len(names)), np.arange(len(names)), 0.9, tried)


def test_grading_per_group_cause_and_implementation():
    shifted = _shifted(torch.zeros((len(FRAMES), 3, 8, 8)))
    texts = [sentence(cause, direction) for _, cause, direction, _ in FRAMES]
    texts[0] = sentence("brightness", HIGH)             # inverted rationale: wrong
    texts[-3] = sentence("pixelation", HIGH)            # impulse noise called pixelation: wrong
    row = grade_shifted(texts, shifted, "None")
    assert row.accuracy["fit"]["brightness"] == 0.5 and row.accuracy["fit"]["noise"] == 1.0
    assert row.accuracy["held_out"]["noise"] == 0.5 and row.accuracy["held_out"]["spatial"] == 1
    assert math.isnan(row.accuracy["held_out"]["contrast"])
    # Averages are over the causes a group has frames of.
    assert row.average["held_out"] == pytest.approx((1.0 + 0.5 + 1.0) / 3)
    assert row.average["fit"] == pytest.approx((0.5 + 5.0) / 6)
    assert row.by_implementation["imagenet_c_impulse_noise"] == 0.5
    assert row.by_implementation["gain_darken"] == 0.0
    assert row.confusion["held_out"]["noise"] == {"noise": 1, "pixelation": 1}
    with pytest.raises(ValueError, match="explanations for"):
        grade_shifted(texts[:-1], shifted, "None")


def test_report_has_both_groups_and_writes_its_files(setup, descriptor_explainer, tmp_path):
    estimator, calibration, batch = setup
    images = torch.cat([batch, batch.flip(-1)])[:len(FRAMES)]
    report = evaluate_shifted_explanations(descriptor_explainer, estimator, "fixture",
                                           _shifted(images), calibration, seed=0,
                                           per_implementation=3,
                                           counterfactuals=("None", "Reco"),
                                           show_progress=False)
    assert [row.counterfactual for row in report.rows] == ["None", "Reco"]
    assert report.frames("fit") == 7 and report.frames("held_out") == 4
    markdown = report.to_markdown()
    assert "## Fit implementations" in markdown and "## Held-out implementations" in markdown
    lines = markdown.splitlines()
    for name in ("None", "Reco"):  # one row in each group's table
        assert sum(line.startswith(f"| {name} |") for line in lines) == 2
    assert "| imagenet_c_impulse_noise | noise | high | held_out | 1 to 5 | 2 / 3 |" in markdown
    assert "| ood_render | spatial | high | fit | - | 1 / 3 |" in markdown
    report.save(tmp_path)
    saved = json.loads((tmp_path / "explanations_shift.json").read_text())
    assert saved["rows"][0]["accuracy"]["held_out"]["contrast"] is None
    assert set(saved["rows"][1]["accuracy"]) == {"fit", "held_out"}
    assert (tmp_path / "explanations_shift.md").read_text() == markdown
    assert (tmp_path / "explanations_shift.png").stat().st_size > 5_000
    assert set(EXPLAINED_CAUSES) == set(saved["rows"][0]["accuracy"]["fit"])


def test_outside_the_label_set_unsure_is_the_right_answer():
    from competency_cf.data.cause_implementations import OUTSIDE
    from competency_cf.explain.explanation import unsure_sentence

    frames = [("colour_cast", OUTSIDE, HIGH, OUTSIDE)] * 3 + [("gain_darken", "brightness", LOW,
                                                              "fit")]
    names, causes, directions, groups = (np.array(column) for column in zip(*frames))
    shifted = ShiftedSet(torch.zeros((4, 3, 8, 8)), causes, directions, names, groups,
                         np.ones(4), np.zeros(4), np.arange(4), 0.9,
                         {"colour_cast": 3, "gain_darken": 1})
    unsure = unsure_sentence("saturation", 0.5, "brightness", 0.3)
    texts = [unsure, unsure, sentence("saturation", HIGH), unsure]
    row = grade_shifted(texts, shifted, "None")
    assert row.by_implementation["colour_cast"] == pytest.approx(2 / 3)
    assert row.unsure == {"fit": 1.0, OUTSIDE: pytest.approx(2 / 3)}
    assert row.accuracy["fit"]["brightness"] == 0.0  # unsure about a known cause is not right
    assert row.confusion[OUTSIDE][OUTSIDE] == {"unsure": 2, "saturation": 1}
