"""Small, hand-checkable metrics."""

from __future__ import annotations

import numpy as np
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
