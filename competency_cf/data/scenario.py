"""Scripted camera streams: segments of nominal frames and injected causes of low competency.

A scenario file (YAML) lists segments in order:

    segments:
      - {cause: nominal, seconds: 5}
      - {cause: brightness, seconds: 4, factor: [1.0, 2.5]}   # a ramp from x1 to x2.5
      - {cause: spatial, seconds: 3}                          # anomalies come into view

`factor` is one number or a [start, end] ramp, in the units of the domain's factor tables.
Frames are rendered on the fly, deterministic per frame index, from image indices far beyond
those of the training data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from competency_cf.data.causes import CAUSES, degrade
from competency_cf.data.domains import Domain
from competency_cf.data.synthesize import OOD_LABEL, render_image

NOMINAL = "nominal"
FIRST_INDEX = 1_000_000  # image indices used by scenarios, far from the dataset's
SECONDS_PER_VIEW = 2.0   # a nominal class stays in view this long


@dataclass(frozen=True)
class Segment:
    cause: str
    seconds: float
    factor: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self):
        if self.cause != NOMINAL and self.cause not in CAUSES:
            raise ValueError(f"unknown segment cause {self.cause!r}; expected {NOMINAL} or one "
                             f"of {', '.join(CAUSES)}")
        if self.seconds <= 0:
            raise ValueError(f"segment length must be positive, got {self.seconds}")

    def factor_at(self, fraction: float) -> float:
        start, end = self.factor
        return start + (end - start) * min(1.0, max(0.0, fraction))


@dataclass(frozen=True)
class Scenario:
    segments: tuple[Segment, ...]

    @property
    def duration(self) -> float:
        return sum(segment.seconds for segment in self.segments)

    def at(self, time_s: float, loop: bool = False) -> tuple[int, Segment, float] | None:
        """(segment index, segment, factor) at `time_s`; None after the end unless looping."""
        if loop:
            time_s %= self.duration
        start = 0.0
        for index, segment in enumerate(self.segments):
            if time_s < start + segment.seconds:
                return index, segment, segment.factor_at((time_s - start) / segment.seconds)
            start += segment.seconds
        return None

    @classmethod
    def from_dict(cls, entries: dict, source: str = "scenario") -> "Scenario":
        try:
            segments = []
            for item in entries["segments"]:
                factor = item.get("factor", 1.0)
                factor = tuple(float(f) for f in (factor if isinstance(factor, list)
                                                  else [factor, factor]))
                if len(factor) != 2:
                    raise ValueError(f"factor must be a number or [start, end], got {factor}")
                segments.append(Segment(str(item["cause"]), float(item["seconds"]), factor))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{source}: invalid scenario ({error})") from error
        if not segments:
            raise ValueError(f"{source}: a scenario needs at least one segment")
        return cls(tuple(segments))

    @classmethod
    def load(cls, path: str | Path) -> "Scenario":
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"scenario file not found: {path}")
        return cls.from_dict(yaml.safe_load(path.read_text()) or {}, str(path))


def scenario_frame(domain: Domain, segment: Segment, factor: float, frame_index: int,
                   rate_hz: float) -> torch.Tensor:
    """One (3, H, W) float frame for `segment` at strength `factor`."""
    index = FIRST_INDEX + frame_index
    if segment.cause == "spatial":
        array = render_image(domain, OOD_LABEL, index)
    else:
        view = int(frame_index / max(1.0, rate_hz * SECONDS_PER_VIEW))
        array = render_image(domain, view % domain.num_classes, index)
    image = torch.from_numpy(np.ascontiguousarray(array)).float().div(255.0).unsqueeze(0)
    if segment.cause not in (NOMINAL, "spatial"):
        generator = torch.Generator().manual_seed(index)
        image = degrade(image, segment.cause, factor, reference_size=domain.pixelation_reference,
                        generator=generator)
    return image[0]
