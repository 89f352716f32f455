"""How well PaRCE is calibrated and how well it separates ID images from each cause.

Reported: mean competency vs accuracy on the calibration split; test accuracy; the fraction of
correctly classified ID test images above the threshold; and the AUROC of competency for ID test
images against each cause, two ways:

- against the cause's low-competency example set (the paper's per-cause evaluation sets): the
  figure the targets are checked on. These sets are selected by competency falling below the
  threshold, so this AUROC mostly measures how cleanly ID images stay above it.
- against every test image degraded with every factor of the table, and the whole OOD set, with no
  selection: how often a degradation of that strength is noticed at all. Mild factors often are not
  (a dim sign made twice as bright is still an ordinary sign), so this is lower.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from competency_cf.competency.examples import build_examples, sweep_cause
from competency_cf.competency.parce import ParceEstimator
from competency_cf.data.causes import CAUSES, DEGRADATIONS
from competency_cf.data.dataset import DomainData
from competency_cf.data.domains import Domain
from competency_cf.evaluation.metrics import auroc

TARGETS = {"calibration_gap": 0.01, "correct_above_threshold": 0.90, "auroc": 0.95}


@dataclass
class CalibrationReport:
    domain: str
    threshold: float
    z_star: float
    calibration_accuracy: float
    calibration_mean_competency: float
    test_accuracy: float
    correct_above_threshold: float
    examples_per_cause: dict[str, int] = field(default_factory=dict)
    auroc: dict[str, float] = field(default_factory=dict)
    auroc_unselected: dict[str, float] = field(default_factory=dict)
    auroc_per_factor: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def calibration_gap(self) -> float:
        return abs(self.calibration_mean_competency - self.calibration_accuracy)

    def checks(self) -> dict[str, bool]:
        checks = {
            f"calibration gap (mean competency vs accuracy) <= {TARGETS['calibration_gap']}":
                self.calibration_gap <= TARGETS["calibration_gap"],
            f"correct ID test images above threshold >= {TARGETS['correct_above_threshold']:.0%}":
                self.correct_above_threshold >= TARGETS["correct_above_threshold"],
        }
        for cause, value in self.auroc.items():
            name = f"AUROC {cause} (vs examples) >= {TARGETS['auroc']}"
            checks[name] = value >= TARGETS["auroc"]
        return checks

    def to_markdown(self) -> str:
        lines = [
            f"# PaRCE calibration report: {self.domain}",
            "",
            "| quantity | value |",
            "| --- | --- |",
            f"| calibration accuracy | {self.calibration_accuracy:.4f} |",
            f"| calibration mean competency | {self.calibration_mean_competency:.4f} |",
            f"| gap | {self.calibration_gap:.4f} |",
            f"| z* | {self.z_star:.2f} |",
            f"| threshold | {self.threshold:.2f} |",
            f"| ID test accuracy | {self.test_accuracy:.4f} |",
            f"| correct ID test images above threshold | {self.correct_above_threshold:.4f} |",
            "",
            "AUROC of competency, ID test images (positive) vs each cause: against the cause's "
            "low-competency example set, and without selection (spatial: the whole OOD set; "
            "others: every test image at every factor, pooled and per factor).",
            "",
            "| cause | examples | AUROC vs examples | AUROC unselected | unselected, per factor |",
            "| --- | --- | --- | --- | --- |",
        ]
        for cause, value in self.auroc.items():
            per_factor = ", ".join(f"{k}: {v:.3f}" for k, v in
                                   self.auroc_per_factor.get(cause, {}).items())
            lines.append(f"| {cause} | {self.examples_per_cause.get(cause, 0)} | {value:.4f} | "
                         f"{self.auroc_unselected.get(cause, float('nan')):.4f} | {per_factor} |")
        lines += ["", "| target | met |", "| --- | --- |"]
        lines += [f"| {name} | {'yes' if ok else 'NO'} |" for name, ok in self.checks().items()]
        return "\n".join(lines) + "\n"

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "calibration.md").write_text(self.to_markdown())
        payload = asdict(self) | {"calibration_gap": self.calibration_gap, "checks": self.checks()}
        (directory / "calibration.json").write_text(json.dumps(payload, indent=2) + "\n")
        return directory


def calibration_report(estimator: ParceEstimator, domain: Domain, data: DomainData,
                       seed: int = 0, per_cause: int = 100, show_progress: bool = True,
                       figure: str | Path | None = None) -> CalibrationReport:
    calibration = estimator.calibration
    test = estimator.evaluate(data.test.images)
    correct = (test.prediction == data.test.labels).numpy()
    id_competency = test.competency.numpy()
    report = CalibrationReport(
        domain=domain.name, threshold=calibration.threshold, z_star=calibration.z_star,
        calibration_accuracy=calibration.calibration_accuracy,
        calibration_mean_competency=calibration.calibration_mean_competency,
        test_accuracy=float(correct.mean()),
        correct_above_threshold=float((id_competency[correct] >= calibration.threshold).mean()))
    unselected = {"spatial": estimator.evaluate(data.ood.images).competency.numpy()}
    sweeps = {}
    for cause in tqdm(DEGRADATIONS, desc="degradation sweep", unit="cause",
                      disable=not show_progress):
        sweeps[cause] = sweep_cause(estimator, data.test.images, domain, cause, seed)
        report.auroc_per_factor[cause] = {
            f"{factor:g}": auroc(id_competency, sweeps[cause][:, index])
            for index, factor in enumerate(domain.factors[cause])}
        unselected[cause] = sweeps[cause].ravel()
    examples = build_examples(estimator, domain, data, per_cause=per_cause, seed=seed,
                              show_progress=False, sweeps=sweeps)
    report.examples_per_cause = examples.counts()
    for cause in CAUSES:
        report.auroc_unselected[cause] = auroc(id_competency, unselected[cause])
        chosen = examples.competency[examples.causes == cause]
        report.auroc[cause] = auroc(id_competency, chosen) if len(chosen) else float("nan")
    if figure is not None:
        plot_competency_histograms(id_competency, unselected, calibration.threshold,
                                   domain.name, figure)
    return report


def plot_competency_histograms(id_competency: np.ndarray, cause_competency: dict[str, np.ndarray],
                               threshold: float, title: str, path: str | Path) -> None:
    """One panel per cause: competency histograms of ID test images vs that cause."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6), sharex=True)
    bins = np.linspace(0.0, 1.0, 41)
    for ax, (cause, values) in zip(axes.ravel(), cause_competency.items()):
        ax.hist(id_competency, bins=bins, alpha=0.6, density=True, label="ID test")
        ax.hist(values, bins=bins, alpha=0.6, density=True, label=f"{cause} (unselected)")
        ax.axvline(threshold, color="k", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(cause)
        ax.legend(loc="upper left", fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("competency")
    fig.suptitle(f"{title}: PaRCE competency, ID test vs each cause at every factor "
                 f"(dashed: threshold)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
