"""Standard out-of-distribution and error detectors, scored side by side with PaRCE.

Every detector follows one vocabulary: `fit(images, labels)` on in-distribution images (training
or calibration split), then `score(images)` -> (N,) float32 tensor on the CPU where HIGHER means
more confident that the prediction is right / the image is in-distribution. Images follow the
project's convention (float32 NCHW RGB in [0, 1]). Networks run on the classifier's device, in
evaluation mode, without gradients, `batch_size` images at a time.

Feature detectors read the classifier's penultimate features (`classifier.features(images)`)
and its logits (`classifier.head(features)`).
"""

from __future__ import annotations

from contextlib import contextmanager
from types import MappingProxyType

import torch
from torch import nn

from competency_cf.data.dataset import check_images

DEFAULT_BATCH_SIZE = 256
# Largest query x bank distance matrix KNN holds at once (float64 entries, 128 MiB).
KNN_DISTANCE_ENTRIES = 1 << 24


def _device_of(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


@contextmanager
def _evaluation_mode(module: nn.Module):
    """Runs a module in evaluation mode (batch norm statistics frozen), then restores its mode."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def tied_gaussian(features: torch.Tensor, labels: torch.Tensor, num_classes: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Class means (C, D) and the covariance (D, D) all classes share, in float64, from features
    (N, D) and their true labels; every class needs at least one image."""
    features = features.double()
    counts = torch.bincount(labels, minlength=num_classes)
    if (counts == 0).any():
        missing = torch.nonzero(counts == 0).flatten().tolist()
        raise ValueError(f"fit needs images of every class, none of {missing}")
    means = torch.zeros(num_classes, features.shape[1], dtype=torch.float64,
                        device=features.device).index_add_(0, labels, features)
    means = means / counts.unsqueeze(1)
    centered = features - means[labels]
    return means, centered.T @ centered / len(features)


def squared_mahalanobis(features: torch.Tensor, means: torch.Tensor,
                        precision: torch.Tensor) -> torch.Tensor:
    """(N, C) squared Mahalanobis distances of features (N, D) from each class mean (C, D)."""
    differences = features.unsqueeze(1) - means
    return torch.einsum("ncd,de,nce->nc", differences, precision, differences)


class Detector:
    """A confidence score for a classifier's predictions; subclasses say how it is computed."""

    name = "detector"
    requires_fit = True

    def __init__(self, classifier: nn.Module, batch_size: int = DEFAULT_BATCH_SIZE):
        head = getattr(classifier, "head", None)
        if not hasattr(classifier, "features") or not isinstance(head, nn.Linear):
            raise TypeError(f"{self.name}: expected a classifier with `features` and a linear "
                            f"`head` (ConvClassifier), got {type(classifier).__name__}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.classifier = classifier
        self.batch_size = int(batch_size)
        self.fitted = False

    @property
    def num_classes(self) -> int:
        return self.classifier.head.out_features

    def fit(self, images: torch.Tensor, labels: torch.Tensor) -> "Detector":
        """Estimate what the score needs from in-distribution images and their true labels."""
        self.fitted = False  # a failed fit leaves no half-updated statistics in use
        check_images(images, f"{self.name} fit images")
        labels = self._check_labels(images, labels)
        features, logits = self._outputs(images)
        with torch.no_grad():
            self._fit_outputs(features, logits, labels.to(features.device))
        self.fitted = True
        return self

    def score(self, images: torch.Tensor) -> torch.Tensor:
        """(N,) float32 on the CPU; higher = more confident the prediction can be trusted."""
        if self.requires_fit and not self.fitted:
            raise RuntimeError(f"{self.name}: call fit(images, labels) on in-distribution images "
                               f"before score()")
        check_images(images)
        scores = []
        with torch.no_grad(), _evaluation_mode(self.classifier):
            device = _device_of(self.classifier)
            for start in range(0, len(images), self.batch_size):
                features = self.classifier.features(images[start:start + self.batch_size]
                                                    .to(device))
                scores.append(self._score_outputs(features, self.classifier.head(features))
                              .float().cpu())
        return torch.cat(scores) if scores else torch.empty(0)

    def _fit_outputs(self, features: torch.Tensor, logits: torch.Tensor,
                     labels: torch.Tensor) -> None:
        """Fit from penultimate features (N, D), logits (N, C) and labels (N,)."""

    def _score_outputs(self, features: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _outputs(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Penultimate features (N, D) and logits (N, C) on the classifier's device, batched."""
        features, logits = [], []
        with torch.no_grad(), _evaluation_mode(self.classifier):
            device = _device_of(self.classifier)
            for start in range(0, len(images), self.batch_size):
                chunk = self.classifier.features(images[start:start + self.batch_size].to(device))
                features.append(chunk)
                logits.append(self.classifier.head(chunk))
        if not features:
            raise ValueError(f"{self.name}: fit needs at least one image")
        return torch.cat(features), torch.cat(logits)

    def _check_labels(self, images: torch.Tensor, labels) -> torch.Tensor:
        labels = torch.as_tensor(labels)
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise TypeError(f"{self.name}: labels must be integer class indices, "
                            f"got {labels.dtype}")
        count = len(images)
        if labels.shape != (count,):
            raise ValueError(f"{self.name}: labels: expected shape ({count},), "
                             f"got {tuple(labels.shape)}")
        if count and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"{self.name}: labels must lie in [0, {self.num_classes - 1}], got "
                             f"[{int(labels.min())}, {int(labels.max())}]")
        return labels.to(torch.int64)


class MaxSoftmaxDetector(Detector):
    """Maximum softmax probability (Hendrycks & Gimpel, 2017). Needs no fit."""

    name = "msp"
    requires_fit = False

    def _score_outputs(self, features, logits):
        return torch.softmax(logits, dim=1).max(dim=1).values


class EnergyDetector(Detector):
    """Negative free energy T * logsumexp(logits / T) (Liu et al., 2020), T = 1 by default.
    Needs no fit."""

    name = "energy"
    requires_fit = False

    def __init__(self, classifier: nn.Module, temperature: float = 1.0,
                 batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(classifier, batch_size)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = float(temperature)

    def _score_outputs(self, features, logits):
        return self.temperature * torch.logsumexp(logits / self.temperature, dim=1)


class MahalanobisDetector(Detector):
    """Negative smallest squared Mahalanobis distance to a class mean (Lee et al., 2018).

    Class-conditional Gaussians on the penultimate features with one covariance shared by all
    classes, fitted on the true labels; the precision is the pseudo-inverse of that covariance,
    as in the paper's reference code, so a direction without variance on the fit set (a ReLU
    unit never active there) does not count. Without the paper's input perturbation and feature
    ensemble: the score of its penultimate layer alone.
    """

    name = "mahalanobis"

    def _fit_outputs(self, features, logits, labels):
        try:
            self.class_means, covariance = tied_gaussian(features, labels, self.num_classes)
        except ValueError as error:
            raise ValueError(f"{self.name}: {error}") from None
        self.precision = torch.linalg.pinv(covariance, hermitian=True)

    def _score_outputs(self, features, logits):
        distances = squared_mahalanobis(features.double(), self.class_means, self.precision)
        return -distances.min(dim=1).values


class KnnDetector(Detector):
    """Negative distance to the k-th nearest fit feature, on L2-normalised penultimate
    features (Sun et al., 2022).

    k = 10 by default: the paper uses k = 50 with all 50,000 CIFAR-10 training images and k = 10
    with a 1 % sample of ImageNet; fit sets here are hundreds to a few thousand images. Plain
    torch distances in float64 (float32 loses distances below about 1e-3 between unit vectors),
    for as many query rows at a time as keep the distance matrix under KNN_DISTANCE_ENTRIES.
    Labels are not used.
    """

    name = "knn"

    def __init__(self, classifier: nn.Module, k: int = 10, batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(classifier, batch_size)
        if int(k) < 1:
            raise ValueError(f"k must be a positive integer, got {k}")
        self.k = int(k)

    def _fit_outputs(self, features, logits, labels):
        if len(features) < self.k:
            raise ValueError(f"{self.name}: k = {self.k} needs at least {self.k} fit images, "
                             f"got {len(features)}")
        self.bank = nn.functional.normalize(features.double(), dim=1)

    def _score_outputs(self, features, logits):
        queries = nn.functional.normalize(features.double(), dim=1)
        rows = max(1, KNN_DISTANCE_ENTRIES // len(self.bank))
        kth = [torch.cdist(queries[start:start + rows], self.bank)
               .topk(self.k, dim=1, largest=False).values[:, -1]
               for start in range(0, len(queries), rows)]
        return -torch.cat(kth)


class VimDetector(Detector):
    """Virtual-logit matching, ViM (Wang et al., 2022): energy minus the scaled norm of the
    feature's residual outside the principal subspace of the fit features.

    Features are shifted by o = -pinv(W) b, the point where the last linear layer's logits
    W z + b vanish; the principal subspace holds the top `principal_dim` eigenvectors of the
    shifted features' uncentred covariance; alpha = sum of max logits / sum of residual norms over
    the fit set. score = logsumexp(logits) - alpha * ||residual||, a monotone transform of the
    paper's softmax probability of the virtual logit (higher = in-distribution).
    `principal_dim` defaults to half the feature dimension (the paper keeps 1000 of ResNet's
    2048). Computed in float64: in float32 the eigenvectors near the cut, and so the scores,
    drift measurably on 128-d features. Labels are not used.
    """

    name = "vim"

    def __init__(self, classifier: nn.Module, principal_dim: int | None = None,
                 batch_size: int = DEFAULT_BATCH_SIZE):
        super().__init__(classifier, batch_size)
        feature_dim = classifier.head.in_features
        principal_dim = feature_dim // 2 if principal_dim is None else int(principal_dim)
        if not 1 <= principal_dim < feature_dim:
            raise ValueError(f"principal_dim must lie in [1, {feature_dim - 1}] for "
                             f"{feature_dim}-d features, got {principal_dim}")
        self.principal_dim = principal_dim

    def _fit_outputs(self, features, logits, labels):
        weight = self.classifier.head.weight.detach().double()
        bias = self.classifier.head.bias
        bias = torch.zeros(len(weight), dtype=torch.float64, device=weight.device) \
            if bias is None else bias.detach().double()
        self.origin = -torch.linalg.pinv(weight) @ bias
        shifted = features.double() - self.origin
        _, eigenvectors = torch.linalg.eigh(shifted.T @ shifted / len(shifted))
        # eigh sorts eigenvalues in ascending order: the residual space is the first columns.
        self.residual_basis = eigenvectors[:, :shifted.shape[1] - self.principal_dim]
        residual_norm = (shifted @ self.residual_basis).norm(dim=1)
        if not residual_norm.sum() > 0:
            raise ValueError(f"{self.name}: fit features lie inside the principal subspace "
                             f"(no residual); use a smaller principal_dim")
        self.alpha = float(logits.double().max(dim=1).values.sum() / residual_norm.sum())

    def _score_outputs(self, features, logits):
        residual = (features.double() - self.origin) @ self.residual_basis
        return torch.logsumexp(logits.double(), dim=1) - self.alpha * residual.norm(dim=1)


class ParceDetector:
    """A competency estimator's score (`evaluate(images).competency`: PaRCE, or the fused
    estimator, which takes its name) behind the detector interface.

    `fit` leaves a calibrated estimator unchanged (it was calibrated on its own holdout split);
    an uncalibrated one is calibrated on the given images, which should then be a holdout split.
    """

    name = "parce"
    requires_fit = False

    def __init__(self, estimator, batch_size: int = DEFAULT_BATCH_SIZE):
        if not hasattr(estimator, "evaluate") or not hasattr(estimator, "classifier"):
            raise TypeError(f"parce: expected a ParceEstimator, got {type(estimator).__name__}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        self.estimator = estimator
        self.name = getattr(estimator, "name", "parce")
        self.classifier = estimator.classifier
        self.batch_size = int(batch_size)

    @property
    def fitted(self) -> bool:
        return self.estimator.calibration is not None

    def fit(self, images: torch.Tensor, labels: torch.Tensor) -> "ParceDetector":
        check_images(images, "parce fit images")
        if not self.fitted:
            with _evaluation_mode(self.estimator):
                self.estimator.fit(images, labels, batch_size=self.batch_size)
        return self

    def score(self, images: torch.Tensor) -> torch.Tensor:
        """Competency (N,) float32 on the CPU."""
        if not self.fitted:
            raise RuntimeError("parce: the estimator is not calibrated; call fit(images, labels) "
                               "on a holdout split or load a parce.json")
        with _evaluation_mode(self.estimator):
            return self.estimator.evaluate(images, batch_size=self.batch_size).competency.float()


DETECTORS = MappingProxyType({detector.name: detector for detector in (
    MaxSoftmaxDetector, EnergyDetector, MahalanobisDetector, KnnDetector, VimDetector,
    ParceDetector)})


def build_detector(name: str, estimator, **options):
    """The detector called `name` for a PaRCE estimator: PaRCE wraps the estimator, the others
    its classifier. `options` go to the detector's constructor (e.g. k, principal_dim)."""
    try:
        detector = DETECTORS[name]
    except KeyError:
        raise ValueError(f"unknown detector {name!r}; known detectors are: "
                         f"{', '.join(DETECTORS)}") from None
    if detector is ParceDetector:
        return detector(estimator, **options)
    return detector(estimator.classifier, **options)
