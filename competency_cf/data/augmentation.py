"""Training augmentation: one corrupted copy of a training set, drawn from the tuning corruptions.

Why: a classifier that has seen some blur and noise stays right more often under shifts it has
never seen, so fewer of its errors pass with high competency. Only `TUNING_CORRUPTIONS` may be
used (the held-out ones are for reporting only); anything else is refused.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from competency_cf.data.corruptions import SEVERITIES, TUNING_CORRUPTIONS, corrupt
from competency_cf.data.dataset import ImageSet


def check_augmentation(corruptions: Sequence[str]) -> tuple[str, ...]:
    """The names as a tuple; refuses an empty list, duplicates and anything not in the tuning
    group."""
    names = tuple(corruptions)
    if not names:
        raise ValueError("augmentation needs at least one corruption")
    if len(set(names)) != len(names):
        raise ValueError(f"augmentation corruptions repeat: {', '.join(names)}")
    outside = [name for name in names if name not in TUNING_CORRUPTIONS]
    if outside:
        raise ValueError(f"augmentation may only use the tuning corruptions "
                         f"({', '.join(TUNING_CORRUPTIONS)}); got {', '.join(outside)}")
    return names


def corrupted_copy(images: torch.Tensor, corruptions: Sequence[str], seed: int = 0
                   ) -> torch.Tensor:
    """Each image corrupted once, by a corruption drawn uniformly from `corruptions` at a severity
    drawn uniformly from 1..5; the same seed gives the same copy."""
    names = check_augmentation(corruptions)
    rng = np.random.default_rng(seed)
    drawn = rng.choice(len(names), len(images))
    severities = rng.choice(SEVERITIES, len(images))
    copy = images.clone()
    for which, name in enumerate(names):
        for severity in SEVERITIES:
            index = np.flatnonzero((drawn == which) & (severities == severity))
            if len(index):
                copy[index] = corrupt(images[index], name, int(severity), seed=seed)
    return copy


def augmented(data: ImageSet, corruptions: Sequence[str], seed: int = 0) -> ImageSet:
    """The set followed by one corrupted copy of it (labels repeated)."""
    copy = corrupted_copy(data.images, corruptions, seed)
    return ImageSet(torch.cat([data.images, copy]), torch.cat([data.labels, data.labels]))
