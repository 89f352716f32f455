"""A node's worker thread: runs `step` as soon as `notify` says that new input arrived.

Counterfactual search and explanation run here rather than on an executor timer that polls for
work: on two cores, two 100 Hz polling timers cost a quarter of a core while nothing happened,
and every poll competes with the scoring thread for the interpreter. Publishing from this thread
is safe in rclpy.
"""

from __future__ import annotations

import threading
from typing import Callable

from competency_cf.ros.thread_cpu import name_this_thread


class Worker:
    """`step()` takes one item and returns True, or returns False when nothing is waiting.
    After a notification the worker steps until False; it also steps every `idle_s`, for
    input that `step` declined earlier (a busy backend). A step that raises goes to
    `on_error` and the worker carries on."""

    def __init__(self, step: Callable[[], bool], on_error: Callable[[Exception], None],
                 name: str = "worker", idle_s: float = 0.5):
        self.step, self.on_error, self.idle_s = step, on_error, idle_s
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "Worker":
        self._thread.start()
        return self

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Finish the current step, then end the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        name_this_thread(self._thread.name)
        while not self._stop.is_set():
            self._wake.wait(self.idle_s)
            self._wake.clear()  # before stepping: input arriving during a step wakes us again
            while not self._stop.is_set():
                try:
                    if not self.step():
                        break
                except Exception as error:  # one bad item must not end the worker
                    self.on_error(error)
