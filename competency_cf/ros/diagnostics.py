"""The health every node reports on /diagnostics, from windowed counts rather than totals.

A node counts its events (`tick`: frames received, frames scored, triggers answered) and its
problems (`fault`: bad frames, failed or timed-out work) here. Rates are taken over the last
`window_s` seconds, so a stalled camera shows at once instead of fading into an average since
start-up. The level is ERROR while a fatal condition holds (models that failed to load), WARN
while a watched input is stalled or a fault was counted within the window, and OK again once
neither is true.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Callable

OK, WARN, ERROR = 0, 1, 2  # diagnostic_msgs/DiagnosticStatus levels


class EventWindow:
    """Times of the events of the last `window_s` seconds."""

    def __init__(self, window_s: float, clock: Callable[[], float]):
        self.window_s, self.clock = window_s, clock
        self.started = clock()
        self.last: float | None = None
        self._times: deque[float] = deque()

    def add(self, count: int = 1) -> None:
        now = self.clock()
        self._times.extend([now] * count)
        self.last = now

    def count(self) -> int:
        horizon = self.clock() - self.window_s
        while self._times and self._times[0] < horizon:
            self._times.popleft()
        return len(self._times)

    def rate(self) -> float:
        """Events per second over the window (over the time since start while younger)."""
        span = min(self.window_s, self.clock() - self.started)
        return self.count() / span if span > 0 else 0.0

    def silent_for(self) -> float:
        """Seconds since the last event (since start when there was none)."""
        return self.clock() - (self.last if self.last is not None else self.started)


class Health:
    def __init__(self, window_s: float = 5.0, stall_s: float = 3.0,
                 clock: Callable[[], float] = time.monotonic):
        if window_s <= 0 or stall_s <= 0:
            raise ValueError("window_s and stall_s must be positive")
        self.window_s, self.stall_s, self.clock = window_s, stall_s, clock
        self.totals: Counter = Counter()
        self._events: dict[str, EventWindow] = {}
        self._faults: dict[str, EventWindow] = {}
        self._watched: set[str] = set()
        self.fatal: str | None = None
        # Subscriptions count on executor threads, workers on their own: one lock for all.
        self._lock = threading.Lock()

    def _window(self, table: dict, name: str) -> EventWindow:
        if name not in table:
            table[name] = EventWindow(self.window_s, self.clock)
        return table[name]

    def tick(self, name: str, count: int = 1) -> None:
        with self._lock:
            self._window(self._events, name).add(count)
            self.totals[name] += count

    def fault(self, name: str, count: int = 1) -> None:
        with self._lock:
            self._window(self._faults, name).add(count)
            self.totals[name] += count

    def watch(self, name: str) -> None:
        """`name` is expected to tick: WARN when it is silent for `stall_s` (from now on)."""
        with self._lock:
            self._events[name] = EventWindow(self.window_s, self.clock)
            self._watched.add(name)

    def unwatch(self) -> None:
        """Stop expecting inputs (the node was deactivated)."""
        with self._lock:
            self._watched.clear()

    def rate(self, name: str) -> float:
        with self._lock:
            return self._events[name].rate() if name in self._events else 0.0

    def level(self) -> tuple[int, str]:
        """(level, message): the worst condition that holds now."""
        with self._lock:
            return self._level()

    def _level(self) -> tuple[int, str]:
        if self.fatal:
            return ERROR, self.fatal
        stalled = sorted(name for name in self._watched
                         if self._events[name].silent_for() >= self.stall_s)
        recent = sorted(name for name, window in self._faults.items() if window.count())
        problems = [f"no {name} for {self._events[name].silent_for():.1f} s"
                    for name in stalled]
        problems += [f"{self._faults[name].count()} {name} in the last {self.window_s:g} s"
                     for name in recent]
        return (WARN, "; ".join(problems)) if problems else (OK, "ok")

    def values(self) -> dict[str, str]:
        """Windowed rates of the events and totals of everything counted."""
        with self._lock:
            return self._values()

    def _values(self) -> dict[str, str]:
        values = {f"{name}_rate_hz": f"{window.rate():.2f}"
                  for name, window in sorted(self._events.items())}
        values.update({name: str(total) for name, total in sorted(self.totals.items())})
        return values
