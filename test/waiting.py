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
    frame, say) runs before every spin. The condition's last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return bool(condition())
        if each is not None:
            each()
        executor.spin_once(timeout_sec=period)
    return True
