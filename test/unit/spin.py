"""Spinning an executor in tests until a condition holds or time runs out."""

import time


def spin(executor, seconds: float, until=None, each=None, period: float = 0.05) -> None:
    """Spin for at most `seconds`, stopping early once `until()` is true; `each()` (publishing a
    frame, say) runs before every spin."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (until and until()):
        if each is not None:
            each()
        executor.spin_once(timeout_sec=period)
