"""Waiting in tests for a condition, never for a fixed time.

Deadlines are generous on purpose: a deadline only ends a test that is going to fail anyway, and
a 2-core machine with both cores busy runs the graph many times slower than an idle one.
"""

import time

DEADLINE_S = 120.0


def wait_for(condition, timeout: float = DEADLINE_S, period: float = 0.01) -> bool:
    """Poll `condition()` until it is true or `timeout` runs out; its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return bool(condition())
        time.sleep(period)
    return True


def spin_until(executor, condition, timeout: float = DEADLINE_S, each=None,
               period: float = 0.05) -> bool:
    """Spin `executor` until `condition()` is true or `timeout` runs out; `each()` (publishing a
    frame, say) runs at most once every `period` seconds. The condition's last value.

    `each` is paced by the clock, not by spins: a spin returns as soon as it has run a callback,
    so a frame published before every spin feeds the next spin at once, and the test floods the
    graph with frames, starving the nodes it waits for."""
    deadline = time.monotonic() + timeout
    due = time.monotonic()
    while not condition():
        now = time.monotonic()
        if now > deadline:
            return bool(condition())
        if each is not None and now >= due:
            each()
            due = now + period
        executor.spin_once(timeout_sec=period if each is None else max(0.0, due - now))
    return True
