"""The live demo's bookkeeping: which injected segments were detected and explained."""

import numpy as np

from competency_cf.ros.live_demo import Timeline, false_alarms, summarize, write_report


def _timeline():
    timeline = Timeline()
    timeline.segments = [(0.0, 0, "nominal"), (5.0, 1, "brightness"), (10.0, 2, "nominal"),
                         (15.0, 3, "noise"), (20.0, 4, "nominal")]
    timeline.competency = [(t / 2, 1.0 if t % 20 < 10 else 0.4) for t in range(50)]
    frame = np.zeros((8, 8, 3), np.uint8)
    timeline.triggers = {
        (6, 0): {"time": 6.0, "competency": 0.4, "frame": frame, "counterfactual": frame,
                 "detail": {"method": "LNN", "competency_after": 0.97},
                 "explanation": {"cause": "brightness", "text": "The image is much brighter."}},
        (11, 0): {"time": 11.0, "competency": 0.5, "frame": frame,           # grace period
                  "explanation": {"cause": "noise", "text": "Noise."}},
        (22, 0): {"time": 22.0, "competency": 0.6, "frame": frame},          # a false alarm
    }
    return timeline


def test_summary_per_injected_segment():
    rows = summarize(_timeline(), end=25.0)
    assert [(r["cause"], r["detected"], r["cause_named"]) for r in rows] == [
        ("brightness", True, True), ("noise", False, False)]
    assert rows[0]["explained_as"] == ["brightness", "noise"]
    assert false_alarms(_timeline(), end=25.0) == 1


def test_report_files(tmp_path):
    rows = write_report(_timeline(), 25.0, tmp_path, "fixture", fps=4.0)
    report = (tmp_path / "report.md").read_text()
    assert "| 1 | brightness | 5.0-10.0 | 2 | yes | brightness, noise | yes |" in report
    assert "1 during nominal" in report
    assert (tmp_path / "timeline.png").stat().st_size > 5_000
    assert (tmp_path / "gallery.png").stat().st_size > 5_000
    assert len(rows) == 2
