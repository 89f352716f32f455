"""The paper's Tables 1-2: every counterfactual method on the low-competency example set.

Columns: success rate; LPIPS between original and counterfactual; cosine similarity of classifier
features and of autoencoder latents (over valid counterfactuals only); FID and KID (x 1000)
against the calibration images (classifier features, or Inception-v3 from a local file); time
per processed image. Per-cause success rates and a figure
(rows: causes, columns: original + methods, captioned with competency) come with it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.competency.examples import ExampleSet
from competency_cf.competency.parce import ParceEstimator
from competency_cf.counterfactual.distances import PerceptualDistance
from competency_cf.counterfactual.methods import build_method
from competency_cf.counterfactual.result import CounterfactualResult
from competency_cf.data.causes import CAUSES
from competency_cf.evaluation.figures import image_grid
from competency_cf.evaluation.metrics import InceptionFeatures, fid_kid, mean_cosine_similarity


@dataclass
class MethodRow:
    method: str
    success_rate: float
    lpips: float
    feature_similarity: float
    latent_similarity: float
    fid: float
    kid: float
    seconds_per_image: float
    median_seconds_per_image: float
    median_iterations: float
    success_by_cause: dict[str, float] = field(default_factory=dict)


@dataclass
class CounterfactualReport:
    domain: str
    config: str
    device: str
    images: int
    lpips_standard: bool
    realism_features: str = "classifier features"
    batch_size: int = 50
    rows: list[MethodRow] = field(default_factory=list)

    def to_markdown(self) -> str:
        lpips_name = "LPIPS" if self.lpips_standard else "LPIPS (random AlexNet trunk)"
        realism = self.realism_features
        caveat = ("" if realism.startswith("Inception") else
                  ", not Inception (no pretrained weights can be downloaded)")
        lines = [
            f"# Counterfactual methods: {self.domain} ({self.config} configuration)",
            "",
            f"{self.images} low-competency examples in batches of {self.batch_size}; device: "
            f"{self.device}. FID and KID (x 1000) use {realism}{caveat}; {lpips_name} is "
            "reported as the perceptual loss. Times are per processed image: the mean over all "
            "images, and the median over batches.",
            "",
            f"| method | success | {lpips_name} | feature sim. | latent sim. | FID ({realism}) | "
            f"KID x1000 ({realism}) | s / image (mean) | s / image (median) | "
            "median iterations |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in self.rows:
            lines.append(
                f"| {row.method} | {row.success_rate:.2%} | {row.lpips:.3f} | "
                f"{row.feature_similarity:.3f} | {row.latent_similarity:.3f} | {row.fid:.2f} | "
                f"{row.kid:.2f} | {row.seconds_per_image:.4f} | "
                f"{row.median_seconds_per_image:.4f} | {row.median_iterations:g} |")
        lines += ["", "Success rate per cause:", "",
                  "| method | " + " | ".join(CAUSES) + " |",
                  "| --- |" + " --- |" * len(CAUSES)]
        for row in self.rows:
            cells = " | ".join(f"{row.success_by_cause.get(c, float('nan')):.0%}" for c in CAUSES)
            lines.append(f"| {row.method} | {cells} |")
        return "\n".join(lines) + "\n"

    def save(self, directory: Path, stem: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{stem}.md").write_text(self.to_markdown())
        (directory / f"{stem}.json").write_text(json.dumps(asdict(self), indent=2) + "\n")


@torch.no_grad()
def _row(name: str, result: CounterfactualResult, originals: torch.Tensor, causes: np.ndarray,
         estimator: ParceEstimator, perceptual: PerceptualDistance,
         calibration_images: torch.Tensor, realism: tuple[torch.nn.Module, int],
         median_seconds: float) -> MethodRow:
    counterfactuals = result.images.clamp(0, 1)
    # Similarities are over valid counterfactuals; the originals are compared with themselves.
    valid = result.success if name != "Orig" else torch.ones(len(originals), dtype=torch.bool)
    classifier, autoencoder = estimator.classifier, estimator.autoencoder
    lpips = torch.cat([perceptual(originals[s:s + 100], counterfactuals[s:s + 100])
                       for s in range(0, len(originals), 100)])
    fid, kid = fid_kid(calibration_images, counterfactuals, *realism)
    return MethodRow(
        method=name, success_rate=result.success_rate, lpips=float(lpips.mean()),
        feature_similarity=mean_cosine_similarity(classifier.features(originals[valid]),
                                                  classifier.features(counterfactuals[valid])),
        latent_similarity=mean_cosine_similarity(autoencoder.encode(originals[valid]),
                                                 autoencoder.encode(counterfactuals[valid])),
        fid=fid, kid=kid, seconds_per_image=result.seconds_per_image,
        median_seconds_per_image=median_seconds,
        median_iterations=float(result.iterations.float().median()),
        success_by_cause={
            cause: float(result.success[torch.from_numpy(causes == cause)].float().mean())
            for cause in CAUSES if (causes == cause).any()})


def evaluate_counterfactuals(estimator: ParceEstimator, domain: str, examples: ExampleSet,
                             calibration_images: torch.Tensor, methods: list[str],
                             config: str = "default", lpips_weights: str | Path | None = None,
                             fid_weights: str | Path | None = None, device: str = "cpu",
                             batch_size: int = 50, show_progress: bool = True
                             ) -> tuple[CounterfactualReport, dict[str, CounterfactualResult]]:
    """Every method on the example set, fed in batches of `batch_size` (each batch timed)."""
    perceptual = PerceptualDistance(lpips_weights)
    if fid_weights is not None:
        realism, realism_name = InceptionFeatures(fid_weights), "Inception-v3 (torchvision)"
        realism = (realism, realism.num_features)
    else:
        classifier = estimator.classifier
        realism = (classifier.features, classifier.head.in_features)
        realism_name = "classifier features"
    originals = examples.images
    report = CounterfactualReport(domain=domain, config=config, device=device,
                                  images=len(originals), lpips_standard=perceptual.is_standard,
                                  realism_features=realism_name, batch_size=batch_size)
    original = CounterfactualResult(
        "Orig", originals, torch.from_numpy(examples.competency).float(),
        torch.from_numpy(examples.competency >= examples.threshold),
        torch.zeros(len(originals), dtype=torch.int64), 0.0)
    report.rows.append(_row("Orig", original, originals, examples.causes, estimator, perceptual,
                            calibration_images, realism, 0.0))
    results = {}
    for name in tqdm(methods, desc=f"{domain} counterfactuals ({config})", unit="method",
                     disable=not show_progress):
        method = build_method(name, estimator, config=config, lpips_weights=lpips_weights,
                              calibration_images=calibration_images, device=device)
        parts = [method.generate(originals[start:start + batch_size])
                 for start in range(0, len(originals), batch_size)]
        results[name] = CounterfactualResult.concatenate(parts)
        median_seconds = float(np.median([part.seconds_per_image for part in parts]))
        report.rows.append(_row(name, results[name], originals, examples.causes, estimator,
                                perceptual, calibration_images, realism, median_seconds))
    return report, results


def counterfactual_figure(examples: ExampleSet, results: dict[str, CounterfactualResult],
                          path: Path, title: str) -> None:
    """Rows: one example per cause; columns: original, then each method; captions: competency."""
    rows, captions = [], []
    for cause in CAUSES:
        index = np.flatnonzero(examples.causes == cause)
        if not len(index):
            continue
        i = int(index[0])
        rows.append(torch.stack([examples.images[i]] +
                                [result.images[i].clamp(0, 1) for result in results.values()]))
        captions.append([f"Orig {examples.competency[i]:.2f}"] +
                        [f"{name} {result.competency[i]:.2f}" for name, result in results.items()])
    image_grid(rows, path, row_labels=[c for c in CAUSES if (examples.causes == c).any()],
               captions=captions, title=title)
