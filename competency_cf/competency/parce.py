"""PaRCE: probabilistic and reconstruction-based competency estimation.

competency = p_max * sum_c p_c * (1 - Phi((L - 2 mu_c) / sigma_c - z*))

with p the classifier's softmax, L the autoencoder's reconstruction MSE of the image, (mu_c,
sigma_c) the mean and std of L over calibration images of true class c, and z* chosen on a grid so
that mean competency on the calibration split equals the classifier's accuracy there. Each image's
loss is paired with its own softmax.

Two scoring paths share one calibration: `ParceEstimator.score` (torch, differentiable through
classifier and autoencoder, for gradient-based counterfactuals) and `competency_numpy` (numpy, on
network outputs, for inference back-ends that are not torch).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.special import ndtr, softmax
from torch import nn

from competency_cf.data.dataset import check_images
from competency_cf.networks.autoencoder import ConvAutoencoder
from competency_cf.networks.classifier import ConvClassifier

PARCE_JSON = "parce.json"
DEFAULT_THRESHOLD = 0.9
Z_STAR_GRID = np.round(np.arange(0.0, 5.0 + 1e-9, 0.05), 2)
_MIN_SIGMA = 1e-8


@dataclass
class ParceCalibration:
    """Per-class loss statistics, z*, the decision threshold and what the fit measured."""

    mu: list[float]
    sigma: list[float]
    z_star: float
    threshold: float = DEFAULT_THRESHOLD
    calibration_accuracy: float = float("nan")
    calibration_mean_competency: float = float("nan")
    calibration_images: int = 0

    def __post_init__(self):
        if len(self.mu) != len(self.sigma) or not self.mu:
            raise ValueError(f"mu and sigma need one entry per class, got {len(self.mu)} and "
                             f"{len(self.sigma)}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")
        if not all(np.isfinite(self.mu)) or not all(s > 0 for s in self.sigma):
            raise ValueError("mu must be finite and sigma positive for every class")

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ParceCalibration":
        return load_record(cls, path, "PaRCE calibration",
                           "run `competency-cf train`, which calibrates")


def load_record(cls, path: str | Path, what: str, remedy: str):
    """A dataclass from its JSON file; refuses a missing or invalid file with its path named."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found ({remedy})")
    try:
        return cls(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: invalid {what} ({error})") from None


def competency_numpy(probabilities: np.ndarray, losses: np.ndarray, calibration: ParceCalibration,
                     z_star: float | None = None) -> np.ndarray:
    """Competency (N,) from softmax probabilities (N, C) and reconstruction losses (N,)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64).reshape(-1, 1)
    mu, sigma = np.asarray(calibration.mu), np.asarray(calibration.sigma)
    if probabilities.ndim != 2 or probabilities.shape[1] != len(mu):
        raise ValueError(f"probabilities: expected shape (N, {len(mu)}), "
                         f"got {probabilities.shape}")
    z = calibration.z_star if z_star is None else z_star
    in_distribution = ndtr(-((losses - 2.0 * mu) / sigma - z))
    return probabilities.max(axis=1) * (probabilities * in_distribution).sum(axis=1)


def competency_torch(probabilities: torch.Tensor, losses: torch.Tensor, mu: torch.Tensor,
                     sigma: torch.Tensor, z_star: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable competency (N,) and in-distribution probability (N,)."""
    per_class = torch.special.ndtr(-((losses.unsqueeze(1) - 2.0 * mu) / sigma - z_star))
    in_distribution = (probabilities * per_class).sum(dim=1)
    return probabilities.max(dim=1).values * in_distribution, in_distribution


@dataclass
class CompetencyResult:
    """Everything PaRCE computes for a batch (tensors of length N)."""

    competency: torch.Tensor
    prediction: torch.Tensor
    p_max: torch.Tensor
    p_in_distribution: torch.Tensor
    reconstruction_loss: torch.Tensor
    probabilities: torch.Tensor


class ParceEstimator(nn.Module):
    """Competency of a classifier on images, from the classifier and its autoencoder."""

    name = "parce"

    def __init__(self, classifier: ConvClassifier, autoencoder: ConvAutoencoder,
                 calibration: ParceCalibration | None = None):
        super().__init__()
        self.classifier = classifier
        self.autoencoder = autoencoder
        self.calibration = calibration
        if calibration is not None:
            self._set_statistics(calibration)

    def _set_statistics(self, calibration: ParceCalibration) -> None:
        count = self.classifier.head.out_features
        if len(calibration.mu) != count:
            raise ValueError(f"calibration has {len(calibration.mu)} classes, classifier {count}")
        device = self.classifier.head.weight.device
        for name in ("mu", "sigma"):
            values = torch.tensor(getattr(calibration, name), dtype=torch.float32, device=device)
            self.register_buffer(name, values, persistent=False)
        self.calibration = calibration

    @property
    def threshold(self) -> float:
        return self._calibrated().threshold

    def _calibrated(self) -> ParceCalibration:
        if self.calibration is None:
            raise RuntimeError("ParceEstimator is not calibrated: call fit() or load a parce.json")
        return self.calibration

    def network_outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax probabilities (N, C) and reconstruction MSE (N,), differentiable."""
        probabilities = torch.softmax(self.classifier(images), dim=1)
        reconstruction = self.autoencoder(images)
        losses = (reconstruction - images).pow(2).flatten(1).mean(dim=1)
        return probabilities, losses

    def _scored(self, images: torch.Tensor):
        """Softmax (N, C), competency (N,), P(in distribution) (N,) and reconstruction MSE (N,),
        differentiable; the one place an estimator says how it scores."""
        z_star = self._calibrated().z_star
        probabilities, losses = self.network_outputs(images)
        competency, p_id = competency_torch(probabilities, losses, self.mu, self.sigma, z_star)
        return probabilities, competency, p_id, losses

    def score(self, images: torch.Tensor) -> torch.Tensor:
        """Competency (N,) of images (N, 3, H, W) in [0, 1]; differentiable w.r.t. the images."""
        return self._scored(images)[1]

    @torch.no_grad()
    def evaluate(self, images: torch.Tensor, batch_size: int = 256) -> CompetencyResult:
        """Competency and its parts for a validated batch, computed in chunks without gradients."""
        self._calibrated()
        check_images(images)
        parts = []
        device = self.mu.device
        for start in range(0, len(images), batch_size):
            probabilities, competency, p_id, losses = self._scored(
                images[start:start + batch_size].to(device))
            p_max, prediction = probabilities.max(dim=1)
            parts.append((competency, prediction, p_max, p_id, losses, probabilities))
        columns = [torch.cat(column).cpu() for column in zip(*parts)] if parts else \
            [torch.empty(0)] * 5 + [torch.empty(0, self.classifier.head.out_features)]
        return CompetencyResult(*columns)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, labels: torch.Tensor, threshold: float = DEFAULT_THRESHOLD,
            batch_size: int = 256) -> "ParceEstimator":
        """Calibrate on a holdout split: per-class loss statistics, then z* on the grid."""
        check_images(images, "calibration images")
        labels = torch.as_tensor(labels, dtype=torch.int64)
        num_classes = self.classifier.head.out_features
        if labels.shape != (len(images),):
            raise ValueError(f"labels: expected shape ({len(images)},), got {tuple(labels.shape)}")
        device = self.classifier.head.weight.device
        outputs = [self.network_outputs(images[s:s + batch_size].to(device))
                   for s in range(0, len(images), batch_size)]
        probabilities = torch.cat([p for p, _ in outputs]).cpu().double().numpy()
        losses = torch.cat([l for _, l in outputs]).cpu().double().numpy()
        labels_np = labels.numpy()
        mu, sigma = [], []
        for label in range(num_classes):
            class_losses = losses[labels_np == label]
            if len(class_losses) < 2:
                raise ValueError(f"class {label} has {len(class_losses)} calibration images; "
                                 f"at least 2 are needed for its loss statistics")
            mu.append(float(class_losses.mean()))
            sigma.append(float(max(class_losses.std(ddof=1), _MIN_SIGMA)))
        accuracy = float((probabilities.argmax(axis=1) == labels_np).mean())
        draft = ParceCalibration(mu=mu, sigma=sigma, z_star=0.0, threshold=threshold)
        means = np.array([competency_numpy(probabilities, losses, draft, z).mean()
                          for z in Z_STAR_GRID])
        best = int(np.argmin(np.abs(means - accuracy)))
        self._set_statistics(ParceCalibration(
            mu=mu, sigma=sigma, z_star=float(Z_STAR_GRID[best]), threshold=threshold,
            calibration_accuracy=accuracy, calibration_mean_competency=float(means[best]),
            calibration_images=len(images)))
        return self

    def competency_from_outputs(self, logits: np.ndarray, losses: np.ndarray,
                                features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(competency, P(in distribution)) from network outputs computed elsewhere (ONNX)."""
        probabilities = softmax(np.asarray(logits, dtype=np.float64), axis=1)
        competency = competency_numpy(probabilities, losses, self._calibrated())
        return competency, competency / np.maximum(probabilities.max(axis=1), 1e-12)

    def score_numpy(self, probabilities: np.ndarray, losses: np.ndarray) -> np.ndarray:
        """Competency from network outputs computed elsewhere (e.g. another inference runtime)."""
        return competency_numpy(probabilities, losses, self._calibrated())


ESTIMATORS = ("auto", "parce", "fused")


def load_estimator(directory: str | Path, device: str | torch.device = "cpu",
                   kind: str = "parce") -> ParceEstimator:
    """A calibrated estimator from a `models/<domain>/` directory.

    kind: `parce` (the paper's estimator, parce.json), `fused` (fused.json, see
    `competency.fused`) or `auto` (fused where the directory's fused.json is marked as its
    default, PaRCE otherwise).
    """
    from competency_cf.competency.fused import FUSED_JSON, FusedCalibration, FusedEstimator
    from competency_cf.networks.store import load_models, read_model_json

    if kind not in ESTIMATORS:
        raise ValueError(f"unknown estimator {kind!r}; choose one of {', '.join(ESTIMATORS)}")
    directory = Path(directory)
    models = load_models(directory, device)
    if kind == "auto":
        fused_path = directory / FUSED_JSON
        kind = "fused" if fused_path.is_file() and FusedCalibration.load(fused_path).default \
            else "parce"
    if kind == "parce":
        calibration = ParceCalibration.load(directory / PARCE_JSON)
        try:
            return ParceEstimator(models.classifier, models.autoencoder, calibration).eval()
        except ValueError as error:  # statistics for another classifier: name the file
            raise ValueError(f"{directory / PARCE_JSON}: {error}") from None
    calibration = FusedCalibration.load(directory / FUSED_JSON)
    weights = read_model_json(directory)["sha256"].get("classifier.safetensors", "")
    if calibration.classifier_sha256 != weights:
        raise ValueError(f"{directory / FUSED_JSON}: fitted for classifier weights "
                         f"{calibration.classifier_sha256[:12] or 'unknown'}, but "
                         f"classifier.safetensors is {weights[:12]}; refit it with "
                         "`competency-cf fit-fused`")
    try:
        return FusedEstimator(models.classifier, models.autoencoder, calibration).eval()
    except ValueError as error:  # statistics for another classifier: name the file
        raise ValueError(f"{directory / FUSED_JSON}: {error}") from None
