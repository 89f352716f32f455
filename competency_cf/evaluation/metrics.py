"""Small, hand-checkable metrics."""

from __future__ import annotations

from pathlib import Path

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


# Reliability of a confidence score (selective prediction). `correct` says per image whether the
# classifier's prediction was right; `confidence` is any score where higher means "trust it more"
# (PaRCE competency, maximum softmax probability, a detector's score). An image is accepted when
# its confidence is at least the threshold and flagged otherwise.


def _correct_and_confidence(correct, confidence) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-d arrays: `correct` as bool, `confidence` as float64 (same non-zero length)."""
    correct = np.asarray(correct)
    confidence = np.asarray(confidence, dtype=np.float64)
    if correct.ndim != 1 or correct.shape != confidence.shape:
        raise ValueError(f"correct and confidence must be 1-d arrays of the same length, got "
                         f"shapes {correct.shape} and {confidence.shape}")
    if not len(correct):
        raise ValueError("correct and confidence are empty: nothing to measure")
    if correct.dtype != bool and not np.isin(correct, (0, 1)).all():
        raise ValueError("correct must hold booleans (or 0/1), got other values")
    if not np.isfinite(confidence).all():
        raise ValueError("confidence contains NaN or infinite values")
    return correct.astype(bool), confidence


def _finite_confidence(confidence) -> np.ndarray:
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.ndim != 1 or not len(confidence):
        raise ValueError(f"confidence must be a non-empty 1-d array, got shape {confidence.shape}")
    if not np.isfinite(confidence).all():
        raise ValueError("confidence contains NaN or infinite values")
    return confidence


def silent_failure_rate(correct, confidence, threshold: float) -> float:
    """Share of ALL images whose prediction is wrong yet accepted (confidence >= threshold)."""
    correct, confidence = _correct_and_confidence(correct, confidence)
    return float(np.mean(~correct & (confidence >= threshold)))


def flagged_rate(confidence, threshold: float) -> float:
    """Share of images flagged as untrustworthy (confidence < threshold)."""
    return float(np.mean(_finite_confidence(confidence) < threshold))


def error_detection_auroc(correct, confidence) -> float:
    """AUROC of the confidence for telling correct predictions (positive) from wrong ones.

    1.0: every correct prediction is more confident than every wrong one; 0.5: chance; ties
    count half. NaN when all predictions are correct or all are wrong (no pair to compare).
    """
    correct, confidence = _correct_and_confidence(correct, confidence)
    if correct.all() or not correct.any():
        return float("nan")
    return auroc(confidence[correct], confidence[~correct])


def risk_coverage_curve(correct, confidence) -> tuple[np.ndarray, np.ndarray]:
    """Selective risk at every coverage k/n, k = 1..n (Geifman & El-Yaniv, 2017).

    Images are accepted in order of decreasing confidence; `risk[k-1]` is the error rate among
    the k most confident. Ties: a selective classifier cannot tell tied images apart, so within
    a group of equal confidences each accepted image counts as the group's error rate, which is
    the average risk over all orders of the tied images. The result therefore does not depend
    on the input order, and a constant confidence gives the overall error rate at every coverage.
    Returns (coverage, risk), float64 arrays of length n.
    """
    correct, confidence = _correct_and_confidence(correct, confidence)
    order = np.argsort(-confidence, kind="stable")
    errors = (~correct[order]).astype(np.float64)
    confidence = confidence[order]
    # Each image gets the error rate of its tie group, so cumulative errors interpolate
    # linearly inside a group.
    _, group, group_size = np.unique(confidence, return_inverse=True, return_counts=True)
    group_errors = np.bincount(group, weights=errors)
    spread_errors = (group_errors / group_size)[group]
    count = len(correct)
    accepted = np.arange(1, count + 1, dtype=np.float64)
    return accepted / count, np.cumsum(spread_errors) / accepted


def aurc(correct, confidence) -> float:
    """Area under the risk-coverage curve: mean selective risk over coverages k/n, k = 1..n.

    As defined by Geifman et al. (2019, "Bias-reduced uncertainty estimation for deep neural
    classifiers"); lower is better, ties as in `risk_coverage_curve`.
    """
    return float(np.mean(risk_coverage_curve(correct, confidence)[1]))


def excess_aurc(correct, confidence) -> float:
    """AURC minus the AURC of an oracle that accepts every correct prediction first (E-AURC).

    The oracle's risk at coverage k/n is max(0, k - n_correct) / k; the discrete counterpart of
    Geifman et al.'s r + (1 - r) ln(1 - r). 0 for a perfect ranking, independent of accuracy.
    """
    correct, confidence = _correct_and_confidence(correct, confidence)
    accepted = np.arange(1, len(correct) + 1, dtype=np.float64)
    oracle = np.maximum(0.0, accepted - correct.sum()) / accepted
    return aurc(correct, confidence) - float(oracle.mean())


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


class InceptionFeatures(torch.nn.Module):
    """2048-d pool features of torchvision's Inception-v3, from a local safetensors file.

    Nothing is downloaded: `weights` is a torchvision `inception_v3` state dict (an auxiliary
    classifier's tensors are ignored). Images are resized to 299 px and ImageNet-normalised.
    These are torchvision's ImageNet weights, close to but not identical with the TF-Inception
    network behind published FID figures.
    """

    num_features = 2048

    def __init__(self, weights: str | Path):
        super().__init__()
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        from torchvision.models import inception_v3

        path = Path(weights)
        if not path.is_file():
            raise FileNotFoundError(f"Inception-v3 weights not found: {path}")
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as error:
            raise ValueError(f"{path}: not a readable safetensors file ({error})") from error
        self.network = inception_v3(weights=None, aux_logits=False, init_weights=False)
        state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
        try:
            self.network.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"{path}: not torchvision Inception-v3 weights ({error})") from error
        self.network.fc = torch.nn.Identity()
        self.network.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = torch.nn.functional.interpolate(images, size=(299, 299), mode="bilinear",
                                                 align_corners=False)
        return self.network((images - self.mean) / self.std)


def fid_kid(real: torch.Tensor, generated: torch.Tensor, features: torch.nn.Module,
            num_features: int, chunk: int = 100) -> tuple[float, float]:
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
        for images, is_real in ((real, True), (generated, False)):
            for start in range(0, len(images), chunk):  # bounds memory for large extractors
                part = images[start:start + chunk].clamp(0, 1)
                fid.update(part, real=is_real)
                kid.update(part, real=is_real)
        kid_mean, _ = kid.compute()
        return float(fid.compute()), float(kid_mean) * 1000.0
