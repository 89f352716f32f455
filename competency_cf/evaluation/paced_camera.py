"""A camera stand-in for benchmarks: publishes frames at a fixed rate from its own thread.

A driver publishes from its own process; a thread is the nearest thing inside one benchmark
process, and it leaves the executor blocking in its wait instead of being polled by the benchmark
loop (polling the executor every few milliseconds costs the nodes CPU time and adds latency).
"""

from __future__ import annotations

import threading
import time
from typing import Callable


class PacedCamera:
    """Calls `frame(index)` for each frame, stamps it with `node`'s clock, publishes it on
    `publisher` at `rate_hz`, then calls `on_sent(index, msg)`. Late frames are not made up
    in a burst: after a stall the schedule restarts from now."""

    def __init__(self, node, publisher, rate_hz: float, frame: Callable[[int], object],
                 on_sent: Callable[[int, object], None] | None = None, count: int | None = None):
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.node, self.publisher, self.period = node, publisher, 1.0 / rate_hz
        self.frame, self.on_sent, self.count = frame, on_sent, count
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced_camera", daemon=True)

    def start(self) -> "PacedCamera":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def finished(self) -> bool:
        return self.count is not None and self.published >= self.count

    def _run(self) -> None:
        next_frame = time.monotonic()
        while not self._stop.is_set() and not self.finished:
            msg = self.frame(self.published)
            msg.header.stamp = self.node.get_clock().now().to_msg()
            self.publisher.publish(msg)
            if self.on_sent is not None:
                self.on_sent(self.published, msg)
            self.published += 1
            next_frame = max(next_frame + self.period, time.monotonic() - self.period)
            self._stop.wait(max(0.0, next_frame - time.monotonic()))
