"""The low-competency example set: 100 images per cause, built without any interaction.

For each degradation cause, every correctly classified, high-competency test image is degraded with
the domain's factors in list order and the first factor that drops competency below the threshold
is kept. Spatial examples are out-of-distribution images whose competency is below the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.competency.parce import ParceEstimator
from competency_cf.data.causes import CAUSES, DEGRADATIONS, degrade
from competency_cf.data.dataset import DomainData
from competency_cf.data.domains import Domain


@dataclass
class ExampleSet:
    """Low-competency images with their cause, factor and where they came from."""

    images: torch.Tensor           # (N, 3, H, W) float32 in [0, 1]
    causes: np.ndarray             # (N,) str, one of CAUSES
    factors: np.ndarray            # (N,) float, NaN for spatial
    source_index: np.ndarray       # (N,) int, index into the test split (OOD split for spatial)
    labels: np.ndarray             # (N,) int, true class of the source image (-1 for spatial)
    original_competency: np.ndarray  # (N,) competency of the source image
    competency: np.ndarray         # (N,) competency of the example
    class_names: tuple[str, ...]
    threshold: float

    def __len__(self) -> int:
        return len(self.images)

    def counts(self) -> dict[str, int]:
        return {cause: int((self.causes == cause).sum()) for cause in CAUSES}

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path, images=self.images.numpy(), causes=self.causes.astype(str),
            factors=self.factors, source_index=self.source_index, labels=self.labels,
            original_competency=self.original_competency, competency=self.competency,
            class_names=np.array(self.class_names), threshold=np.float64(self.threshold))

    @classmethod
    def load(cls, path: str | Path) -> "ExampleSet":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"example set not found: {path} "
                                    f"(create it with `competency-cf examples`)")
        with np.load(path, allow_pickle=False) as a:
            return cls(torch.from_numpy(a["images"]), a["causes"], a["factors"],
                       a["source_index"], a["labels"], a["original_competency"],
                       a["competency"], tuple(str(n) for n in a["class_names"]),
                       float(a["threshold"]))


def first_factor_below(competency_by_factor: np.ndarray, threshold: float) -> np.ndarray:
    """Index of the first factor (columns, in list order) with competency below `threshold`.

    Rows with no such factor get -1.
    """
    below = competency_by_factor < threshold
    return np.where(below.any(axis=1), below.argmax(axis=1), -1)


def build_examples(estimator: ParceEstimator, domain: Domain, data: DomainData,
                   per_cause: int = 100, seed: int = 0, show_progress: bool = True) -> ExampleSet:
    threshold = estimator.threshold
    test = data.test
    scored = estimator.evaluate(test.images)
    eligible = np.flatnonzero(((scored.prediction == test.labels) &
                               (scored.competency >= threshold)).numpy())
    chunks = []
    progress = tqdm(DEGRADATIONS, desc="examples", unit="cause", disable=not show_progress)
    for cause_index, cause in enumerate(progress):
        factors = domain.factors[cause]
        sources = test.images[eligible]
        degraded, competency = [], []
        for factor_index, factor in enumerate(factors):
            generator = torch.Generator().manual_seed(seed * 1000 + cause_index * 10 + factor_index)
            images = degrade(sources, cause, factor, reference_size=domain.pixelation_reference,
                             generator=generator)
            degraded.append(images)
            competency.append(estimator.evaluate(images).competency.numpy())
        choice = first_factor_below(np.stack(competency, axis=1), threshold)
        rows = np.flatnonzero(choice >= 0)[:per_cause]
        chunks.append(dict(
            images=torch.stack([degraded[choice[r]][r] for r in rows]) if len(rows) else
            torch.empty((0, *test.images.shape[1:])),
            causes=np.full(len(rows), cause), factors=np.array([factors[choice[r]] for r in rows],
                                                                dtype=np.float64),
            source_index=eligible[rows], labels=test.labels.numpy()[eligible[rows]],
            original_competency=scored.competency.numpy()[eligible[rows]],
            competency=np.array([competency[choice[r]][r] for r in rows], dtype=np.float64)))
    ood_scored = estimator.evaluate(data.ood.images)
    ood_rows = np.flatnonzero(ood_scored.competency.numpy() < threshold)[:per_cause]
    chunks.insert(0, dict(
        images=data.ood.images[ood_rows], causes=np.full(len(ood_rows), "spatial"),
        factors=np.full(len(ood_rows), np.nan), source_index=ood_rows,
        labels=np.full(len(ood_rows), -1),
        # An anomaly image is its own source: nothing was degraded.
        original_competency=ood_scored.competency.numpy()[ood_rows].astype(np.float64),
        competency=ood_scored.competency.numpy()[ood_rows].astype(np.float64)))
    merged = {key: (torch.cat([c[key] for c in chunks]) if key == "images"
                    else np.concatenate([c[key] for c in chunks])) for key in chunks[0]}
    return ExampleSet(**merged, class_names=data.class_names, threshold=threshold)
