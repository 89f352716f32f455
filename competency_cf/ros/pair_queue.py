"""Frame/counterfactual pairs waiting for the explainer: one entry per trigger, oldest first.

A newer counterfactual for the same trigger (LGD after the fast path) replaces the waiting one,
so the explanation uses the best image without explaining the trigger twice; different triggers
never replace each other, so no accepted trigger loses its explanation unless more than
`capacity` are waiting (then the oldest is dropped and counted).
"""

from __future__ import annotations

import threading
from collections import OrderedDict


class PairQueue:
    def __init__(self, capacity: int = 32):
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.replaced = 0  # a better counterfactual arrived for a waiting trigger
        self.dropped = 0   # triggers pushed out by a full queue

    def put(self, key, item) -> None:
        with self._lock:
            if key in self._items:
                self.replaced += 1
                self._items[key] = item  # keeps its place in the queue
                return
            self._items[key] = item
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
                self.dropped += 1

    def take(self):
        """(key, item) of the oldest waiting trigger, or None."""
        with self._lock:
            return self._items.popitem(last=False) if self._items else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
