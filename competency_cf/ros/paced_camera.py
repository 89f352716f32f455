"""A camera stand-in for benchmarks: publishes frames at a fixed rate from its own thread.

A driver publishes from its own process; a thread is the nearest thing inside one benchmark
process, and it leaves the executor blocking in its wait instead of being polled by the benchmark
loop (polling the executor every few milliseconds costs the nodes CPU time and adds latency).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from competency_cf.ros.thread_cpu import name_this_thread


class PacedCamera:
    """Calls `frame(index)` for each frame, stamps it with `node`'s clock, publishes it on
    `publisher` at `rate_hz`, then calls `on_sent(index, msg)`. Late frames are not made up
    in a burst: after a stall the schedule restarts from now.

    With `ready`, frame k + 1 also waits (up to `ready_timeout_s`) until `ready(k + 1)` is true,
    e.g. until the consumer has taken frame k: then which frames are processed no longer
    depends on how fast the host is, only when."""

    def __init__(self, node, publisher, rate_hz: float, frame: Callable[[int], object],
                 on_sent: Callable[[int, object], None] | None = None, count: int | None = None,
                 ready: Callable[[int], bool] | None = None, ready_timeout_s: float = 30.0):
        if rate_hz <= 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.node, self.publisher, self.period = node, publisher, 1.0 / rate_hz
        self.frame, self.on_sent, self.count = frame, on_sent, count
        self.ready, self.ready_timeout_s = ready, ready_timeout_s
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
        name_this_thread("paced_camera")
        next_frame = time.monotonic()
        while not self._stop.is_set() and not self.finished:
            self._wait_until_ready()
            msg = self.frame(self.published)
            msg.header.stamp = self.node.get_clock().now().to_msg()
            self.publisher.publish(msg)
            if self.on_sent is not None:
                self.on_sent(self.published, msg)
            self.published += 1
            next_frame = max(next_frame + self.period, time.monotonic() - self.period)
            self._stop.wait(max(0.0, next_frame - time.monotonic()))

    def _wait_until_ready(self) -> None:
        if self.ready is None or self.published == 0:
            return
        deadline = time.monotonic() + self.ready_timeout_s
        while not self.ready(self.published) and time.monotonic() < deadline:
            if self._stop.wait(0.002):
                return
