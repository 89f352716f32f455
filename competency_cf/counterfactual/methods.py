"""The six counterfactual methods behind one interface: `generate(images)`.

- Reco: decode(encode(x)).
- LNN: the decoded nearest high-competency calibration latent.
- IGD: pixels, -competency + gamma * LPIPS(x, x').
- FGD: pixels, -competency + gamma * d(f(x), f(x')) on classifier features.
- LGD: latent, -competency(decode(z')) + gamma * d(z, z').
- Attack: latent steps without a distance term, stopping once the threshold is crossed (a
  "counterfactual attack" in the sense of latent-space attacks with attributions).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from competency_cf.competency.parce import ParceEstimator
from competency_cf.counterfactual.config import DescentConfig, named_config
from competency_cf.counterfactual.descent import descend
from competency_cf.counterfactual.distances import PerceptualDistance, vector_distance
from competency_cf.counterfactual.result import CounterfactualResult
from competency_cf.data.dataset import check_images

METHODS = ("IGD", "FGD", "Reco", "LGD", "LNN", "Attack")
LNN_BANK_FILE = "lnn_bank.safetensors"  # next to the models of a domain


class CounterfactualMethod:
    """Base: validates input, times the call, packs the result."""

    name = ""

    def __init__(self, estimator: ParceEstimator, device: str = "cpu"):
        self.estimator = estimator.to(device).eval()
        self.device = device

    def generate(self, images: torch.Tensor) -> CounterfactualResult:
        check_images(images, f"{self.name} input")
        started = time.perf_counter()
        counterfactuals, competency, iterations = self._generate(images.to(self.device))
        seconds = time.perf_counter() - started
        competency = competency.detach().cpu()
        return CounterfactualResult(
            method=self.name, images=counterfactuals.detach().cpu(), competency=competency,
            success=competency >= self.estimator.threshold, iterations=iterations.cpu(),
            seconds=seconds)

    def _generate(self, images: torch.Tensor):
        raise NotImplementedError


class Reconstruction(CounterfactualMethod):
    name = "Reco"

    @torch.no_grad()
    def _generate(self, images):
        counterfactuals = self.estimator.autoencoder(images)
        competency = self.estimator.score(counterfactuals)
        return counterfactuals, competency, torch.zeros(len(images), dtype=torch.int64)


class LatentNearestNeighbor(CounterfactualMethod):
    """Nearest latent among high-competency calibration images, decoded.

    `fit` builds the bank once: calibration images whose competency and whose decoding's
    competency both reach the threshold, so every entry is a valid counterfactual. `generate` is
    then one encoder pass, a distance matrix and an index.
    """

    name = "LNN"

    def __init__(self, estimator: ParceEstimator, metric: str = "l1", device: str = "cpu"):
        super().__init__(estimator, device)
        if metric not in ("l1", "l2", "cosine"):
            raise ValueError(f"unknown LNN metric {metric!r}; expected l1, l2 or cosine")
        self.metric = metric
        self.bank_latents: torch.Tensor | None = None
        self.bank_images: torch.Tensor | None = None
        self.bank_competency: torch.Tensor | None = None
        self.bank_source_index: torch.Tensor | None = None

    @torch.no_grad()
    def fit(self, calibration_images: torch.Tensor,
            batch_size: int = 256) -> "LatentNearestNeighbor":
        check_images(calibration_images, "LNN calibration images")
        competency = self.estimator.evaluate(calibration_images, batch_size).competency
        keep = torch.nonzero(competency >= self.estimator.threshold).flatten()
        if not len(keep):
            raise ValueError("no calibration image reaches the competency threshold; "
                             "the LNN bank would be empty")
        latents, decoded = [], []
        for start in range(0, len(keep), batch_size):
            chunk = calibration_images[keep[start:start + batch_size]].to(self.device)
            latent = self.estimator.autoencoder.encode(chunk)
            latents.append(latent)
            decoded.append(self.estimator.autoencoder.decode(latent))
        decoded = torch.cat(decoded)
        decoded_competency = self.estimator.evaluate(decoded, batch_size).competency
        valid = decoded_competency >= self.estimator.threshold
        if not bool(valid.any()):
            raise ValueError("no decoded calibration latent reaches the competency threshold; "
                             "the LNN bank would be empty")
        self.bank_latents = torch.cat(latents)[valid]
        self.bank_images = decoded[valid]
        self.bank_competency = decoded_competency[valid].to(self.device)
        self.bank_source_index = keep[valid]
        return self

    def save_bank(self, path: str | Path) -> None:
        """The bank's latents (safetensors), so a robot need not re-render calibration images."""
        from safetensors.torch import save_file

        if self.bank_latents is None:
            raise RuntimeError("LNN has no latent bank to save: call fit() first")
        save_file({"latents": self.bank_latents.detach().cpu().contiguous(),
                   "source_index": self.bank_source_index.cpu().contiguous()}, str(path))

    @torch.no_grad()
    def load_bank(self, path: str | Path, batch_size: int = 256) -> "LatentNearestNeighbor":
        """Load saved latents, decode them and keep those whose decoding reaches the threshold."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"LNN bank not found: {path} "
                                    "(create it with `competency-cf fit-explainer`)")
        try:
            entries = load_file(str(path))
            latents, source_index = entries["latents"], entries["source_index"]
        except (SafetensorError, OSError, KeyError) as error:
            raise ValueError(f"{path}: not an LNN bank ({error})") from error
        latent_dim = self.estimator.autoencoder.config["latent_dim"]
        if latents.ndim != 2 or latents.shape[1] != latent_dim or not len(latents):
            raise ValueError(f"{path}: bank latents of shape {tuple(latents.shape)} do not fit "
                             f"this autoencoder (latent size {latent_dim})")
        latents = latents.to(self.device)
        decoded = torch.cat([self.estimator.autoencoder.decode(latents[s:s + batch_size])
                             for s in range(0, len(latents), batch_size)])
        competency = self.estimator.evaluate(decoded, batch_size).competency.to(self.device)
        valid = competency >= self.estimator.threshold
        if not bool(valid.any()):
            raise ValueError(f"{path}: no bank entry reaches the competency threshold")
        self.bank_latents, self.bank_images = latents[valid], decoded[valid]
        self.bank_competency, self.bank_source_index = competency[valid], source_index[valid]
        return self

    def _distances(self, latents: torch.Tensor) -> torch.Tensor:
        if self.metric == "cosine":
            a = torch.nn.functional.normalize(latents, dim=1)
            b = torch.nn.functional.normalize(self.bank_latents, dim=1)
            return -(a @ b.T)
        return torch.cdist(latents, self.bank_latents, p=1.0 if self.metric == "l1" else 2.0)

    @torch.no_grad()
    def _generate(self, images):
        if self.bank_latents is None:
            raise RuntimeError("LNN has no latent bank: call fit(calibration_images) first")
        nearest = self._distances(self.estimator.autoencoder.encode(images)).argmin(dim=1)
        return (self.bank_images[nearest], self.bank_competency[nearest],
                torch.zeros(len(images), dtype=torch.int64))


class _DescentMethod(CounterfactualMethod):
    """Shared batching for the gradient methods."""

    space = "pixel"

    def __init__(self, estimator: ParceEstimator, config: DescentConfig | None = None):
        config = config if config is not None else named_config("default", self.space)
        super().__init__(estimator, config.device)
        self.config = config
        self.estimator.requires_grad_(False)  # gradients flow to the variable only

    def _generate(self, images):
        parts = [self._descend_batch(images[start:start + self.config.batch_size])
                 for start in range(0, len(images), self.config.batch_size)]
        return tuple(torch.cat(column) for column in zip(*parts))

    def _descend_batch(self, images):
        raise NotImplementedError


class ImageGradientDescent(_DescentMethod):
    name = "IGD"

    def __init__(self, estimator: ParceEstimator, config: DescentConfig | None = None,
                 lpips_weights: str | Path | None = None):
        super().__init__(estimator, config)
        self.perceptual = PerceptualDistance(lpips_weights).to(self.device)

    def _descend_batch(self, images):
        return descend(images, lambda x: x,
                       lambda x, _, rows: self.perceptual(images[rows], x),
                       self.estimator, self.config, clamp_variable=self.config.clamp)


class FeatureGradientDescent(_DescentMethod):
    name = "FGD"

    def _descend_batch(self, images):
        features = self.estimator.classifier.features
        with torch.no_grad():
            original = features(images)
        return descend(images, lambda x: x,
                       lambda x, _, rows: vector_distance(original[rows], features(x),
                                                          self.config.distance),
                       self.estimator, self.config, clamp_variable=self.config.clamp)


class LatentGradientDescent(_DescentMethod):
    name = "LGD"
    space = "latent"

    def _descend_batch(self, images):
        autoencoder = self.estimator.autoencoder
        with torch.no_grad():
            original = autoencoder.encode(images)
        return descend(original, autoencoder.decode,
                       lambda z, _, rows: vector_distance(original[rows], z, self.config.distance),
                       self.estimator, self.config, clamp_variable=False)


class LatentAttack(_DescentMethod):
    """Latent steps with no distance term; per-image stopping at the threshold is always on."""

    name = "Attack"
    space = "latent"

    def __init__(self, estimator: ParceEstimator, config: DescentConfig | None = None):
        config = config if config is not None else named_config("default", self.space)
        super().__init__(estimator, replace(config, per_image_stopping=True))

    def _descend_batch(self, images):
        autoencoder = self.estimator.autoencoder
        with torch.no_grad():
            original = autoencoder.encode(images)
        return descend(original, autoencoder.decode, None, self.estimator, self.config,
                       clamp_variable=False)


def build_method(name: str, estimator: ParceEstimator, *, config: str = "default",
                 calibration_images: torch.Tensor | None = None,
                 lpips_weights: str | Path | None = None, device: str = "cpu",
                 **overrides) -> CounterfactualMethod:
    """A ready-to-use method by its paper name (LNN needs `calibration_images` for its bank)."""
    if name == "Reco":
        return Reconstruction(estimator, device)
    if name == "LNN":
        if calibration_images is None:
            raise ValueError("LNN needs calibration_images to build its latent bank")
        metric = overrides.pop("distance", "l1")
        return LatentNearestNeighbor(estimator, metric, device).fit(calibration_images)
    gradient = {"IGD": ImageGradientDescent, "FGD": FeatureGradientDescent,
                "LGD": LatentGradientDescent, "Attack": LatentAttack}
    if name not in gradient:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    cls = gradient[name]
    settings = named_config(config, cls.space, device=device, **overrides)
    if cls is ImageGradientDescent:
        return cls(estimator, settings, lpips_weights)
    return cls(estimator, settings)
