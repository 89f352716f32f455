"""`competency-cf replay`: a short drive of the sim camera's frames, written to a bag by rosbags'
own writer, replays to the triggers and causes that the perception node's scoring, trigger,
the counterfactual node's fast path and the descriptor explainer give on the same frames; a
truncated bag replays up to the damage; two models are compared side by side."""

import json
import shutil

import pytest
import torch

from competency_cf.competency.trigger import LowCompetencyTrigger
from competency_cf.evaluation.bag_stream import BagStream
from competency_cf.evaluation.replay import ReplaySettings, Replayer, replay_bag
from competency_cf.resources import models_dir
from replay_drives import RATE_HZ, sim_frames, write_drive


@pytest.fixture(scope="module")
def frames():
    return sim_frames()


def live_reference(frames, settings):
    """What the graph's nodes compute on these frames, one frame per scoring round as the
    perception node takes a single camera: competency, trigger, fast counterfactual, cause."""
    from competency_cf.competency.parce import load_estimator
    from competency_cf.counterfactual.methods import (LNN_BANK_FILE, LatentNearestNeighbor,
                                                      build_method)
    from competency_cf.explain.factory import load_descriptor_explainer
    from competency_cf.ros.image_codec import rgb_to_tensor

    models = models_dir("lunar")
    estimator = load_estimator(models, kind=settings.estimator)
    size = int(estimator.autoencoder.config["image_size"])
    trigger = LowCompetencyTrigger(estimator.threshold, settings.hysteresis, settings.cooldown_s)
    lnn = LatentNearestNeighbor(estimator).load_bank(models / LNN_BANK_FILE)
    reco = build_method("Reco", estimator)
    explainer = load_descriptor_explainer(models)
    competency, triggers = [], []
    for index, _, _, _, array in frames:
        image = rgb_to_tensor(array, size)
        with torch.no_grad():
            value = float(estimator.evaluate(image).competency[0])
        competency.append(value)
        if trigger.update(value, 2.0 + index / RATE_HZ):
            best = max((lnn.generate(image), reco.generate(image)),
                       key=lambda r: (bool(r.success[0]), float(r.competency[0])))
            array8 = (best.images[0].clamp(0, 1) * 255).round().to(torch.uint8)
            paired = rgb_to_tensor(array8.permute(1, 2, 0).numpy(), size)
            cause = explainer.explain(image, paired, best.method)[0].cause
            triggers.append((index, best.method, cause))
    return competency, triggers


def test_a_rosbags_drive_replays_to_the_live_nodes_triggers_and_causes(tmp_path, frames):
    bag = write_drive(tmp_path / "drive", frames)
    settings = ReplaySettings(lgd_iterations=20, batch_size=8)
    [result] = replay_bag(bag, [models_dir("lunar")], tmp_path / "replay", settings)
    competency, triggers = live_reference(frames, settings)
    assert len(result.frames) == len(frames) == 35  # every frame, none dropped
    assert [f.competency for f in result.frames] == pytest.approx(competency, abs=1e-4)
    assert triggers, "the darkening must trigger"
    replayed = [(round((t.stamp[0] + t.stamp[1] * 1e-9 - 2.0) * RATE_HZ), t.methods[0],
                 t.causes[0]) for t in result.triggers]
    assert replayed == triggers
    assert all(t.methods[-1] == "LGD" for t in result.triggers), result.triggers
    assert "brightness" in {t.cause for t in result.triggers}, result.triggers
    # The new recording: typed outputs under the camera's namespace, the ground truth carried
    stream = BagStream(result.bag, select=lambda topic, kind: True)
    topics = {}
    for topic, _, message in stream:
        topics.setdefault(topic, []).append(message)
    assert len(topics["/rover1/competency"]) == len(frames)
    assert len(topics["/rover1/scenario_event"]) == len(frames)
    details = topics["/rover1/explanation/detail"]
    assert [(d.method, d.final) for d in details[:2]] == [(triggers[0][1], False), ("LGD", True)]
    assert details[0].header.frame_id == "mast"
    assert (details[0].header.stamp.sec, details[0].header.stamp.nanosec) == \
        result.triggers[0].stamp
    assert len(topics["/rover1/low_competency/image"]) == len(triggers)
    report = (tmp_path / "replay" / "report" / "report.md").read_text()
    assert "brightness" in report and (tmp_path / "replay" / "replay.md").is_file()
    # Seeded and without a clock: a second replay gives the same
    again = Replayer(models_dir("lunar"), settings).replay(bag, tmp_path / "again")
    assert [(t.stamp, t.methods, t.causes) for t in again.triggers] == \
        [(t.stamp, t.methods, t.causes) for t in result.triggers]


def test_a_truncated_bag_replays_up_to_the_damage(tmp_path, frames):
    bag = write_drive(tmp_path / "drive", frames)
    [mcap] = list(bag.glob("*.mcap"))
    data = mcap.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: len(data) * 2 // 3])
    settings = ReplaySettings(lgd_iterations=0)
    [result] = replay_bag(cut, [models_dir("lunar")], tmp_path / "replay", settings,
                          report=False)
    assert result.damage and "cut short" in result.damage
    assert 0 < len(result.frames) < len(frames)
    assert "Damaged recording" in (tmp_path / "replay" / "replay.md").read_text()
    from competency_cf.cli import main

    assert main(["replay", str(cut), "--models", str(models_dir("lunar")), "--out",
                 str(tmp_path / "cli"), "--lgd-iterations", "0", "--quiet"]) == 1


def test_two_models_side_by_side(tmp_path, frames):
    bag = write_drive(tmp_path / "drive", frames)
    stricter = tmp_path / "stricter"
    shutil.copytree(models_dir("lunar"), stricter)
    calibration = json.loads((stricter / "parce.json").read_text())
    calibration["threshold"] = 0.99
    (stricter / "parce.json").write_text(json.dumps(calibration))
    from competency_cf.cli import main

    out = tmp_path / "compare"
    assert main(["replay", str(bag), "--models", str(models_dir("lunar")), "--compare",
                 str(stricter), "--out", str(out), "--lgd-iterations", "0", "--quiet"]) == 0
    text = (out / "comparison.md").read_text()
    assert "threshold 0.900" in (out / "A" / "replay.md").read_text()
    assert "threshold 0.990" in (out / "B" / "replay.md").read_text()
    summary = [line for line in text.splitlines() if "disagree on the low flag" in line][0]
    flips = int(summary.split(" of ")[0])
    assert flips > 0  # a stricter threshold calls more frames low
    assert "| time (s) | camera |" in text and "low flag" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "low flag" in line]
    assert len(rows) >= flips
