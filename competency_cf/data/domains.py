"""The built-in procedural domains: what is rendered, how much, and the degradation factors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from competency_cf.data import lunar, speed

RenderFn = Callable[[np.random.Generator, int, int], np.ndarray]
RenderOodFn = Callable[[np.random.Generator, int], np.ndarray]


@dataclass(frozen=True)
class Domain:
    """A procedural image domain.

    `factors` are the per-cause degradation strengths in the order the example set tries them (the
    paper code's tables). Pixelation factors are block sizes at `pixelation_reference` pixels; see
    `competency_cf.data.causes.pixelation_side`.
    """

    name: str
    class_names: tuple[str, ...]
    ood_name: str
    render: RenderFn
    render_ood: RenderOodFn
    factors: Mapping[str, tuple[float, ...]]
    pixelation_reference: int
    image_size: int = 64
    images_per_class: int = 700
    ood_images: int = 600
    seed: int = 0
    renderer_module: str = field(default="", compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


_NOISE = (20.0, 40.0, 60.0, 80.0, 100.0, 120.0)

LUNAR = Domain(
    name="lunar",
    class_names=lunar.CLASS_NAMES,
    ood_name=lunar.OOD_NAME,
    render=lunar.render_lunar,
    render_ood=lunar.render_lunar_ood,
    factors={
        "brightness": (0.5, 0.75, 1.25, 1.5, 2.0, 3.0),
        "contrast": (0.25, 0.5, 1.5, 2.0, 3.0, 4.0),
        "saturation": (0.0, 5.0, 10.0, 15.0, 20.0, 25.0),
        "noise": _NOISE,
        "pixelation": (10.0, 20.0, 25.0, 30.0, 35.0, 40.0),
    },
    # Factor 10 reduces a view to 26 px per side, factor 40 to 6 px.
    pixelation_reference=256,
    renderer_module=lunar.__name__,
)

SPEED = Domain(
    name="speed",
    class_names=speed.CLASS_NAMES,
    ood_name=speed.OOD_NAME,
    render=speed.render_speed,
    render_ood=speed.render_speed_ood,
    factors={
        "brightness": (0.25, 0.5, 2.0, 3.0, 4.0, 5.0),
        "contrast": (0.25, 0.5, 2.0, 3.0, 4.0, 5.0),
        "saturation": (0.0, 2.0, 4.0, 8.0, 12.0, 16.0),
        "noise": _NOISE,
        "pixelation": (4.0, 8.0, 12.0, 16.0, 20.0, 24.0),
    },
    # Factor 4 reduces a sign to 32 px per side, factor 24 to 5 px.
    pixelation_reference=128,
    renderer_module=speed.__name__,
)

DOMAINS: dict[str, Domain] = {domain.name: domain for domain in (LUNAR, SPEED)}


def get_domain(name: str) -> Domain:
    """The built-in domain called `name`, with a clear error for anything else."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise ValueError(f"unknown domain {name!r}; built-in domains are: "
                         f"{', '.join(sorted(DOMAINS))}") from None
