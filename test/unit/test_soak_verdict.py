"""The soak's verdict and frame schedule, on made-up figures (no graph runs here)."""

import dataclasses

from competency_cf.evaluation.soak_verdict import (DEGRADED_EVERY_S, DEGRADED_FOR_S, SoakResult,
                                                   degraded)


def _result(**changes):
    passing = SoakResult(seconds=300.0, camera_hz=60.0, processed_hz=10.0, target_hz=10.0,
                         dropped=14000, triggers=100, explained=200, rss_start_mb=1000.0,
                         rss_end_mb=1020.0, received=17000, scored=2990, bad=9, unread=1)
    return dataclasses.replace(passing, **changes)


def test_a_healthy_run_passes_every_check():
    assert all(_result().verdict().values())


def test_each_check_fails_on_its_own_cause():
    def failing(**changes):
        return {name for name, ok in _result(**changes).verdict().items() if not ok}

    assert failing(processed_hz=8.9) == {"perception keeps its rate"}
    assert failing(processed_hz=9.0) == set()  # within 10 % of the rate
    assert failing(rss_end_mb=1060.0) == {"RSS growth after warm-up <= 5 %"}
    # A frame neither scored, failed, dropped nor waiting was lost without a count.
    assert failing(received=17001) == {"stale frames dropped and counted"}
    assert failing(dropped=0, received=3000) == {"stale frames dropped and counted"}
    # A camera slower than the rate needs no drops.
    assert failing(camera_hz=5.0, processed_hz=5.0, dropped=0, received=3000) == set()


def test_degraded_frames_come_in_half_second_segments_every_three_seconds():
    rate = 60.0
    flags = [degraded(index, rate) for index in range(int(9 * rate))]
    starts = [index / rate for index, flag in enumerate(flags)
              if flag and (index == 0 or not flags[index - 1])]
    assert starts == [0.0, DEGRADED_EVERY_S, 2 * DEGRADED_EVERY_S]
    assert sum(flags) == 3 * int(DEGRADED_FOR_S * rate)
