"""The default explainer: attribute low competency to a cause from image descriptors.

Two small objects with one job each:

- `DescriptorFeatures` turns an image (and optionally its counterfactual) into normalised
  evidence. `fit` learns, on the calibration set, each descriptor's median and robust spread,
  and the same for the descriptor *differences* between a calibration image and its autoencoder
  reconstruction (what a Reco/LGD/LNN counterfactual looks like when nothing is wrong). Features
  are then z-scores: the original against the calibration images, the original-minus-
  counterfactual difference against the calibration differences, and how concentrated that
  difference is in one region.
- `DescriptorExplainer` maps features to one of thirteen labels in two stages, with small
  classifier heads per mode (original alone, or with a counterfactual; with one, both modes'
  probabilities are averaged). A gate tells the paper's causes from the four field causes
  (blur, haze, lens occlusion, glare; `data.field_causes`), and a paper head picks among the
  paper's nine labels (spatial, noise, pixelation, and brightness/contrast/saturation each too
  high or too low), fitted on those frames alone, so that the field causes do not cost the
  paper's causes capacity. A field offset per mode (a prior against the field causes, set so
  that at most a budget of known paper-cause frames is taken for a field cause) protects the
  paper's causes further. Heads are fitted on a training set of degraded calibration images,
  unused anomalies and the fit group of cause implementations (`fit_descriptor_explainer`).
  The probability of the chosen label is the confidence. A few milliseconds per batch on a CPU.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from competency_cf.data.dataset import check_images
from competency_cf.explain.descriptors import (DESCRIPTORS, busiest_region, describe,
                                               spatial_concentration)
from competency_cf.explain.explanation import (HIGH, LOW, PLACED_CAUSES, UNSURE, Explanation,
                                               sentence, unsure_sentence)
from competency_cf.explain.unsure import UnsureRule, cause_probabilities

FILE_NAME = "descriptor_explainer.json"  # next to the models of a domain
FORMAT = "competency_cf.descriptor_explainer/5"
LABELS: tuple[tuple[str, str], ...] = (
    ("spatial", HIGH), ("brightness", HIGH), ("brightness", LOW), ("contrast", HIGH),
    ("contrast", LOW), ("saturation", HIGH), ("saturation", LOW), ("noise", HIGH),
    ("pixelation", HIGH), ("blur", HIGH), ("haze", HIGH), ("occlusion", HIGH), ("glare", HIGH))
PAPER_LABELS = LABELS[:9]   # the paper's six causes
FIELD_LABELS = LABELS[9:]   # causes a field camera meets
GATE_CLASSES = 1 + len(FIELD_LABELS)  # "one of the paper's causes", then each field cause
MODES = ("alone", "paired")  # without / with a counterfactual
# Share of known paper-cause frames the field offsets may let be taken for a field cause; fixed
# before any measurement.
FIELD_BUDGET = 0.01
_OFFSET_STEPS = torch.arange(0.0, 8.01, 0.25).tolist()  # candidate offsets (log-odds)


def _robust_location_scale(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Median and IQR / 1.349 (the standard deviation of a normal with that IQR) per column."""
    quartiles = torch.quantile(values, torch.tensor([0.25, 0.75], dtype=values.dtype), dim=0)
    spread = ((quartiles[1] - quartiles[0]) / 1.349).clamp_min(1e-3)
    return values.median(dim=0).values, spread


class DescriptorFeatures:
    """fit(calibration images, their reconstructions) -> transform(images, counterfactuals)."""

    KEYS = ("descriptor_center", "descriptor_spread", "difference_center", "difference_spread",
            "concentration_center", "concentration_spread")

    def __init__(self, stats: dict[str, torch.Tensor] | None = None):
        self.stats = stats

    @torch.no_grad()
    def fit(self, calibration_images: torch.Tensor,
            calibration_reconstructions: torch.Tensor) -> "DescriptorFeatures":
        check_images(calibration_images, "explainer calibration images")
        check_images(calibration_reconstructions, "explainer calibration reconstructions")
        if calibration_images.shape != calibration_reconstructions.shape:
            raise ValueError("calibration images and reconstructions differ in shape: "
                             f"{tuple(calibration_images.shape)} vs "
                             f"{tuple(calibration_reconstructions.shape)}")
        if len(calibration_images) < 8:
            raise ValueError("the explainer needs at least 8 calibration images to estimate "
                             f"spreads, got {len(calibration_images)}")
        descriptors = describe(calibration_images)
        differences = descriptors - describe(calibration_reconstructions)
        concentration = spatial_concentration(calibration_images,
                                              calibration_reconstructions).unsqueeze(1)
        self.stats = {}
        for name, values in (("descriptor", descriptors), ("difference", differences),
                             ("concentration", concentration)):
            self.stats[f"{name}_center"], self.stats[f"{name}_spread"] = (
                _robust_location_scale(values))
        return self

    def size(self, paired: bool) -> int:
        return 2 * len(DESCRIPTORS) + 1 if paired else len(DESCRIPTORS)

    @torch.no_grad()
    def transform(self, images: torch.Tensor,
                  counterfactuals: torch.Tensor | None = None) -> torch.Tensor:
        """(N, size) z-scores; the paired layout appends differences and concentration."""
        if self.stats is None:
            raise RuntimeError("descriptor features are not fitted: call fit() or load()")
        stats = self.stats
        descriptors = describe(images)
        alone = (descriptors - stats["descriptor_center"]) / stats["descriptor_spread"]
        if counterfactuals is None:
            return alone
        difference = ((descriptors - describe(counterfactuals) - stats["difference_center"])
                      / stats["difference_spread"])
        concentration = ((spatial_concentration(images, counterfactuals)
                          - stats["concentration_center"]) / stats["concentration_spread"])
        return torch.cat([alone, difference, concentration.unsqueeze(1)], dim=1)


class LabelHead:
    """A one-hidden-layer classifier from features to LABELS, fitted full-batch.

    Heavy-tailed z-scores (a clipped image can sit 50 spreads out) are squashed with asinh and
    standardised first, so a few extreme images do not dominate the fit.
    """

    def __init__(self, network: torch.nn.Sequential, mean: torch.Tensor, scale: torch.Tensor):
        self.network, self.mean, self.scale = network.eval(), mean, scale

    @staticmethod
    def _network(inputs: int, hidden: int, classes: int) -> torch.nn.Sequential:
        return torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.GELU(),
                                   torch.nn.Linear(hidden, classes))

    @classmethod
    def fit(cls, features: torch.Tensor, labels: torch.Tensor, classes: int, hidden: int = 64,
            steps: int = 1500, lr: float = 1e-2, weight_decay: float = 1e-3,
            seed: int = 0) -> "LabelHead":
        squashed = torch.asinh(features)
        mean, scale = squashed.mean(dim=0), squashed.std(dim=0).clamp_min(1e-3)
        inputs = (squashed - mean) / scale
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(seed)
            network = cls._network(inputs.shape[1], hidden, classes)
            optimizer = torch.optim.AdamW(network.parameters(), lr=lr, weight_decay=weight_decay)
            for _ in range(steps):
                optimizer.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(network(inputs), labels).backward()
                optimizer.step()
        return cls(network.requires_grad_(False), mean, scale)

    @torch.no_grad()
    def inputs(self, features: torch.Tensor) -> torch.Tensor:
        """What the network sees: squashed and standardised features."""
        return (torch.asinh(features) - self.mean) / self.scale

    @torch.no_grad()
    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.network(self.inputs(features)), 1)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "layers": {k: v.tolist() for k, v in self.network.state_dict().items()}}

    @classmethod
    def from_dict(cls, entries: dict) -> "LabelHead":
        layers = {k: torch.tensor(v, dtype=torch.float32) for k, v in entries["layers"].items()}
        hidden, inputs = layers["0.weight"].shape
        network = cls._network(inputs, hidden, layers["2.weight"].shape[0])
        network.load_state_dict(layers)
        return cls(network.requires_grad_(False),
                   torch.tensor(entries["mean"], dtype=torch.float32),
                   torch.tensor(entries["scale"], dtype=torch.float32))


def label_index(cause: str, direction: str) -> int:
    try:
        return LABELS.index((cause, direction))
    except ValueError:
        raise ValueError(f"no explainer label for cause {cause!r}, direction "
                         f"{direction!r}") from None


class DescriptorExplainer:
    """fit(images, labels, counterfactual sets) -> explain(images, counterfactuals)."""

    backend = "descriptor"

    def __init__(self, features: DescriptorFeatures):
        self.features = features
        self.heads: dict[str, LabelHead] = {}   # mode -> head over PAPER_LABELS
        self.gates: dict[str, LabelHead] = {}   # mode -> head over GATE_CLASSES (none: no
        # field causes were fitted)
        self.field_offsets: dict[str, float] = {}  # mode -> prior against the field causes
        self.unsure_rule: UnsureRule | None = None  # None: always name the best cause

    @torch.no_grad()
    def fit(self, images: torch.Tensor, labels: torch.Tensor,
            counterfactual_sets: list[torch.Tensor]) -> "DescriptorExplainer":
        """Fit the heads of both modes; labels index LABELS. Each counterfactual set matches
        `images`. The gates are fitted only when some labels are field causes."""
        check_images(images, "explainer training images")
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if len(labels) != len(images):
            raise ValueError(f"{len(labels)} labels for {len(images)} training images")
        inputs = {"alone": (self.features.transform(images), labels)}
        if counterfactual_sets:
            inputs["paired"] = (torch.cat([self.features.transform(images, counterfactuals)
                                           for counterfactuals in counterfactual_sets]),
                                labels.repeat(len(counterfactual_sets)))
        self.heads, self.gates, self.field_offsets = {}, {}, {}
        for mode, (features, targets) in inputs.items():
            paper = targets < len(PAPER_LABELS)
            self.heads[mode] = LabelHead.fit(features[paper], targets[paper], len(PAPER_LABELS))
            if not paper.all():
                gate_targets = (targets - len(PAPER_LABELS) + 1).clamp_min(0)
                self.gates[mode] = LabelHead.fit(features, gate_targets, GATE_CLASSES)
        return self

    def _mode_probabilities(self, mode: str, features: torch.Tensor) -> torch.Tensor:
        """(N, len(LABELS)) of one mode: the paper head's share scaled by the gate's "paper"
        probability, the field causes' by theirs, lowered by the mode's field offset."""
        paper = self.heads[mode].probabilities(features)
        if mode not in self.gates:
            return torch.cat([paper, paper.new_zeros(len(paper), len(FIELD_LABELS))], dim=1)
        gate = self.gates[mode].probabilities(features)
        field = gate[:, 1:] * torch.exp(torch.tensor(-self.field_offsets.get(mode, 0.0)))
        joint = torch.cat([paper * gate[:, :1], field], dim=1)
        return joint / joint.sum(dim=1, keepdim=True)

    @torch.no_grad()
    def fit_field_offsets(self, images: torch.Tensor, labels: torch.Tensor,
                          counterfactual_sets: list[torch.Tensor],
                          budget: float = FIELD_BUDGET) -> dict[str, float]:
        """Set each mode's field offset: the smallest that lets at most `budget` of the
        paper-cause frames among `images` (labels index LABELS) be taken for a field cause, as
        the nodes explain them (alone, and paired with each counterfactual set)."""
        if not 0.0 < budget < 1.0:
            raise ValueError(f"field budget must be in (0, 1), got {budget}")
        labels = torch.as_tensor(labels, dtype=torch.int64)
        paper = labels < len(PAPER_LABELS)
        if not paper.any():
            raise ValueError("the field offsets need frames of the paper's causes")
        self.field_offsets = {}
        # Describe the frames once; only the offset changes between tries.
        features = {"alone": [self.features.transform(images[paper])],
                    "paired": [self.features.transform(images[paper], c[paper])
                               for c in counterfactual_sets]}
        for mode in MODES:  # alone first: the paired mode averages it in
            if mode not in self.gates or not features[mode]:
                continue
            for offset in _OFFSET_STEPS:
                self.field_offsets[mode] = offset
                taken = torch.cat([self._probabilities_of(f).argmax(dim=1)
                                   for f in features[mode]]) >= len(PAPER_LABELS)
                if float(taken.float().mean()) <= budget:
                    break
        return dict(self.field_offsets)

    def probabilities(self, images: torch.Tensor,
                      counterfactuals: torch.Tensor | None = None) -> torch.Tensor:
        """(N, len(LABELS)); with a counterfactual, the mean of both heads' probabilities (the
        original's own descriptors stay informative when a counterfactual differs a lot)."""
        return self.evidence(images, counterfactuals)[0]

    def evidence(self, images: torch.Tensor, counterfactuals: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """The label probabilities and the alone head's inputs (what the unsure rule reads)."""
        mode = "alone" if counterfactuals is None else "paired"
        if mode not in self.heads:
            raise RuntimeError(f"the descriptor explainer has no '{mode}' head: fit it first")
        features = self.features.transform(images, counterfactuals)
        return (self._probabilities_of(features),
                self.heads["alone"].inputs(features[:, :len(DESCRIPTORS)]))

    def _probabilities_of(self, features: torch.Tensor) -> torch.Tensor:
        """Label probabilities from transformed features, alone or paired by their width."""
        # The paired layout starts with the alone features: describe the original only once.
        alone = self._mode_probabilities("alone", features[:, :len(DESCRIPTORS)])
        if features.shape[1] == len(DESCRIPTORS):
            return alone
        return (alone + self._mode_probabilities("paired", features)) / 2.0

    def explain(self, images: torch.Tensor, counterfactuals: torch.Tensor | None = None,
                method: str = "None") -> list[Explanation]:
        """One explanation per image; a counterfactual (same shape) sharpens the attribution."""
        started = time.perf_counter()
        check_images(images, "images to explain")
        if counterfactuals is not None:
            check_images(counterfactuals, "counterfactuals")
            if counterfactuals.shape != images.shape:
                raise ValueError(f"counterfactuals {tuple(counterfactuals.shape)} do not match "
                                 f"images {tuple(images.shape)}")
        probabilities, inputs = self.evidence(images, counterfactuals)
        regions, maps = (busiest_region(images, counterfactuals) if counterfactuals is not None
                         else ([""] * len(images), None))
        label_causes = [cause for cause, _ in LABELS]
        names, by_cause = cause_probabilities(probabilities, label_causes)
        if self.unsure_rule is not None:
            unsure, pairs = self.unsure_rule.unsure(
                inputs, probabilities, "alone" if counterfactuals is None else "paired",
                label_causes)
        else:
            unsure, pairs = torch.zeros(len(images), dtype=torch.bool), None
        explanations = []
        for row, best in enumerate(probabilities.argmax(dim=1).tolist()):
            cause, direction = LABELS[best]
            scores = {name: round(float(p), 4) for name, p in zip(names, by_cause[row])}
            if unsure[row]:
                first, p, second, q = pairs[row]
                explanations.append(Explanation(
                    cause=UNSURE, direction="", confidence=p,
                    text=unsure_sentence(first, p, second, q), counterfactual=method,
                    backend=self.backend, scores=scores, candidates=[(first, p), (second, q)]))
                continue
            placed = cause in PLACED_CAUSES and maps is not None
            region = regions[row] if placed else ""
            explanations.append(Explanation(
                cause=cause, direction=direction, confidence=float(probabilities[row, best]),
                text=sentence(cause, direction, region), counterfactual=method,
                backend=self.backend, scores=scores, region=region,
                region_map=[[round(v, 3) for v in cells] for cells in maps[row].tolist()]
                if placed else []))
        elapsed = (time.perf_counter() - started) / max(1, len(explanations))
        for explanation in explanations:
            explanation.seconds = elapsed
        return explanations

    def save(self, path: str | Path) -> None:
        if self.features.stats is None or "alone" not in self.heads:
            raise RuntimeError("nothing to save: the descriptor explainer is not fitted")
        payload = {"format": FORMAT, "descriptors": list(DESCRIPTORS),
                   "labels": [list(label) for label in LABELS],
                   "features": {k: v.tolist() for k, v in self.features.stats.items()},
                   "heads": {mode: head.to_dict() for mode, head in self.heads.items()},
                   "gates": {mode: gate.to_dict() for mode, gate in self.gates.items()},
                   "field_offsets": self.field_offsets}
        if self.unsure_rule is not None:
            payload["unsure"] = self.unsure_rule.to_dict()
        Path(path).write_text(json.dumps(payload) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "DescriptorExplainer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"descriptor explainer not found: {path} "
                                    "(create it with `competency-cf fit-explainer`)")
        try:
            payload = json.loads(path.read_text())
            if payload.get("format") != FORMAT:
                raise ValueError(f"format {payload.get('format')!r}, expected {FORMAT!r}")
            if payload["descriptors"] != list(DESCRIPTORS) or \
                    [tuple(label) for label in payload["labels"]] != list(LABELS):
                raise ValueError("descriptors or labels differ from this version's")
            stats = {key: torch.tensor(payload["features"][key], dtype=torch.float32)
                     for key in DescriptorFeatures.KEYS}
            explainer = cls(DescriptorFeatures(stats))
            explainer.heads = {mode: LabelHead.from_dict(entries)
                               for mode, entries in payload["heads"].items() if mode in MODES}
            explainer.gates = {mode: LabelHead.from_dict(entries)
                               for mode, entries in payload.get("gates", {}).items()
                               if mode in explainer.heads}
            explainer.field_offsets = {str(k): float(v) for k, v
                                       in payload.get("field_offsets", {}).items()}
            if "alone" not in explainer.heads:
                raise ValueError("no 'alone' head")
            if "unsure" in payload:
                explainer.unsure_rule = UnsureRule.from_dict(payload["unsure"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}: not a descriptor explainer file ({error})") from error
        return explainer
