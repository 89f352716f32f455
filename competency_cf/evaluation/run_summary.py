"""What a recorded run says, accumulated in one pass over its messages with bounded memory.

`RunSummary.add(topic, time_ns, message)` takes the decoded messages of a recording (see
`bag_stream.BagStream`) one at a time; `finish()` closes what is open. Every count grows with the
recording, every list and image is capped, so memory does not:

- per camera (header `frame_id`): the competency series in time buckets (min, mean, max;
  the bucket width doubles whenever `max_buckets` is exceeded), the threshold, the time observed
  and the time below threshold (sample and hold: a sample's state lasts until the next sample of
  its camera), the low stretches (a run of samples below threshold; it ends at the first sample
  at or above it) with their minimum and the causes explained in them (the `max_stretches`
  longest are kept in detail, all are counted), the triggers;
- explanation causes: one explanation per trigger (keyed by the trigger frame's frame_id and
  stamp): the final one, or the latest fast one when no final one was recorded;
- the time below threshold per cause: a stretch's time is shared among the causes explained in
  it, in proportion to their explanations ("unexplained" when none);
- a gallery of the `gallery_size` lowest-competency triggers (trigger frame and final
  counterfactual at most `image_side` pixels, explanation text);
- ground truth, when the sim camera's ScenarioEvent messages were recorded: the scripted
  segments with the triggers and explained causes in each.

Times are message header stamps (frame time), in seconds.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

from competency_cf.evaluation.bag_stream import (COMPETENCY, COUNTERFACTUAL, EXPLANATION, IMAGE,
                                                 SCENARIO_EVENT)

UNEXPLAINED = "unexplained"
RECENT_STRETCHES = 32   # closed stretches per camera that a late explanation can still reach
RECENT_KEYS = 1024      # trigger keys remembered to count each trigger once
RECENT_STAMPS = 256     # competency values per camera remembered for the gallery's ranking
PENDING = 256           # triggers whose fast explanation waits for a final one


def _stamp(message) -> tuple[str, int]:
    header = message.header
    return header.frame_id or "camera", int(header.stamp.sec) * 1_000_000_000 + \
        int(header.stamp.nanosec)


@dataclass
class Stretch:
    """A run of samples of one camera below threshold."""

    camera: str
    start: float
    end: float
    min_competency: float
    samples: int = 1
    causes: Counter = field(default_factory=Counter)
    triggers: int = 0

    @property
    def duration(self) -> float:
        return self.end - self.start

    def cause_shares(self) -> dict[str, float]:
        """The stretch's duration shared among its explained causes."""
        total = sum(self.causes.values())
        if not total:
            return {UNEXPLAINED: self.duration}
        return {cause: self.duration * n / total for cause, n in self.causes.items()}


class BucketedSeries:
    """A time series kept as at most `max_buckets` buckets of (min, sum, count, max)."""

    def __init__(self, width: float = 0.1, max_buckets: int = 2000):
        self.width = width
        self.max_buckets = max_buckets
        self.buckets: dict[int, list[float]] = {}

    def add(self, t: float, value: float) -> None:
        index = math.floor(t / self.width)
        bucket = self.buckets.get(index)
        if bucket is None:
            self.buckets[index] = [value, value, 1, value]
            if len(self.buckets) > self.max_buckets:
                self._coarsen()
        else:
            bucket[0] = min(bucket[0], value)
            bucket[1] += value
            bucket[2] += 1
            bucket[3] = max(bucket[3], value)

    def _coarsen(self) -> None:
        while len(self.buckets) > self.max_buckets:
            self.width *= 2
            merged: dict[int, list[float]] = {}
            for index, (low, total, count, high) in self.buckets.items():
                target = merged.get(index // 2)
                if target is None:
                    merged[index // 2] = [low, total, count, high]
                else:
                    target[0] = min(target[0], low)
                    target[1] += total
                    target[2] += count
                    target[3] = max(target[3], high)
            self.buckets = merged

    def arrays(self) -> dict[str, np.ndarray]:
        """Bucket start times and min / mean / max, in time order."""
        indices = sorted(self.buckets)
        rows = np.array([self.buckets[i] for i in indices], dtype=float).reshape(-1, 4)
        return {"time": np.array(indices, dtype=float) * self.width, "min": rows[:, 0],
                "mean": rows[:, 1] / np.maximum(rows[:, 2], 1), "max": rows[:, 3]}


@dataclass
class Camera:
    """Everything kept about one camera."""

    name: str
    series: BucketedSeries
    samples: int = 0
    first: float | None = None
    last: float | None = None
    observed_s: float = 0.0
    low_s: float = 0.0
    previous_low: bool = False
    total: float = 0.0
    minimum: float = math.inf
    thresholds: set = field(default_factory=set)
    reordered: int = 0
    open: Stretch | None = None
    recent: deque = field(default_factory=lambda: deque())
    stretches: int = 0
    triggers: int = 0
    stamps: OrderedDict = field(default_factory=OrderedDict)  # stamp_ns -> competency
    segments: list = field(default_factory=list)  # ground truth: dicts, in time order


@dataclass
class GalleryEntry:
    camera: str
    time: float
    competency: float
    frame: np.ndarray | None = None
    counterfactual: np.ndarray | None = None
    method: str = ""
    competency_after: float | None = None
    final_counterfactual: bool = False
    cause: str = ""
    text: str = ""


def image_array(message, max_side: int = 128) -> np.ndarray | None:
    """A sensor_msgs/Image (rosbags object) as an RGB uint8 array at most `max_side` pixels on
    a side (None for encodings a report cannot show)."""
    channels = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8UC1": 1,
                "8UC3": 3, "8UC4": 4}.get(message.encoding)
    height, width, step = int(message.height), int(message.width), int(message.step)
    data = np.asarray(message.data, dtype=np.uint8)
    if channels is None or height * step > data.size or width * channels > step or not height:
        return None
    image = data[: height * step].reshape(height, step)[:, : width * channels]
    image = image.reshape(height, width, channels)
    if message.encoding.startswith("bgr"):
        image = image[..., [2, 1, 0]]
    image = np.repeat(image, 3, axis=2) if channels == 1 else image[..., :3]
    stride = max(1, math.ceil(max(height, width) / max_side))
    return np.ascontiguousarray(image[::stride, ::stride])


class RunSummary:
    """One recording's summary (see the module docstring); feed `add`, then call `finish`."""

    def __init__(self, gallery_size: int = 8, max_buckets: int = 2000, max_stretches: int = 200,
                 max_markers: int = 2000, image_side: int = 128, max_segments: int = 1000):
        self.gallery_size = gallery_size
        self.max_buckets = max_buckets
        self.max_stretches = max_stretches
        self.max_markers = max_markers
        self.image_side = image_side
        self.max_segments = max_segments
        self.cameras: dict[str, Camera] = {}
        self.start: float | None = None
        self.end: float | None = None
        self.messages = Counter()            # message type -> count
        self.longest: list = []              # heap of (duration, order, Stretch)
        self._order = 0
        self.stretch_count = 0
        self.low_by_cause: Counter = Counter()  # seconds below threshold per cause
        self.stretches_by_cause: Counter = Counter()
        self.explanations: Counter = Counter()  # cause -> triggers explained with it
        self.explained = 0
        self.fast_only = 0                    # triggers counted with a fast explanation
        self.unattributed = 0                 # explanations outside any stretch
        self.triggers = 0
        self.markers: OrderedDict = OrderedDict()   # (camera, stamp) -> [time, cause]
        self._keys: OrderedDict = OrderedDict()     # recent trigger keys
        self._committed: OrderedDict = OrderedDict()
        self._pending: OrderedDict = OrderedDict()  # key -> fast explanation
        self.gallery: dict[tuple[str, int], GalleryEntry] = {}
        self.finished = False

    # --- feeding -------------------------------------------------------------------------

    def add(self, topic: str, time_ns: int, message) -> None:
        kind = getattr(message, "__msgtype__", "") or \
            type(message).__name__.replace("__msg__", "/msg/")
        self.messages[kind] += 1
        camera, stamp_ns = _stamp(message)
        t = stamp_ns / 1e9
        self.start = t if self.start is None else min(self.start, t)
        self.end = t if self.end is None else max(self.end, t)
        if kind == COMPETENCY:
            self._competency(camera, stamp_ns, t, message)
        elif kind == IMAGE:
            self._trigger(camera, stamp_ns, t, frame=message)
        elif kind == COUNTERFACTUAL:
            self._trigger(camera, stamp_ns, t, counterfactual=message)
        elif kind == EXPLANATION:
            self._trigger(camera, stamp_ns, t)
            self._explanation(camera, stamp_ns, message)
        elif kind == SCENARIO_EVENT:
            self._scenario(camera, t, message)

    def _camera(self, name: str) -> Camera:
        if name not in self.cameras:
            self.cameras[name] = Camera(name, BucketedSeries(max_buckets=self.max_buckets))
        return self.cameras[name]

    def _competency(self, name: str, stamp_ns: int, t: float, message) -> None:
        camera = self._camera(name)
        value, threshold = float(message.competency), float(message.threshold)
        if camera.last is not None and t < camera.last:
            camera.reordered += 1
            t = camera.last
        if camera.last is not None:
            elapsed = t - camera.last
            camera.observed_s += elapsed
            if camera.previous_low:
                camera.low_s += elapsed
            if camera.open is not None:
                camera.open.end = t
        else:
            camera.first = t
        camera.last = t
        camera.samples += 1
        camera.total += value
        camera.minimum = min(camera.minimum, value)
        camera.thresholds.add(round(threshold, 4))
        camera.series.add(t, value)
        camera.stamps[stamp_ns] = value
        if len(camera.stamps) > RECENT_STAMPS:
            camera.stamps.popitem(last=False)
        low = value < threshold
        if low:
            if camera.open is None:
                camera.open = Stretch(name, t, t, value, samples=0)
            camera.open.samples += 1
            camera.open.min_competency = min(camera.open.min_competency, value)
        elif camera.open is not None:
            self._close(camera)
        camera.previous_low = low

    def _close(self, camera: Camera) -> None:
        camera.recent.append(camera.open)
        camera.open = None
        camera.stretches += 1
        while len(camera.recent) > RECENT_STRETCHES:
            self._settle(camera.recent.popleft())

    def _settle(self, stretch: Stretch) -> None:
        """A stretch no explanation can reach any more: add it to the totals."""
        self.stretch_count += 1
        for cause, seconds in stretch.cause_shares().items():
            self.low_by_cause[cause] += seconds
            self.stretches_by_cause[cause] += 1
        self._order += 1
        item = (stretch.duration, -self._order, stretch)
        if len(self.longest) < self.max_stretches:
            heapq.heappush(self.longest, item)
        elif item[:2] > self.longest[0][:2]:
            heapq.heapreplace(self.longest, item)

    def _stretch_at(self, camera: Camera, t: float) -> Stretch | None:
        candidates = list(camera.recent) + ([camera.open] if camera.open is not None else [])
        for stretch in reversed(candidates):
            if stretch.start <= t <= stretch.end:
                return stretch
        return None

    def _trigger(self, name: str, stamp_ns: int, t: float, frame=None,
                 counterfactual=None) -> None:
        key = (name, stamp_ns)
        camera = self._camera(name)
        if key not in self._keys:
            self._keys[key] = None
            if len(self._keys) > RECENT_KEYS:
                self._keys.popitem(last=False)
            self.triggers += 1
            camera.triggers += 1
            stretch = self._stretch_at(camera, t)
            if stretch is not None:
                stretch.triggers += 1
            segment = self._segment_at(camera, t)
            if segment is not None:
                segment["triggers"] += 1
            if len(self.markers) < self.max_markers:
                self.markers[key] = [t, ""]
            competency = camera.stamps.get(stamp_ns)
            if competency is None and counterfactual is not None:
                competency = float(counterfactual.competency_before)
            self._offer(key, t, competency)
        entry = self.gallery.get(key)
        if entry is None:
            return
        if frame is not None and entry.frame is None:
            entry.frame = image_array(frame, self.image_side)
        if counterfactual is not None and not entry.final_counterfactual:
            entry.counterfactual = image_array(counterfactual.image, self.image_side)
            entry.method = counterfactual.method
            entry.competency_after = float(counterfactual.competency_after)
            entry.final_counterfactual = bool(counterfactual.final)
            if math.isnan(entry.competency):
                entry.competency = float(counterfactual.competency_before)

    def _offer(self, key, t: float, competency: float | None) -> None:
        """Admit a trigger to the gallery if it is among the lowest in competency so far."""
        if self.gallery_size <= 0:
            return
        value = math.nan if competency is None else competency
        if len(self.gallery) >= self.gallery_size:
            def rank(item):  # unknown competency ranks last
                return -math.inf if math.isnan(item[1].competency) else -item[1].competency
            worst_key, worst = min(self.gallery.items(), key=rank)
            if math.isnan(value) or (not math.isnan(worst.competency)
                                     and value >= worst.competency):
                return
            del self.gallery[worst_key]
        self.gallery[key] = GalleryEntry(key[0], t, value)

    def _explanation(self, name: str, stamp_ns: int, message) -> None:
        key = (name, stamp_ns)
        if key in self._committed:
            return
        if message.final:
            self._pending.pop(key, None)
            self._commit(key, message, final=True)
            return
        self._pending[key] = message
        self._pending.move_to_end(key)
        while len(self._pending) > PENDING:
            old_key, old = self._pending.popitem(last=False)
            self._commit(old_key, old, final=False)

    def _commit(self, key, message, final: bool) -> None:
        self._committed[key] = None
        if len(self._committed) > RECENT_KEYS:
            self._committed.popitem(last=False)
        cause = message.cause or UNEXPLAINED
        self.explanations[cause] += 1
        self.explained += 1
        if not final:
            self.fast_only += 1
        name, stamp_ns = key
        camera = self._camera(name)
        t = stamp_ns / 1e9
        stretch = self._stretch_at(camera, t)
        if stretch is not None:
            stretch.causes[cause] += 1
        else:
            self.unattributed += 1
        segment = self._segment_at(camera, t)
        if segment is not None:
            segment["explained"][cause] += 1
        if key in self.markers:
            self.markers[key][1] = cause
        entry = self.gallery.get(key)
        if entry is not None:
            entry.cause, entry.text = cause, message.text
            if math.isnan(entry.competency):
                entry.competency = float(message.competency_before)

    def _scenario(self, name: str, t: float, message) -> None:
        camera = self._camera(name)
        segments = camera.segments
        if segments and segments[-1]["segment"] == int(message.segment) \
                and segments[-1]["cause"] == message.cause:
            segments[-1]["end"] = max(segments[-1]["end"], t)
            return
        if len(segments) >= self.max_segments:
            return
        segments.append({"camera": name, "segment": int(message.segment),
                         "cause": message.cause, "factor": float(message.factor), "start": t,
                         "end": t, "triggers": 0, "explained": Counter()})

    def _segment_at(self, camera: Camera, t: float) -> dict | None:
        for position in range(len(camera.segments) - 1, max(-1, len(camera.segments) - 9), -1):
            segment = camera.segments[position]
            if segment["start"] <= t:
                return segment
        return None

    def finish(self) -> "RunSummary":
        if self.finished:
            return self
        self.finished = True
        for key, message in list(self._pending.items()):
            self._commit(key, message, final=False)
        self._pending.clear()
        for camera in self.cameras.values():
            if camera.open is not None:
                self._close(camera)
                camera.recent[-1].end = camera.last
            while camera.recent:
                self._settle(camera.recent.popleft())
        return self

    # --- results ---------------------------------------------------------------------------

    @property
    def observed_s(self) -> float:
        return sum(c.observed_s for c in self.cameras.values())

    @property
    def low_s(self) -> float:
        return sum(c.low_s for c in self.cameras.values())

    def longest_stretches(self, limit: int | None = None) -> list[Stretch]:
        ordered = [item[2] for item in sorted(self.longest, reverse=True)]
        return ordered[:limit] if limit is not None else ordered

    def dominant_causes(self) -> list[str]:
        """The explained causes that account for most of the time below threshold: the top
        cause, and any other within 10 % of its time."""
        explained = {c: s for c, s in self.low_by_cause.items() if c != UNEXPLAINED and s > 0}
        if not explained:
            explained = {c: n for c, n in self.explanations.items() if c != UNEXPLAINED}
        if not explained:
            return []
        top = max(explained.values())
        return sorted((c for c, s in explained.items() if s >= 0.9 * top),
                      key=lambda c: -explained[c])

    def gallery_entries(self) -> list[GalleryEntry]:
        return sorted(self.gallery.values(),
                      key=lambda e: (math.isnan(e.competency), e.competency, e.time))

    def has_ground_truth(self) -> bool:
        return any(c.segments for c in self.cameras.values())
