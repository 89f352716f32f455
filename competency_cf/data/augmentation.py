"""Training augmentation: copies of a training set, corrupted or AugMix-ed, for the classifier.

Why: a classifier that has seen some blur and noise stays right more often under shifts it has
never seen, so fewer of its errors pass with high competency. Two kinds of copy:

- **corrupted:** each image by one of the given corruptions at a random severity. Only
  `TUNING_CORRUPTIONS` may be used (the held-out ones are for reporting only); anything else is
  refused.
- **AugMix** (Hendrycks et al., ICLR 2020): each image a random mix of short chains of
  operations. As in the paper, only the operations that overlap none of the common corruptions
  (autocontrast, equalize, posterize, solarize, rotations, shears, translations); the colour,
  contrast, brightness and sharpness operations are left out, so no held-out shift is trained on.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from competency_cf.data.corruptions import SEVERITIES, TUNING_CORRUPTIONS, corrupt
from competency_cf.data.dataset import ImageSet, from_uint8, to_uint8


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


def augmix_copy(images: torch.Tensor, seed: int = 0, severity: int = 3) -> torch.Tensor:
    """Each image AugMix-ed once (8-bit, as the operations expect); the same seed gives the same
    copy, and the global random state is left as it was."""
    from torchvision.transforms import v2

    augmix = v2.AugMix(severity=severity, all_ops=False)
    quantised = torch.from_numpy(to_uint8(images))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        copy = torch.stack([augmix(image) for image in quantised])
    return from_uint8(copy.numpy())


def augmented(data: ImageSet, corruptions: Sequence[str] = (), seed: int = 0,
              augmix: bool = False) -> ImageSet:
    """The set, then one corrupted copy of it if `corruptions` are given, then one AugMix copy if
    `augmix` (labels repeated)."""
    if not corruptions and not augmix:
        raise ValueError("augmentation needs corruptions, AugMix or both")
    parts = [data.images]
    if corruptions:
        parts.append(corrupted_copy(data.images, corruptions, seed))
    if augmix:
        parts.append(augmix_copy(data.images, seed))
    return ImageSet(torch.cat(parts), data.labels.repeat(len(parts)))
