import pytest

from competency_cf.ros.diagnostics import ERROR, OK, WARN, Health


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rates_are_windowed_so_a_stall_shows_at_once():
    clock = Clock()
    health = Health(window_s=5.0, stall_s=2.0, clock=clock)
    health.watch("frames")
    for _ in range(100):  # 10 s at 10 Hz
        clock.now += 0.1
        health.tick("frames")
    assert health.rate("frames") == pytest.approx(10.0, abs=0.3)
    assert health.level() == (OK, "ok")
    clock.now += 3.0  # the camera stalls
    assert health.rate("frames") == pytest.approx(4.0, abs=0.3)
    level, message = health.level()
    assert level == WARN and "no frames for 3.0 s" in message
    clock.now += 0.1
    health.tick("frames")  # and comes back
    assert health.level()[0] == OK


def test_faults_warn_within_the_window_then_clear():
    clock = Clock()
    health = Health(window_s=5.0, clock=clock)
    health.fault("bad_frames", 3)
    level, message = health.level()
    assert level == WARN and message == "3 bad_frames in the last 5 s"
    clock.now += 5.1
    assert health.level() == (OK, "ok")
    assert health.values()["bad_frames"] == "3"  # the total stays


def test_fatal_is_an_error_until_cleared_and_unwatched_inputs_never_stall():
    clock = Clock()
    health = Health(clock=clock)
    health.watch("frames")
    health.unwatch()
    clock.now += 60.0
    assert health.level()[0] == OK
    health.fatal = "models failed to load: /nowhere/classifier.safetensors"
    assert health.level() == (ERROR, "models failed to load: /nowhere/classifier.safetensors")
    health.fatal = None
    assert health.level()[0] == OK


def test_rejects_a_non_positive_window():
    with pytest.raises(ValueError):
        Health(window_s=0.0)
