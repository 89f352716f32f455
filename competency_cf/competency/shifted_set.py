"""The shifted set: low-competency frames made by every implementation of every cause.

Fresh renders (image indices from `SHIFT_RENDER_INDEX`) that the classifier gets right with
competency at or above the threshold are degraded by each implementation of
`data.cause_implementations` at random strengths; only frames whose competency then falls below
the threshold are kept, since the explainer only ever sees those. Each implementation draws its
frame order, strengths and noise seeds from its own stream seeded by (seed, implementation name),
so a result depends on nothing but the seed, the estimator and the clean frames, and adding an
implementation leaves the others' frames unchanged.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.data.cause_implementations import (IMPLEMENTATIONS, SHIFT_RENDER_INDEX,
                                                      CauseImplementation)
from competency_cf.data.dataset import ImageSet
from competency_cf.data.domains import Domain

# Clean renders per kept frame and implementation: some implementations at weak strengths rarely
# drop competency below the threshold, so each gets several tries per frame it must keep.
CLEAN_FRAMES_PER_KEPT = 8
_MAX_FRAME_SEED = 2 ** 31 - 1


@dataclass
class ShiftedSet:
    """Low-competency degraded frames, each with what degraded it."""

    images: torch.Tensor          # (N, 3, H, W) float32 in [0, 1]
    causes: np.ndarray            # (N,) str, one of CAUSES
    directions: np.ndarray        # (N,) str, HIGH or LOW
    implementations: np.ndarray   # (N,) str, implementation names
    groups: np.ndarray            # (N,) str, "fit" or "held_out"
    strengths: np.ndarray         # (N,) float, NaN for implementations without a strength
    competency: np.ndarray        # (N,) competency of the degraded frame (below the threshold)
    source_index: np.ndarray      # (N,) int, index of the clean frame among the renders
    threshold: float
    tried: dict[str, int] = field(default_factory=dict)  # frames degraded per implementation

    def __len__(self) -> int:
        return len(self.images)

    def kept(self) -> dict[str, int]:
        """Frames kept per implementation (in the order they were tried)."""
        return {name: int((self.implementations == name).sum()) for name in self.tried}


def competent_frames(estimator, clean: ImageSet) -> np.ndarray:
    """Indices of the clean frames classified correctly with competency at the threshold or
    above: the frames a degradation can turn into low-competency ones."""
    scored = estimator.evaluate(clean.images)
    correct = (scored.prediction == clean.labels).numpy()
    return np.flatnonzero(correct & (scored.competency.numpy() >= estimator.threshold))


def _frames_to_try(total: int, needed: int) -> int:
    return min(total, max(8, 2 * needed))


def shift_frames(estimator, clean: ImageSet, domain: str, per_implementation: int,
                 seed: int = 0, implementations: tuple[CauseImplementation, ...] = IMPLEMENTATIONS,
                 show_progress: bool = True) -> ShiftedSet:
    """Up to `per_implementation` low-competency frames per implementation, from the competent
    frames of `clean` (views of `domain`), each frame used at most once per implementation.

    An implementation that cannot bring enough frames below the threshold keeps fewer; `tried`
    says how many frames it degraded to find the ones it kept.
    """
    if isinstance(per_implementation, bool) or not isinstance(per_implementation, int) \
            or per_implementation < 1:
        raise ValueError(f"per_implementation must be a positive integer, got "
                         f"{per_implementation!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    pool = competent_frames(estimator, clean)
    threshold = float(estimator.threshold)
    parts: list[dict] = []
    tried: dict[str, int] = {}
    progress = tqdm(implementations, desc=f"shifted set ({domain})", unit="impl",
                    disable=not show_progress)
    for impl in progress:
        rng = np.random.default_rng([int(seed), zlib.crc32(impl.name.encode())])
        # Everything random is drawn up front, so how frames are batched changes nothing.
        order = pool[rng.permutation(len(pool))]
        strengths = np.array([impl.sample_strength(rng) for _ in order])
        frame_seeds = rng.integers(0, _MAX_FRAME_SEED, size=len(order))
        kept_rows: list[np.ndarray] = []
        kept_images: list[torch.Tensor] = []
        kept_competency: list[np.ndarray] = []
        start, found, tried[impl.name] = 0, 0, len(order)
        while found < per_implementation and start < len(order):
            stop = start + _frames_to_try(len(order) - start, per_implementation - found)
            degraded = torch.cat([impl.apply(clean.images[order[i]:order[i] + 1],
                                             strengths[i], int(frame_seeds[i]), domain)
                                  for i in range(start, stop)])
            competency = estimator.evaluate(degraded).competency.numpy().astype(np.float64)
            below = np.flatnonzero(competency < threshold)[:per_implementation - found]
            kept_rows.append(start + below)
            kept_images.append(degraded[torch.from_numpy(below)])
            kept_competency.append(competency[below])
            found += len(below)
            if found >= per_implementation:
                tried[impl.name] = start + int(below[-1]) + 1
            start = stop
        rows = np.concatenate(kept_rows) if kept_rows else np.empty(0, dtype=np.int64)
        parts.append(dict(
            images=(torch.cat(kept_images) if kept_images
                    else clean.images[:0].clone()),
            causes=np.full(len(rows), impl.cause), directions=np.full(len(rows), impl.direction),
            implementations=np.full(len(rows), impl.name), groups=np.full(len(rows), impl.group),
            strengths=strengths[rows].astype(np.float64),
            competency=(np.concatenate(kept_competency) if kept_competency
                        else np.empty(0, dtype=np.float64)),
            source_index=order[rows].astype(np.int64)))
        progress.set_postfix_str(f"{impl.name}: {len(rows)}/{tried[impl.name]}")
    if not parts:
        raise ValueError("no implementations given")
    return _concatenate(parts, threshold, tried)


def _concatenate(parts: list[dict], threshold: float, tried: dict[str, int]) -> ShiftedSet:
    merged = {key: (torch.cat([part[key] for part in parts]) if key == "images"
                    else np.concatenate([part[key] for part in parts])) for key in parts[0]}
    return ShiftedSet(**merged, threshold=threshold, tried=tried)


def merge_shifted(sets: list[ShiftedSet]) -> ShiftedSet:
    """One set holding the frames of `sets` (same threshold), in order."""
    if not sets:
        raise ValueError("nothing to merge")
    if len({s.threshold for s in sets}) != 1:
        raise ValueError("shifted sets made at different thresholds cannot be merged")
    keys = [key for key in ShiftedSet.__dataclass_fields__ if key not in ("threshold", "tried")]
    return _concatenate([{key: getattr(s, key) for key in keys} for s in sets],
                        sets[0].threshold, {k: v for s in sets for k, v in s.tried.items()})


def render_clean_frames(domain: Domain, per_class: int) -> ImageSet:
    """`per_class` fresh renders of each class, at image indices from `SHIFT_RENDER_INDEX`."""
    from competency_cf.data.synthesize import render_sample

    return render_sample(domain, per_class=per_class, offset=SHIFT_RENDER_INDEX)


def build_shifted_set(estimator, domain: Domain, per_implementation: int, seed: int = 0,
                      clean_per_class: int | None = None,
                      implementations: tuple[CauseImplementation, ...] = IMPLEMENTATIONS,
                      show_progress: bool = True) -> ShiftedSet:
    """The shifted set of `domain` on fresh renders: `clean_per_class` renders per class
    (default: enough for `CLEAN_FRAMES_PER_KEPT` tries per frame to keep)."""
    if clean_per_class is None:
        clean_per_class = math.ceil(CLEAN_FRAMES_PER_KEPT * per_implementation
                                    / domain.num_classes)
    clean = render_clean_frames(domain, clean_per_class)
    return shift_frames(estimator, clean, domain.name, per_implementation, seed,
                        implementations, show_progress)
