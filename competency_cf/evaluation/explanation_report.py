"""The paper's Tables 3-4: explanation accuracy per cause, without and with each counterfactual.

Each example's explanation is graded automatically (`explain.grading`) against the example's
known cause and direction. Rows: None (original image only), Reco, LGD, LNN; columns: the six
causes, their average, and the time per explanation.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.competency.examples import ExampleSet
from competency_cf.competency.parce import ParceEstimator
from competency_cf.counterfactual.methods import build_method
from competency_cf.data.causes import CAUSES
from competency_cf.explain.grading import grade, mentioned_cause, true_direction

COUNTERFACTUALS = ("None", "Reco", "LGD", "LNN")


@dataclass
class ExplanationRow:
    counterfactual: str
    accuracy_by_cause: dict[str, float]
    average: float
    ms_per_explanation: float
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # true -> said -> count


@dataclass
class ExplanationReport:
    domain: str
    backend: str
    images: int
    rows: list[ExplanationRow] = field(default_factory=list)
    examples: dict[str, list[str]] = field(default_factory=dict)  # a few sentences per row

    def to_markdown(self) -> str:
        lines = [f"# Explanations: {self.domain} ({self.backend} explainer)", "",
                 f"{self.images} low-competency examples, graded automatically by cause and "
                 "direction. Time per explanation excludes generating the counterfactual.", "",
                 "| counterfactual | " + " | ".join(CAUSES) + " | average | ms / explanation |",
                 "| --- |" + " --- |" * (len(CAUSES) + 2)]
        for row in self.rows:
            cells = " | ".join(f"{row.accuracy_by_cause[c]:.0%}" for c in CAUSES)
            lines.append(f"| {row.counterfactual} | {cells} | {row.average:.2%} | "
                         f"{row.ms_per_explanation:.3f} |")
        for name, sentences in self.examples.items():
            lines += ["", f"Examples ({name}):", ""] + [f"- {s}" for s in sentences]
        return "\n".join(lines) + "\n"

    def save(self, directory: Path, stem: str = "explanations") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{stem}.md").write_text(self.to_markdown())
        (directory / f"{stem}.json").write_text(json.dumps(asdict(self), indent=2) + "\n")
        self.figure(directory / f"{stem}.png")

    def figure(self, path: Path) -> None:
        """Grouped bars: accuracy per cause, one bar per counterfactual method."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axis = plt.subplots(figsize=(8.5, 3.4))
        width = 0.8 / max(1, len(self.rows))
        positions = np.arange(len(CAUSES) + 1)
        for i, row in enumerate(self.rows):
            values = [row.accuracy_by_cause[c] for c in CAUSES] + [row.average]
            axis.bar(positions + (i - (len(self.rows) - 1) / 2) * width, values, width,
                     label=row.counterfactual)
        axis.set_xticks(positions, list(CAUSES) + ["average"])
        axis.set_ylim(0, 1.05)
        axis.set_ylabel("accuracy")
        axis.axhline(0.95, color="gray", linewidth=0.8, linestyle="--")
        axis.set_title(f"{self.domain}: explanation accuracy ({self.backend} explainer)")
        axis.legend(title="counterfactual", ncols=len(self.rows), fontsize=8, loc="lower left")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def grade_explanations(texts: list[str], examples: ExampleSet) -> tuple[dict, dict]:
    """Accuracy per cause and the confusion counts (true cause -> cause the text names)."""
    correct = np.array([grade(text, cause, true_direction(cause, factor))
                        for text, cause, factor in zip(texts, examples.causes, examples.factors)])
    accuracy = {cause: float(correct[examples.causes == cause].mean())
                if (examples.causes == cause).any() else float("nan") for cause in CAUSES}
    confusion: dict[str, dict[str, int]] = {cause: {} for cause in CAUSES}
    for text, cause in zip(texts, examples.causes):
        said = mentioned_cause(text) or "none"
        confusion[str(cause)][said] = confusion[str(cause)].get(said, 0) + 1
    return accuracy, confusion


def explain_images(explainer, estimator: ParceEstimator, counterfactual: str,
                   images: torch.Tensor, calibration_images: torch.Tensor,
                   batch_size: int = 50) -> tuple[list[str], list[float]]:
    """The explanation text and seconds of every image, with counterfactual method
    `counterfactual` at its default settings ("None": the original image only)."""
    method = (None if counterfactual == "None" else
              build_method(counterfactual, estimator, calibration_images=calibration_images))
    texts, seconds = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        generated = None if method is None else method.generate(batch).images
        explanations = explainer.explain(batch, generated, method=counterfactual)
        texts += [e.text for e in explanations]
        seconds += [e.seconds for e in explanations]
    return texts, seconds


def evaluate_explanations(explainer, estimator: ParceEstimator, domain: str,
                          examples: ExampleSet, calibration_images: torch.Tensor,
                          counterfactuals: tuple[str, ...] = COUNTERFACTUALS,
                          batch_size: int = 50, limit_per_cause: int | None = None,
                          show_progress: bool = True) -> ExplanationReport:
    """Explain every example without and with each counterfactual method (default settings).

    `limit_per_cause` keeps the first N examples of each cause (for slow backends).
    """
    if limit_per_cause is not None:
        examples = examples.first_per_cause(limit_per_cause)
    report = ExplanationReport(domain=domain, backend=explainer.backend, images=len(examples))
    for name in tqdm(counterfactuals, desc=f"{domain} explanations ({explainer.backend})",
                     unit="method", disable=not show_progress):
        texts, seconds = explain_images(explainer, estimator, name, examples.images,
                                        calibration_images, batch_size)
        accuracy, confusion = grade_explanations(texts, examples)
        report.rows.append(ExplanationRow(
            counterfactual=name, accuracy_by_cause=accuracy,
            average=float(np.nanmean(list(accuracy.values()))),
            ms_per_explanation=statistics.median(seconds) * 1000.0, confusion=confusion))
        first = [int(np.flatnonzero(examples.causes == c)[0]) for c in CAUSES
                 if (examples.causes == c).any()]
        report.examples[name] = [f"{examples.causes[i]}: {texts[i]}" for i in first]
    return report
