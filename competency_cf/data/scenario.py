"""Scripted camera streams: segments of nominal frames and injected causes of low competency.

A scenario file (YAML) lists segments in order:

    segments:
      - {cause: nominal, seconds: 5}
      - {cause: brightness, seconds: 4, factor: [1.0, 2.5]}   # a ramp from x1 to x2.5
      - {cause: spatial, seconds: 3}                          # anomalies come into view
      - {cause: haze, seconds: 4, factor: [0.3, 0.8]}         # a field cause
      - {cause: blur, seconds: 4, factor: 3, implementation: line_motion_blur}

`factor` is one number or a [start, end] ramp. For the paper's six causes it is in the units of
the domain's factor tables; the field causes (blur, haze, occlusion, glare) are drawn by one of
their implementations in `data.cause_implementations` (`FIELD_DEFAULTS`, or `implementation`),
and `factor` is that implementation's strength. Frames are rendered on the fly, deterministic
per frame index, from image indices far beyond those of the training data; a field cause keeps
its random placement and tint for the whole segment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from competency_cf.data.cause_implementations import EXPLAINED_CAUSES, get_implementation
from competency_cf.data.causes import degrade
from competency_cf.data.domains import Domain
from competency_cf.data.field_causes import FIELD_CAUSES
from competency_cf.data.synthesize import OOD_LABEL, render_image

NOMINAL = "nominal"
FIRST_INDEX = 1_000_000  # image indices used by scenarios, far from the dataset's
SECONDS_PER_VIEW = 2.0   # a nominal class stays in view this long
# The implementation that draws each field cause unless a segment names another (fit group).
FIELD_DEFAULTS = {"blur": "disc_defocus", "haze": "graded_haze", "occlusion": "dark_blobs",
                  "glare": "sun_flare"}


@dataclass(frozen=True)
class Segment:
    cause: str
    seconds: float
    factor: tuple[float, float] = (1.0, 1.0)
    implementation: str = ""  # field causes only; "" for FIELD_DEFAULTS
    seed: int = 0             # placement and tint of a field cause (the segment's position)

    def __post_init__(self):
        if self.cause != NOMINAL and self.cause not in EXPLAINED_CAUSES:
            raise ValueError(f"unknown segment cause {self.cause!r}; expected {NOMINAL} or one "
                             f"of {', '.join(EXPLAINED_CAUSES)}")
        if self.seconds <= 0:
            raise ValueError(f"segment length must be positive, got {self.seconds}")
        if self.implementation and self.cause not in FIELD_CAUSES:
            raise ValueError(f"only field causes ({', '.join(FIELD_CAUSES)}) take an "
                             f"implementation; {self.cause} uses the generator")
        if self.cause in FIELD_CAUSES:
            drawn_by = self.drawn_by()
            if drawn_by.cause != self.cause:
                raise ValueError(f"implementation {drawn_by.name!r} draws {drawn_by.cause}, "
                                 f"not {self.cause}")
            for factor in self.factor:
                drawn_by.check_strength(factor)

    def drawn_by(self):
        """The cause implementation that draws a field cause."""
        return get_implementation(self.implementation or FIELD_DEFAULTS[self.cause])

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
            for position, item in enumerate(entries["segments"]):
                factor = item.get("factor", 1.0)
                factor = tuple(float(f) for f in (factor if isinstance(factor, list)
                                                  else [factor, factor]))
                if len(factor) != 2:
                    raise ValueError(f"factor must be a number or [start, end], got {factor}")
                segments.append(Segment(str(item["cause"]), float(item["seconds"]), factor,
                                        str(item.get("implementation", "")), position))
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
    if segment.cause in FIELD_CAUSES:
        drawn_by = segment.drawn_by()
        strength = float(round(factor)) if drawn_by.integer else factor  # ramps over levels
        image = drawn_by.apply(image, strength, seed=segment.seed, domain=domain.name)
    elif segment.cause not in (NOMINAL, "spatial"):
        generator = torch.Generator().manual_seed(index)
        image = degrade(image, segment.cause, factor, reference_size=domain.pixelation_reference,
                        generator=generator)
    return image[0]
