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

    def select(self, index) -> "ExampleSet":
        """The examples at `index` (an integer array), in that order."""
        index = np.asarray(index, dtype=np.int64)
        return ExampleSet(self.images[torch.from_numpy(index)], self.causes[index],
                          self.factors[index], self.source_index[index], self.labels[index],
                          self.original_competency[index], self.competency[index],
                          self.class_names, self.threshold)

    def first_per_cause(self, count: int) -> "ExampleSet":
        """The first `count` examples of each cause."""
        return self.select(np.concatenate([np.flatnonzero(self.causes == cause)[:count]
                                           for cause in CAUSES]))

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


def degraded(images: torch.Tensor, domain: Domain, cause: str, factor_index: int,
             seed: int = 0) -> torch.Tensor:
    """`images` degraded with the `factor_index`-th factor of `cause`; noise is seeded, so the
    same call always gives the same pixels."""
    cause_index = DEGRADATIONS.index(cause)
    generator = torch.Generator().manual_seed(seed * 1000 + cause_index * 10 + factor_index)
    return degrade(images, cause, domain.factors[cause][factor_index],
                   reference_size=domain.pixelation_reference, generator=generator)


def sweep_cause(estimator: ParceEstimator, images: torch.Tensor, domain: Domain, cause: str,
                seed: int = 0) -> np.ndarray:
    """Competency (N, F) of every image degraded with every factor of `cause`, in list order."""
    return np.stack([estimator.evaluate(degraded(images, domain, cause, index, seed))
                     .competency.numpy() for index in range(len(domain.factors[cause]))], axis=1)


def random_factor_below(competency_by_factor: np.ndarray, threshold: float,
                        rng: np.random.Generator) -> np.ndarray:
    """A random factor index among those with competency below `threshold` (-1 if none)."""
    below = competency_by_factor < threshold
    keys = np.where(below, rng.random(below.shape), -1.0)
    return np.where(below.any(axis=1), keys.argmax(axis=1), -1)


def build_examples(estimator: ParceEstimator, domain: Domain, data: DomainData,
                   per_cause: int = 100, seed: int = 0, show_progress: bool = True,
                   sweeps: dict[str, np.ndarray] | None = None, split: str = "test",
                   ood_offset: int = 0, factor_choice: str = "first") -> ExampleSet:
    """Low-competency examples: `per_cause` anomalies and degradations of each kind.

    The paper's example set (the defaults) degrades correctly classified, competent test images
    with the first factor of each cause that drops competency below the threshold, and takes
    the first low-competency anomalies. A training set for explainers uses another `split`,
    skips the first `ood_offset` low-competency anomalies (those of the example set) and picks a
    random factor among those below the threshold (`factor_choice="random"`), so both directions
    of a property appear. `sweeps` (cause -> `sweep_cause` of the split) saves re-scoring.
    """
    if factor_choice not in ("first", "random"):
        raise ValueError(f"factor_choice must be 'first' or 'random', got {factor_choice!r}")
    rng = np.random.default_rng(seed)
    threshold = estimator.threshold
    test = getattr(data, split)
    scored = estimator.evaluate(test.images)
    test_competency = scored.competency.numpy()
    eligible = np.flatnonzero(((scored.prediction == test.labels).numpy()) &
                              (test_competency >= threshold))
    ood_competency = estimator.evaluate(data.ood.images).competency.numpy().astype(np.float64)
    ood_rows = np.flatnonzero(ood_competency < threshold)[ood_offset:ood_offset + per_cause]
    # An anomaly image is its own source: nothing was degraded.
    parts = [dict(images=data.ood.images[ood_rows], causes=np.full(len(ood_rows), "spatial"),
                  factors=np.full(len(ood_rows), np.nan), source_index=ood_rows,
                  labels=np.full(len(ood_rows), -1), original_competency=ood_competency[ood_rows],
                  competency=ood_competency[ood_rows])]
    for cause in tqdm(DEGRADATIONS, desc="examples", unit="cause", disable=not show_progress):
        competency = sweeps[cause] if sweeps is not None else \
            sweep_cause(estimator, test.images, domain, cause, seed)
        choice = (first_factor_below(competency[eligible], threshold) if factor_choice == "first"
                  else random_factor_below(competency[eligible], threshold, rng))
        picked = np.flatnonzero(choice >= 0)[:per_cause]
        sources, factor_index = eligible[picked], choice[picked]
        images = test.images[sources].clone()
        for index in np.unique(factor_index):
            rows = np.flatnonzero(factor_index == index)
            images[rows] = degraded(test.images, domain, cause, int(index), seed)[sources[rows]]
        parts.append(dict(
            images=images, causes=np.full(len(sources), cause),
            factors=np.asarray(domain.factors[cause], dtype=np.float64)[factor_index],
            source_index=sources, labels=test.labels.numpy()[sources],
            original_competency=test_competency[sources].astype(np.float64),
            competency=competency[sources, factor_index].astype(np.float64)))
    merged = {key: (torch.cat([part[key] for part in parts]) if key == "images"
                    else np.concatenate([part[key] for part in parts])) for key in parts[0]}
    return ExampleSet(**merged, class_names=data.class_names, threshold=threshold)
