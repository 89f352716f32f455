"""Fused competency: PaRCE's form with more than one witness that an image is familiar.

competency = p_max * (f + (1 - f) * sum_c p_c * Phi(z* - max_s z_{s,c}))

with p the classifier's softmax and, for every class c, two standardised distances of the image
from what the class looked like on the calibration split:

- `reconstruction`: the autoencoder's reconstruction MSE (PaRCE's own evidence);
- `features`: the Mahalanobis distance of the classifier's penultimate features from class c's
  mean (tied covariance, fitted on the training split, Lee et al. 2018).

Each is log-transformed and standardised per class on the calibration split (z = (log d - mu_c) /
sigma_c), so the two share a scale and the larger one decides. Why both: reconstruction misses
what the autoencoder reproduces well (low contrast, smooth haze) and features miss what the
classifier's features ignore; on tuning shifts the pair cut lunar silent failures by two fifths
compared with reconstruction alone at the same false-alarm budget (README, "Fused competency").

z* is not chosen to match mean competency to accuracy (PaRCE's rule, which on a 99 %-accurate
calibration split pushes z* to the end of any grid), but as the smallest value that flags at most
`false_alarm_budget` more of the correctly classified calibration images than the softmax alone
does. The default budget (0.2 %) is set by the product's own scenario: at 1 % the fused estimator
flagged three more of the lunar demo's 155 nominal frames than PaRCE (at 0.2 %, one more); on the
tuning shifts 0.2 % keeps most of the gain (lunar silent failures 7.9 % against PaRCE's 11.5 %,
6.5 % at 1 %) and ranks errors better.

The floor f (0.5 by default) bounds how far unfamiliarity alone lowers competency: an unfamiliar
image scores at most f times its softmax confidence, below the threshold, but unfamiliar images
still rank among themselves by how sure the classifier is. Without it, the familiarity term
decides the order of every shifted image and error detection within a shift fell below the
softmax's own (tuning group, lunar: AUROC 0.747 with no floor, 0.775 with 0.5, silent failures
unchanged). A higher floor lets the budget lower z*; on speed 0.85 flagged more large objects and
ranked errors a little better on the tuning group, at the price of a larger calibration gap; on
lunar it ranked errors worse (README, levers table), so the floor is chosen per domain.
The softmax is not temperature-scaled: fitted on a 99.9 %-accurate calibration split the
temperature sharpened the speed classifier's softmax (T = 0.46) and multiplied its silent
failures on the tuning shifts by ten.

Like `ParceEstimator`, scoring is differentiable with respect to the images (IGD/FGD/LGD), and a
numpy path (`competency_from_outputs`) scores the outputs of the ONNX graph.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.special import ndtr, softmax

from competency_cf.competency.detectors import squared_mahalanobis, tied_gaussian
from competency_cf.competency.parce import DEFAULT_THRESHOLD, ParceEstimator, load_record
from competency_cf.data.dataset import check_images

FUSED_JSON = "fused.json"
SIGNALS = ("reconstruction", "features")
DEFAULT_FALSE_ALARM_BUDGET = 0.002
UNFAMILIAR_FLOOR = 0.5
Z_STAR_GRID = np.round(np.arange(0.0, 15.0 + 1e-9, 0.05), 2)
_COVARIANCE_SHRINKAGE = 1e-3  # share of the mean variance added to the diagonal
_EPS = 1e-12


@dataclass
class FusedCalibration:
    """Everything the fused estimator fitted, as plain numbers (fused.json)."""

    feature_means: list[list[float]]      # (C, D), training split
    feature_precision: list[list[float]]  # (D, D), inverse of the tied covariance
    mu: list[list[float]]                 # (signals, C): mean log distance per class
    sigma: list[list[float]]              # (signals, C)
    z_star: float
    threshold: float = DEFAULT_THRESHOLD
    false_alarm_budget: float = DEFAULT_FALSE_ALARM_BUDGET
    floor: float = UNFAMILIAR_FLOOR
    classifier_sha256: str = ""           # the weights these statistics belong to
    default: bool = False                 # the domain's default estimator (see models/README.md)
    calibration_accuracy: float = float("nan")
    calibration_mean_competency: float = float("nan")
    calibration_images: int = 0

    def __post_init__(self):
        classes = len(self.feature_means)
        dim = len(self.feature_means[0]) if classes else 0
        shapes = {"feature_precision": (np.shape(self.feature_precision), (dim, dim)),
                  "mu": (np.shape(self.mu), (len(SIGNALS), classes)),
                  "sigma": (np.shape(self.sigma), (len(SIGNALS), classes))}
        for name, (actual, expected) in shapes.items():
            if classes < 2 or tuple(actual) != expected:
                raise ValueError(f"{name}: expected shape {expected}, got {tuple(actual)}")
        if not np.all(np.asarray(self.sigma) > 0):
            raise ValueError("every sigma must be positive")
        numbers = [self.feature_means, self.feature_precision, self.mu, [self.z_star]]
        if not all(np.all(np.isfinite(np.asarray(values, dtype=np.float64)))
                   for values in numbers):
            raise ValueError("feature statistics, mu and z_star must be finite")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")
        _check_floor(self.floor, self.threshold)

    @property
    def num_classes(self) -> int:
        return len(self.feature_means)

    @property
    def feature_dim(self) -> int:
        return len(self.feature_means[0])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self)) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "FusedCalibration":
        return load_record(cls, path, "fused calibration", "run `competency-cf fit-fused`")


def _log_distances_numpy(losses: np.ndarray, features: np.ndarray,
                         calibration: FusedCalibration) -> np.ndarray:
    """(signals, N, C) log distances: reconstruction MSE (same for every class), Mahalanobis."""
    means = np.asarray(calibration.feature_means)
    precision = np.asarray(calibration.feature_precision)
    centred = features[:, None, :] - means[None]
    mahalanobis = np.einsum("ncd,de,nce->nc", centred, precision, centred)
    reconstruction = np.repeat(losses.reshape(-1, 1), len(means), axis=1)
    return np.log(np.stack([reconstruction, mahalanobis]) + _EPS)


def competency_from_outputs_numpy(logits: np.ndarray, losses: np.ndarray, features: np.ndarray,
                                  calibration: FusedCalibration, z_star: float | None = None
                                  ) -> tuple[np.ndarray, np.ndarray]:
    """Competency (N,) and P(in distribution) (N,) from network outputs, in float64."""
    logits, losses, features = (np.asarray(a, dtype=np.float64) for a in (logits, losses,
                                                                          features))
    if logits.ndim != 2 or logits.shape[1] != calibration.num_classes:
        raise ValueError(f"logits: expected shape (N, {calibration.num_classes}), "
                         f"got {logits.shape}")
    if features.shape != (len(logits), calibration.feature_dim):
        raise ValueError(f"features: expected shape ({len(logits)}, {calibration.feature_dim}), "
                         f"got {features.shape}")
    probabilities = softmax(logits, axis=1)
    z = (_log_distances_numpy(losses, features, calibration) - np.asarray(calibration.mu)[:, None]
         ) / np.asarray(calibration.sigma)[:, None]
    z_star = calibration.z_star if z_star is None else z_star
    familiar = (probabilities * ndtr(z_star - z.max(axis=0))).sum(axis=1)
    in_distribution = calibration.floor + (1.0 - calibration.floor) * familiar
    return probabilities.max(axis=1) * in_distribution, in_distribution


class FusedEstimator(ParceEstimator):
    """Competency from the classifier and its autoencoder, with two familiarity signals.

    Same interface as `ParceEstimator` (score, evaluate, threshold, classifier, autoencoder);
    `fit` also needs the training split, on which the feature density is estimated.
    """

    name = "fused"

    def __init__(self, classifier, autoencoder, calibration: FusedCalibration | None = None):
        super().__init__(classifier, autoencoder)
        if calibration is not None:
            self._set_statistics(calibration)

    def _set_statistics(self, calibration: FusedCalibration) -> None:
        head = self.classifier.head
        expected = (head.out_features, head.in_features)
        if (calibration.num_classes, calibration.feature_dim) != expected:
            raise ValueError(f"fused calibration is for {calibration.num_classes} classes and "
                             f"{calibration.feature_dim} features, the classifier has "
                             f"{head.out_features} and {head.in_features}")
        device = head.weight.device
        for name in ("feature_means", "feature_precision", "mu", "sigma"):
            values = torch.tensor(getattr(calibration, name), dtype=torch.float32, device=device)
            self.register_buffer(name, values, persistent=False)
        self.calibration = calibration

    def _calibrated(self) -> FusedCalibration:
        if self.calibration is None:
            raise RuntimeError("FusedEstimator is not calibrated: call fit() or load a "
                               "fused.json")
        return self.calibration

    def _outputs(self, images: torch.Tensor):
        """Logits (N, C), reconstruction MSE (N,) and penultimate features (N, D)."""
        features = self.classifier.features(images)
        reconstruction = self.autoencoder(images)
        losses = (reconstruction - images).pow(2).flatten(1).mean(dim=1)
        return self.classifier.head(features), losses, features

    def _scored(self, images: torch.Tensor):
        """Softmax, competency, P(in distribution) and reconstruction MSE, differentiable."""
        calibration = self._calibrated()
        logits, losses, features = self._outputs(images)
        probabilities = torch.softmax(logits, dim=1)
        mahalanobis = squared_mahalanobis(features, self.feature_means, self.feature_precision)
        distances = torch.stack([losses.unsqueeze(1).expand_as(mahalanobis), mahalanobis])
        z = (torch.log(distances + _EPS) - self.mu.unsqueeze(1)) / self.sigma.unsqueeze(1)
        per_class = torch.special.ndtr(calibration.z_star - z.max(dim=0).values)
        in_distribution = calibration.floor + (1.0 - calibration.floor) * \
            (probabilities * per_class).sum(dim=1)
        competency = probabilities.max(dim=1).values * in_distribution
        return probabilities, competency, in_distribution, losses

    def competency_from_outputs(self, logits, losses, features):
        """(competency, P(in distribution)) from network outputs computed elsewhere (ONNX)."""
        return competency_from_outputs_numpy(logits, losses, features, self._calibrated())

    @torch.no_grad()
    def _network_arrays(self, images: torch.Tensor, batch_size: int):
        device = self.classifier.head.weight.device
        outputs = [self._outputs(images[s:s + batch_size].to(device))
                   for s in range(0, len(images), batch_size)]
        return [torch.cat(column).cpu().double().numpy() for column in zip(*outputs)]

    def fit(self, images: torch.Tensor, labels: torch.Tensor, train_images: torch.Tensor,
            train_labels: torch.Tensor, threshold: float = DEFAULT_THRESHOLD,
            false_alarm_budget: float = DEFAULT_FALSE_ALARM_BUDGET, batch_size: int = 256,
            classifier_sha256: str = "", default: bool = False,
            floor: float = UNFAMILIAR_FLOOR) -> "FusedEstimator":
        """Feature density on the training split; per-class statistics and z* on the
        calibration split (`images`, `labels`). `floor` must lie below `threshold`, so that an
        image unfamiliar to every class is flagged however sure the classifier is."""
        num_classes = self.classifier.head.out_features
        labels_np = _checked_labels(images, labels, num_classes, "calibration")
        train_labels_np = _checked_labels(train_images, train_labels, num_classes, "training")
        if not 0.0 <= false_alarm_budget < 1.0:
            raise ValueError(f"false_alarm_budget must lie in [0, 1), got {false_alarm_budget}")
        _check_floor(floor, threshold)  # before the network passes
        for c in range(num_classes):
            if not (train_labels_np == c).any():
                raise ValueError(f"class {c} has no training images; its feature mean needs "
                                 "at least 1")
            if (labels_np == c).sum() < 2:
                raise ValueError(f"class {c} has {(labels_np == c).sum()} calibration images; "
                                 "at least 2 are needed")
        _, _, train_features = self._network_arrays(train_images, batch_size)
        means, covariance = (values.numpy() for values in tied_gaussian(
            torch.from_numpy(train_features), torch.from_numpy(train_labels_np), num_classes))
        covariance += _COVARIANCE_SHRINKAGE * np.trace(covariance) / len(covariance) * \
            np.eye(len(covariance))
        logits, losses, features = self._network_arrays(images, batch_size)
        draft = FusedCalibration(
            feature_means=means.tolist(), feature_precision=np.linalg.inv(covariance).tolist(),
            mu=[[0.0] * num_classes] * len(SIGNALS), sigma=[[1.0] * num_classes] * len(SIGNALS),
            z_star=0.0, threshold=threshold, false_alarm_budget=false_alarm_budget, floor=floor,
            classifier_sha256=classifier_sha256, default=default)
        own = _log_distances_numpy(losses, features, draft)[:, np.arange(len(labels_np)),
                                                            labels_np]
        draft.mu = [[float(row[labels_np == c].mean()) for c in range(num_classes)] for row in own]
        draft.sigma = [[float(max(row[labels_np == c].std(ddof=1), 1e-6))
                        for c in range(num_classes)] for row in own]
        correct = logits.argmax(axis=1) == labels_np
        z_star, mean_competency = _choose_z_star(logits, losses, features, draft, correct)
        draft.z_star = z_star
        draft.calibration_accuracy = float(correct.mean())
        draft.calibration_mean_competency = mean_competency
        draft.calibration_images = len(images)
        self._set_statistics(FusedCalibration(**asdict(draft)))
        return self


def _check_floor(floor: float, threshold: float) -> None:
    """Below the threshold, so that an image unfamiliar to every class is always flagged."""
    if not 0.0 <= floor < threshold:
        raise ValueError(f"floor must lie in [0, threshold = {threshold}), got {floor}")


def _checked_labels(images, labels, num_classes: int, split: str) -> np.ndarray:
    check_images(images, f"{split} images")
    labels = torch.as_tensor(labels)
    if labels.shape != (len(images),) or labels.is_floating_point():
        raise ValueError(f"{split} labels: expected ({len(images)},) integer class indices, got "
                         f"{tuple(labels.shape)} {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{split} labels must lie in [0, {num_classes - 1}]")
    return labels.numpy().astype(np.int64)


def _choose_z_star(logits, losses, features, calibration: FusedCalibration,
                   correct: np.ndarray) -> tuple[float, float]:
    """The smallest z* on the grid whose flagged share of correct calibration images exceeds
    the softmax's own by at most the false-alarm budget; and the mean competency there."""
    threshold = calibration.threshold
    p_max = softmax(logits, axis=1).max(axis=1)
    allowed = float((p_max[correct] < threshold).mean()) + calibration.false_alarm_budget
    for z_star in Z_STAR_GRID:
        competency, _ = competency_from_outputs_numpy(logits, losses, features, calibration,
                                                      float(z_star))
        if (competency[correct] < threshold).mean() <= allowed + 1e-12:
            return float(z_star), float(competency.mean())
    return float(Z_STAR_GRID[-1]), float(competency.mean())
