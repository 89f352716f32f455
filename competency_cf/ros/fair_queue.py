"""Work waiting for a shared node, kept apart per camera and served in turn.

Each camera (a lane, keyed by the frames' `frame_id`) holds up to `capacity` entries, one per key
(a frame stamp), oldest first. A newer item under a waiting key replaces it in place (LGD's image
after the fast one: the better image is used without doing the work twice); a new key in a full
lane pushes out that lane's oldest entry, counted as dropped for that camera. `take` serves the
lanes round-robin, so a fast camera cannot starve a slow one.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict


class FairQueue:
    def __init__(self, capacity: int = 32):
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._lanes: OrderedDict[str, OrderedDict] = OrderedDict()  # next lane to serve first
        self._lock = threading.Lock()
        self.replaced = 0          # a newer item for a waiting key
        self.dropped = Counter()   # per lane: entries pushed out by a full lane

    def put(self, lane: str, key, item) -> None:
        with self._lock:
            entries = self._lanes.setdefault(lane, OrderedDict())
            if key in entries:
                self.replaced += 1
                entries[key] = item  # keeps its place
                return
            entries[key] = item
            while len(entries) > self.capacity:
                entries.popitem(last=False)
                self.dropped[lane] += 1

    def take(self):
        """(lane, key, item): the oldest entry of the next lane in turn, or None."""
        with self._lock:
            for lane in list(self._lanes):
                entries = self._lanes[lane]
                self._lanes.move_to_end(lane)  # served (or empty): to the back of the line
                if entries:
                    key, item = entries.popitem(last=False)
                    return lane, key, item
            return None

    def __len__(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._lanes.values())
