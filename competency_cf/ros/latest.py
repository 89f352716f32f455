"""A one-slot mailbox: writers replace what is waiting, the reader takes the newest.

Callbacks put frames (or jobs) here and a worker in another callback group takes them, so a slow
model skips stale inputs instead of queueing them; `dropped` counts what was replaced unread.
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    def __init__(self):
        self._lock = threading.Lock()
        self._item: T | None = None
        self.received = 0
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._lock:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.received += 1

    def take(self) -> T | None:
        """The newest item, or None when nothing new arrived since the last take."""
        with self._lock:
            item, self._item = self._item, None
            return item

    def waiting(self) -> bool:
        with self._lock:
            return self._item is not None
