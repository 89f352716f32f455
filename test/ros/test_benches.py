"""The ROS benchmarks' plumbing: what they count adds up. Their figures (latencies, rates, CPU
use) are printed by `make bench` and `make soak`, not asserted here."""

import pytest

from competency_cf.ros.graph_bench import bench_graph

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_graph_bench_measures_every_trigger():
    result = bench_graph("lunar", triggers=3, pair_hz=4.0, idle_s=0.0)
    # The bench's camera waits for perception to take each frame, so every degraded frame fires.
    assert result.sent == 3 and result.fired == 3
    assert result.fired == result.answered + result.dropped
    assert result.triggers == result.answered >= 1
    # Per trigger, the explanation comes after the counterfactual it explains.
    assert 0 < result.to_counterfactual_ms[0] <= result.to_explanation_ms[0]
    assert "first explanation" in result.to_markdown()


def test_trigger_burst_every_accepted_trigger_is_explained():
    # Ten low-competency frames a second, each a trigger (cooldown 0). The counterfactual node
    # holds at most one waiting job (newer ones replace it, counted as dropped); every trigger
    # it accepted must be explained.
    result = bench_graph("lunar", triggers=20, pair_hz=10.0, idle_s=0.0)
    assert result.sent == 20 and result.fired == 20
    assert result.fired == result.answered + result.dropped
    assert result.triggers == result.answered >= 1


def test_short_soak_accounts_for_every_frame():
    from competency_cf.ros.soak import soak

    result = soak("lunar", seconds=2.0, rate_hz=30.0, width=320, height=240,
                  show_progress=False)
    assert result.samples and result.scored >= 1
    assert result.accounted, result.to_markdown()
    assert set(result.verdict()) == {"perception keeps its rate", "stale frames dropped and "
                                     "counted", "RSS growth after warm-up <= 5 %"}
    assert "| check | verdict |" in result.to_markdown()


def test_camera_bench_scores_every_camera_each_round():
    from competency_cf.evaluation.bench import format_camera_bench
    from competency_cf.ros.camera_bench import bench_cameras

    rows = bench_cameras("lunar", counts=(1, 3), rounds=2, source=(48, 64))
    assert [(row.cameras, row.backend, row.rounds) for row in rows] == [
        (1, "torch", 2), (3, "torch", 2)]
    assert all(row.fps > 0 and row.round_p50_ms <= row.round_p99_ms for row in rows)
    assert "torch: 3 cameras / 1 camera frames per second" in format_camera_bench(rows)


def test_short_soak_with_the_camera_in_its_own_process():
    from competency_cf.ros.soak import soak

    result = soak("lunar", seconds=3.0, rate_hz=20.0, width=320, height=240,
                  show_progress=False, camera_process=True)
    assert result.deployment == "camera in its own process"
    assert result.received >= 1 and result.accounted, result.to_markdown()
    assert result.camera_hz > 0 and "camera process" in result.cpu
    assert "perception" in result.cpu  # the package's threads are named for the CPU table


def test_replay_bench_runs_both_commands_on_each_drive_length(monkeypatch):
    """A 3-second drive recorded once and twice over: each row counts its frames, the replay's
    triggers and both commands' own peak memory, and the checks cover every row."""
    import numpy as np

    from competency_cf.evaluation import replay_bench
    from competency_cf.evaluation.bench_report import BenchReport
    from competency_cf.resources import models_dir

    rng = np.random.default_rng(0)
    height, width = replay_bench.SIZE
    calm = np.full((height, width, 3), 120, np.uint8)
    # coarse noise: it survives the resize to the network's input
    noisy = rng.integers(0, 256, (height // 10, width // 10, 3), dtype=np.uint8)
    noisy = noisy.repeat(10, axis=0).repeat(10, axis=1)
    frames = [calm] * 10 + [noisy] * 10 + [calm] * 10
    monkeypatch.setattr(replay_bench, "drive_frames", lambda domain: frames)
    rows = replay_bench.bench_replay("lunar", models_dir("lunar"), lengths=(1, 2))
    assert [row.frames for row in rows] == [30, 60]
    assert rows[1].triggers >= rows[0].triggers >= 1
    # Each process's own high-water mark: at least torch's import, far below the bench's host.
    assert all(100 < row.replay_rss_mb < 4096 and 50 < row.report_rss_mb < 4096 for row in rows)
    report = BenchReport(replay=rows, replay_domain="lunar")
    targets = [target for target, _, _ in report.checks()]
    assert len(targets) == 4 and all(target.startswith("lunar: ") for target in targets)
    assert "| 0.1 min | 60 |" in report.to_markdown()
