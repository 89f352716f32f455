"""Small, hand-checkable metrics."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata


def auroc(positive_scores, negative_scores) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count half.

    Computed exactly from ranks (the Mann-Whitney U statistic).
    """
    positive = np.asarray(positive_scores, dtype=np.float64).ravel()
    negative = np.asarray(negative_scores, dtype=np.float64).ravel()
    if not len(positive) or not len(negative):
        raise ValueError("auroc needs at least one positive and one negative score")
    ranks = rankdata(np.concatenate([positive, negative]))
    u = ranks[:len(positive)].sum() - len(positive) * (len(positive) + 1) / 2.0
    return float(u / (len(positive) * len(negative)))


def mean_cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over rows of the cosine similarity between (N, D) tensors (NaN when empty)."""
    if len(a) == 0:
        return float("nan")
    return float(torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1).mean())


class FeatureModule(torch.nn.Module):
    """Feature extractor for torchmetrics FID/KID: images in [0, 1] (or uint8) -> (N, D)."""

    def __init__(self, features: torch.nn.Module, num_features: int):
        super().__init__()
        self.features = features
        self.num_features = num_features  # torchmetrics reads this instead of probing

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype == torch.uint8:
            images = images.float() / 255.0
        return self.features(images).double()


def fid_kid(real: torch.Tensor, generated: torch.Tensor, features: torch.nn.Module,
            num_features: int) -> tuple[float, float]:
    """FID and KID (x 1000) between image sets in [0, 1], on the given feature extractor."""
    import warnings

    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    if len(generated) < 2 or len(real) < 2:
        return float("nan"), float("nan")
    extractor = FeatureModule(features, num_features)
    with warnings.catch_warnings():  # KID's notice that it buffers features
        warnings.simplefilter("ignore", UserWarning)
        fid = FrechetInceptionDistance(feature=extractor, normalize=True)
        kid = KernelInceptionDistance(feature=extractor, normalize=True,
                                      subset_size=min(50, len(generated), len(real)))
    # KID draws random subsets: a private, seeded random stream makes reruns agree.
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        for metric in (fid, kid):
            metric.update(real.clamp(0, 1), real=True)
            metric.update(generated.clamp(0, 1), real=False)
        kid_mean, _ = kid.compute()
        return float(fid.compute()), float(kid_mean) * 1000.0
