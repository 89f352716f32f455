"""Explanation accuracy on the shifted set, for the fit and the held-out implementations apart.

The example set is made by the code the explainer was fitted on; the shifted set
(`competency.shifted_set`) by several implementations of each cause, some of which nothing may
be fitted on. Each frame's explanation is graded (`explain.grading.grade`) against its cause and
direction, without a counterfactual and with each counterfactual method. Accuracy per cause is
the share of a group's frames of that cause explained correctly; the average is over causes.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.competency.shifted_set import ShiftedSet
from competency_cf.data.cause_implementations import (EXPLAINED_CAUSES, GROUPS, OUTSIDE,
                                                      SHIFT_RENDER_INDEX, get_implementation)
from competency_cf.evaluation.explanation_report import COUNTERFACTUALS, explain_images
from competency_cf.explain.explanation import UNSURE
from competency_cf.explain.grading import grade, mentioned_cause, said_unsure

GROUP_TITLES = {"fit": "Fit implementations (may be used to fit the explainer)",
                "held_out": "Held-out implementations (reporting only)"}
HELD_OUT_TARGET = 0.90  # the average target on held-out implementations


@dataclass
class ShiftRow:
    """Accuracy with one counterfactual method (NaN where a group has no frame of a cause)."""

    counterfactual: str
    accuracy: dict[str, dict[str, float]]          # group -> cause -> accuracy
    average: dict[str, float]                      # group -> mean over causes
    by_implementation: dict[str, float]            # implementation -> accuracy
    confusion: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # group -> true cause -> cause the text names ("unsure" when it names none) -> count
    unsure: dict[str, float] = field(default_factory=dict)  # group -> share answered unsure


@dataclass
class ImplementationSummary:
    name: str
    cause: str
    direction: str
    group: str
    strengths: list[float] | None
    kept: int
    tried: int


@dataclass
class ShiftReport:
    domain: str
    backend: str
    seed: int
    per_implementation: int
    images: int
    implementations: list[ImplementationSummary] = field(default_factory=list)
    rows: list[ShiftRow] = field(default_factory=list)

    def frames(self, group: str) -> int:
        return sum(impl.kept for impl in self.implementations if impl.group == group)

    def to_markdown(self) -> str:
        lines = [f"# Explanations on shifted causes: {self.domain} ({self.backend} explainer)", "",
                 f"{self.images} low-competency frames: fresh renders (image indices from "
                 f"{SHIFT_RENDER_INDEX:,}) degraded by several implementations of each cause at "
                 f"random strengths (seed {self.seed}, up to {self.per_implementation} per "
                 "implementation), kept only when competency fell below the threshold. Graded "
                 "automatically by cause and direction; the average is over causes."]
        header = ["| counterfactual | " + " | ".join(EXPLAINED_CAUSES) + " | average |",
                  "| --- |" + " --- |" * (len(EXPLAINED_CAUSES) + 1)]
        header = [header[0] + " answered unsure |", header[1] + " --- |"]
        for group in GROUPS:
            lines += ["", f"## {GROUP_TITLES[group]}: {self.frames(group)} frames", ""] + header
            for row in self.rows:
                cells = " | ".join(_percent(row.accuracy[group][c])
                                   for c in EXPLAINED_CAUSES)
                lines.append(f"| {row.counterfactual} | {cells} | "
                             f"{_percent(row.average[group], 1)} | "
                             f"{_percent(row.unsure.get(group, math.nan), 1)} |")
        outside = [impl for impl in self.implementations if impl.group == OUTSIDE]
        if outside:
            lines += ["", f"## Causes outside the label set: {self.frames(OUTSIDE)} frames", "",
                      "Share answered unsure (the right answer: none of the explainer's causes "
                      "applies); otherwise the cause it named.", "",
                      "| counterfactual | " + " | ".join(i.name for i in outside)
                      + " | answered unsure | named instead |",
                      "| --- |" + " --- |" * (len(outside) + 2)]
            for row in self.rows:
                cells = " | ".join(_percent(row.by_implementation[i.name]) for i in outside)
                named = row.confusion.get(OUTSIDE, {}).get(OUTSIDE, {})
                instead = ", ".join(f"{cause} {count}" for cause, count in sorted(
                    named.items(), key=lambda item: -item[1]) if cause != UNSURE) or "-"
                lines.append(f"| {row.counterfactual} | {cells} | "
                             f"{_percent(row.unsure.get(OUTSIDE, math.nan), 1)} | {instead} |")
        names = [row.counterfactual for row in self.rows]
        lines += ["", "## Per implementation", "",
                  "| implementation | cause | direction | group | strengths | kept / tried | "
                  + " | ".join(names) + " |", "| --- |" + " --- |" * (5 + len(names))]
        for impl in self.implementations:
            strengths = ("-" if impl.strengths is None else
                         f"{impl.strengths[0]:.3g} to {impl.strengths[1]:.3g}")
            cells = " | ".join(_percent(row.by_implementation[impl.name]) for row in self.rows)
            lines.append(f"| {impl.name} | {impl.cause} | {impl.direction} | {impl.group} | "
                         f"{strengths} | {impl.kept} / {impl.tried} | {cells} |")
        return "\n".join(lines) + "\n"

    def save(self, directory: Path, stem: str = "explanations_shift") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{stem}.md").write_text(self.to_markdown())
        (directory / f"{stem}.json").write_text(json.dumps(_finite(asdict(self)), indent=2)
                                                + "\n")
        self.figure(directory / f"{stem}.png")

    def figure(self, path: Path) -> None:
        """One panel per counterfactual: accuracy per cause, fit beside held-out."""
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(self.rows), figsize=(3.6 * len(self.rows), 3.4),
                                 sharey=True, squeeze=False)
        positions = np.arange(len(EXPLAINED_CAUSES) + 1)
        for axis, row in zip(axes[0], self.rows):
            for offset, group, color in ((-0.2, "fit", "tab:blue"),
                                         (0.2, "held_out", "tab:orange")):
                values = ([row.accuracy[group][c] for c in EXPLAINED_CAUSES]
                          + [row.average[group]])
                axis.bar(positions + offset, np.nan_to_num(values), 0.4, color=color,
                         label=group)
            axis.set_xticks(positions, list(EXPLAINED_CAUSES) + ["average"], rotation=45,
                            ha="right", fontsize=8)
            axis.axhline(HELD_OUT_TARGET, color="gray", linewidth=0.8, linestyle="--")
            axis.set_ylim(0, 1.05)
            axis.set_title(f"counterfactual: {row.counterfactual}", fontsize=9)
        axes[0][0].set_ylabel("accuracy")
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", ncols=2, fontsize=8)  # clear of the bars
        fig.suptitle(f"{self.domain}: explanations on shifted causes ({self.backend} explainer)",
                     fontsize=10)
        fig.tight_layout(rect=(0, 0, 1, 0.94))
        fig.savefig(path, dpi=110)
        plt.close(fig)


def _percent(value: float, decimals: int = 0) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{decimals}%}"


def _finite(value):
    """NaN as null, so the JSON file is standard JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _share(correct: np.ndarray, rows: np.ndarray) -> float:
    return float(correct[rows].mean()) if rows.any() else float("nan")


def grade_shifted(texts: list[str], shifted: ShiftedSet, counterfactual: str) -> ShiftRow:
    """Accuracy per group and cause, per implementation, and the confusion counts."""
    if len(texts) != len(shifted):
        raise ValueError(f"{len(texts)} explanations for {len(shifted)} frames")
    unsure = np.array([said_unsure(text) for text in texts], dtype=bool)
    # Outside the label set, "unsure" is the right answer.
    correct = np.array([said if cause == OUTSIDE else grade(text, str(cause), str(direction))
                        for text, cause, direction, said
                        in zip(texts, shifted.causes, shifted.directions, unsure)], dtype=bool)
    accuracy = {group: {cause: _share(correct, (shifted.groups == group)
                                      & (shifted.causes == cause))
                        for cause in EXPLAINED_CAUSES}
                for group in GROUPS}
    average = {group: (float(np.nanmean(list(values.values())))
                       if any(not math.isnan(v) for v in values.values()) else float("nan"))
               for group, values in accuracy.items()}
    by_implementation = {name: _share(correct, shifted.implementations == name)
                         for name in shifted.tried}
    confusion: dict[str, dict[str, dict[str, int]]] = {
        g: {c: {} for c in EXPLAINED_CAUSES} for g in GROUPS}
    confusion[OUTSIDE] = {OUTSIDE: {}}
    for text, cause, group, said_none in zip(texts, shifted.causes, shifted.groups, unsure):
        said = UNSURE if said_none else (mentioned_cause(text) or "none")
        counts = confusion[str(group)][str(cause)]
        counts[said] = counts.get(said, 0) + 1
    shares = {group: _share(unsure, shifted.groups == group) for group in GROUPS + (OUTSIDE,)
              if (shifted.groups == group).any()}
    return ShiftRow(counterfactual, accuracy, average, by_implementation, confusion, shares)


def evaluate_shifted_explanations(explainer, estimator, domain: str, shifted: ShiftedSet,
                                  calibration_images: torch.Tensor, seed: int,
                                  per_implementation: int,
                                  counterfactuals: tuple[str, ...] = COUNTERFACTUALS,
                                  batch_size: int = 50,
                                  show_progress: bool = True) -> ShiftReport:
    """Explain every shifted frame without and with each counterfactual method."""
    report = ShiftReport(domain=domain, backend=explainer.backend, seed=seed,
                         per_implementation=per_implementation, images=len(shifted))
    kept = shifted.kept()
    for name, tried in shifted.tried.items():
        impl = get_implementation(name)
        report.implementations.append(ImplementationSummary(
            name, impl.cause, impl.direction, impl.group,
            None if impl.strengths is None else [float(s) for s in impl.strengths],
            kept[name], tried))
    for name in tqdm(counterfactuals, desc=f"{domain} shifted explanations", unit="method",
                     disable=not show_progress):
        texts, _ = explain_images(explainer, estimator, name, shifted.images,
                                  calibration_images, batch_size)
        report.rows.append(grade_shifted(texts, shifted, name))
    return report
