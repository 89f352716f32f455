"""`competency-cf robustness`: competency and the standard detectors under shifts that nothing in
the project was fitted on.

Fresh renders (image indices from `FRESH_OFFSET`, never used for training, calibration, tests,
scenarios or benchmarks) are shifted by the common corruptions of Hendrycks & Dietterich
(`data/corruptions.py`, five severities each) and by unfamiliar objects pasted over 15-50 % of the
view (`data/pastes.py`); neither shares code with the generator's own causes (`data/causes.py`).
Each shift belongs to a group fixed in those modules: the tuning group may be used to choose
anything, the held-out group only to report, and only the held-out group counts for the targets.

Per shift: classifier accuracy; the share of images PaRCE flags (competency below the threshold);
silent failures (wrong and not flagged, as a share of all images); and for every detector the
AUROC of its score for telling correct from wrong predictions and the AURC (area under the
risk-coverage curve). On the clean fresh renders: false alarms and the calibration gap.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from competency_cf.evaluation.metrics import (aurc, error_detection_auroc, flagged_rate,
                                              risk_coverage_curve, silent_failure_rate)

FRESH_OFFSET = 2_000_000  # image indices of the benchmark's renders
FIT_PER_CLASS = 100       # in-distribution renders (dataset indices) the detectors are fitted on
PASTE_FRACTIONS = (0.15, 0.3, 0.5)
DETECTOR_NAMES = ("parce", "msp", "energy", "mahalanobis", "knn", "vim")
GROUPS = ("tuning", "held_out")
# Targets on the held-out group.
TARGETS = {"silent_failures": 0.02, "auroc": 0.92, "paste_flagged": 0.90,
           "false_alarms": 0.03, "calibration_gap": 0.01}
PASTE_TARGET_FRACTION = 0.3  # pastes covering at least this much of the view must be flagged


@dataclass(frozen=True)
class Shift:
    kind: str     # "corruption" or "paste"
    name: str     # corruption name, or paste source
    level: float  # severity 1..5, or the pasted area fraction
    group: str    # "tuning" or "held_out"

    @property
    def label(self) -> str:
        level = int(self.level) if self.kind == "corruption" else f"{self.level:.0%}"
        return f"{self.name} {level}"

    def apply(self, images: torch.Tensor, domain: str, seed: int) -> torch.Tensor:
        if self.kind == "corruption":
            from competency_cf.data.corruptions import corrupt

            return corrupt(images, self.name, int(self.level), seed=seed)
        from competency_cf.data.pastes import paste_objects

        return paste_objects(images, self.name, self.level, seed=seed, domain=domain)


def all_shifts() -> list[Shift]:
    """Every corruption at every severity, then every paste source at every area fraction, with
    the group each module fixes."""
    from competency_cf.data.corruptions import CORRUPTIONS, SEVERITIES, TUNING_CORRUPTIONS
    from competency_cf.data.pastes import PASTE_SOURCES, TUNING_PASTES

    shifts = [Shift("corruption", name, float(severity),
                    "tuning" if name in TUNING_CORRUPTIONS else "held_out")
              for name in CORRUPTIONS for severity in SEVERITIES]
    shifts += [Shift("paste", source, fraction,
                     "tuning" if source in TUNING_PASTES else "held_out")
               for source in PASTE_SOURCES for fraction in PASTE_FRACTIONS]
    return shifts


@dataclass
class ShiftResult:
    shift: Shift | None  # None: the clean fresh renders
    images: int
    accuracy: float
    flagged: float          # PaRCE competency below the threshold
    silent_failures: float  # wrong with competency at or above the threshold, share of all
    mean_competency: float
    auroc: dict[str, float] = field(default_factory=dict)  # error detection, per detector
    aurc: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "clean" if self.shift is None else self.shift.label


def evaluate_shift(shift: Shift | None, images: torch.Tensor, labels: torch.Tensor,
                   detectors: dict, threshold: float) -> tuple[ShiftResult, np.ndarray, dict]:
    """Scores of every detector on `images`; the result row, which predictions were correct and
    the scores (for pooled curves)."""
    scores = {name: detector.score(images).numpy() for name, detector in detectors.items()}
    prediction = detectors["parce"].estimator.evaluate(images).prediction
    correct = (prediction == labels).numpy()
    competency = scores["parce"]
    row = ShiftResult(
        shift, len(images), float(correct.mean()), flagged_rate(competency, threshold),
        silent_failure_rate(correct, competency, threshold), float(competency.mean()),
        {name: error_detection_auroc(correct, score) for name, score in scores.items()},
        {name: aurc(correct, score) for name, score in scores.items()})
    return row, correct, scores


def _nanmean(values) -> float:
    values = np.asarray(list(values), dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


@dataclass
class RobustnessReport:
    domain: str
    threshold: float
    clean: ShiftResult
    rows: list[ShiftResult]
    # Pooled per group over its corruption images: (correct, {detector: scores}), for the curves.
    pooled: dict = field(default_factory=dict, repr=False)

    def corruption_rows(self, group: str) -> list[ShiftResult]:
        return [r for r in self.rows if r.shift.kind == "corruption" and r.shift.group == group]

    def paste_rows(self, group: str) -> list[ShiftResult]:
        return [r for r in self.rows if r.shift.kind == "paste" and r.shift.group == group]

    def summary(self, group: str) -> dict:
        """Averages over the group's corruptions and severities (AUROC over the sets that hold
        both correct and wrong predictions), and its pastes' flagged rate at >= 30 % cover."""
        rows = self.corruption_rows(group)
        pastes = [r for r in self.paste_rows(group) if r.shift.level >= PASTE_TARGET_FRACTION]
        return {
            "corruption_sets": len(rows),
            "accuracy": _nanmean(r.accuracy for r in rows),
            "flagged": _nanmean(r.flagged for r in rows),
            "silent_failures": _nanmean(r.silent_failures for r in rows),
            "auroc": {name: _nanmean(r.auroc[name] for r in rows) for name in DETECTOR_NAMES},
            "aurc": {name: _nanmean(r.aurc[name] for r in rows) for name in DETECTOR_NAMES},
            "paste_flagged": _nanmean(r.flagged for r in pastes),
        }

    def checks(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met) on the held-out group."""
        held = self.summary("held_out")
        parce_auroc, parce_aurc = held["auroc"]["parce"], held["aurc"]["parce"]
        others = [name for name in DETECTOR_NAMES if name != "parce"]
        best_auroc = max(others, key=lambda name: held["auroc"][name])
        best_aurc = min(others, key=lambda name: held["aurc"][name])
        gap = abs(self.clean.mean_competency - self.clean.accuracy)
        return [
            (f"silent failures <= {TARGETS['silent_failures']:.0%}",
             f"{held['silent_failures']:.1%}",
             held["silent_failures"] <= TARGETS["silent_failures"]),
            (f"error-detection AUROC >= {TARGETS['auroc']}", f"{parce_auroc:.3f}",
             parce_auroc >= TARGETS["auroc"]),
            ("AUROC above every other detector",
             f"best other: {best_auroc} {held['auroc'][best_auroc]:.3f}",
             parce_auroc > held["auroc"][best_auroc]),
            ("AURC below every other detector",
             f"{parce_aurc:.4f}; best other: {best_aurc} {held['aurc'][best_aurc]:.4f}",
             parce_aurc < held["aurc"][best_aurc]),
            (f"unfamiliar objects >= {PASTE_TARGET_FRACTION:.0%} of the view flagged "
             f">= {TARGETS['paste_flagged']:.0%}", f"{held['paste_flagged']:.1%}",
             held["paste_flagged"] >= TARGETS["paste_flagged"]),
            (f"false alarms on clean fresh renders <= {TARGETS['false_alarms']:.0%}",
             f"{self.clean.flagged:.1%}", self.clean.flagged <= TARGETS["false_alarms"]),
            (f"calibration gap on clean fresh renders <= {TARGETS['calibration_gap']}",
             f"{gap:.3f}", gap <= TARGETS["calibration_gap"]),
        ]

    def to_markdown(self) -> str:
        lines = [f"# Robustness: {self.domain}", "",
                 f"PaRCE threshold {self.threshold:.2f}; {self.clean.images} fresh renders per "
                 "shift (image indices from "
                 f"{FRESH_OFFSET:,}). Clean: accuracy {self.clean.accuracy:.1%}, flagged "
                 f"(false alarms) {self.clean.flagged:.1%}, mean competency "
                 f"{self.clean.mean_competency:.3f}.", "",
                 "## Targets (held-out group)", "", "| target | measured | met |",
                 "| --- | --- | --- |"]
        lines += [f"| {target} | {measured} | {'yes' if met else '**no**'} |"
                  for target, measured, met in self.checks()]
        lines += ["", "## Detectors side by side (corruptions; AUROC up, AURC down)", "",
                  "| group | " + " | ".join(DETECTOR_NAMES) + " |",
                  "| --- |" + " --- |" * len(DETECTOR_NAMES)]
        for group in GROUPS:
            summary = self.summary(group)
            lines.append(f"| {group} AUROC | " + " | ".join(
                f"{summary['auroc'][name]:.3f}" for name in DETECTOR_NAMES) + " |")
            lines.append(f"| {group} AURC | " + " | ".join(
                f"{summary['aurc'][name]:.4f}" for name in DETECTOR_NAMES) + " |")
        lines += ["", "## Per group", "",
                  "| group | corruption sets | accuracy | flagged | silent failures | "
                  f"pastes >= {PASTE_TARGET_FRACTION:.0%} flagged |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for group in GROUPS:
            s = self.summary(group)
            lines.append(f"| {group} | {s['corruption_sets']} | {s['accuracy']:.1%} | "
                         f"{s['flagged']:.1%} | {s['silent_failures']:.1%} | "
                         f"{s['paste_flagged']:.1%} |")
        lines += ["", "## Per shift", "",
                  "| shift | group | accuracy | flagged | silent failures | AUROC parce | "
                  "AUROC msp | AURC parce | AURC msp |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for row in [self.clean] + self.rows:
            group = "-" if row.shift is None else row.shift.group
            lines.append(f"| {row.label} | {group} | {row.accuracy:.1%} | {row.flagged:.1%} | "
                         f"{row.silent_failures:.1%} | {row.auroc['parce']:.3f} | "
                         f"{row.auroc['msp']:.3f} | {row.aurc['parce']:.4f} | "
                         f"{row.aurc['msp']:.4f} |")
        lines += ["", "AUROC is NaN where a set holds no wrong (or no correct) prediction; "
                  "group averages leave those sets out. The tables average per shift (ranking "
                  "within one corruption at one severity); the figure's curves pool every "
                  "held-out corruption image (ranking across shifts too, as on a robot where "
                  "shifts mix), so the two can order the detectors differently."]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        def row(r: ShiftResult) -> dict:
            return {"shift": None if r.shift is None else asdict(r.shift),
                    **{k: v for k, v in asdict(r).items() if k != "shift"}}

        return {"domain": self.domain, "threshold": self.threshold, "clean": row(self.clean),
                "rows": [row(r) for r in self.rows],
                "summary": {group: self.summary(group) for group in GROUPS},
                "checks": [{"target": t, "measured": m, "met": ok}
                           for t, m, ok in self.checks()]}

    def save(self, directory: str | Path) -> Path:
        """robustness.md, robustness.json and robustness.png in `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "robustness.md").write_text(self.to_markdown())
        (directory / "robustness.json").write_text(
            json.dumps(self.to_dict(), indent=1, default=_json_number))
        self.figure(directory / "robustness.png")
        return directory / "robustness.md"

    def figure(self, path: Path) -> None:
        """Risk-coverage curves per detector on the pooled held-out corruption images, and
        silent failures and flagged share by severity for both groups."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from competency_cf.data.corruptions import SEVERITIES

        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        correct, scores = self.pooled.get("held_out", (np.zeros(0, bool), {}))
        for name, values in scores.items():
            if len(correct):
                coverage, risk = risk_coverage_curve(correct, values)
                axes[0].plot(coverage, risk, label=f"{name} (AURC {aurc(correct, values):.3f})",
                             linewidth=2.2 if name == "parce" else 1.2)
        axes[0].set(xlabel="coverage (share of images accepted, most confident first)",
                    ylabel="risk (error rate among accepted)",
                    title=f"{self.domain}: risk-coverage, all held-out corruption images pooled")
        axes[0].legend(fontsize=8)
        for group, style in zip(GROUPS, ("--", "-")):
            rows = self.corruption_rows(group)
            silent = [_nanmean(r.silent_failures for r in rows if r.shift.level == s)
                      for s in SEVERITIES]
            flagged = [_nanmean(r.flagged for r in rows if r.shift.level == s)
                       for s in SEVERITIES]
            axes[1].plot(SEVERITIES, silent, style, marker="o", color="tab:red",
                         label=f"silent failures, {group}")
            axes[1].plot(SEVERITIES, flagged, style, marker="s", color="tab:blue",
                         label=f"flagged, {group}")
        axes[1].axhline(TARGETS["silent_failures"], color="tab:red", linewidth=0.8, alpha=0.5)
        axes[1].set(xlabel="severity", ylabel="share of images", ylim=(0, 1),
                    title="PaRCE by corruption severity (averaged over corruptions)")
        axes[1].set_xticks(list(SEVERITIES))
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def _json_number(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def robustness(domain: str, estimator=None, per_class: int = 10, shifts: list[Shift] | None = None,
               seed: int = 0, fit_per_class: int = FIT_PER_CLASS,
               show_progress: bool = True) -> RobustnessReport:
    """Run the benchmark on `domain` (its committed models unless `estimator` is given).

    `per_class` fresh renders per class are shifted by each of `shifts` (default: all of them);
    the detectors that need it are fitted on `fit_per_class` in-distribution renders per class
    (dataset image indices).
    """
    from tqdm import tqdm

    from competency_cf.competency.detectors import build_detector
    from competency_cf.competency.parce import load_estimator
    from competency_cf.data.domains import get_domain
    from competency_cf.data.synthesize import render_sample
    from competency_cf.resources import models_dir

    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    spec = get_domain(domain)
    estimator = estimator if estimator is not None else load_estimator(models_dir(domain))
    estimator.eval()
    fit = render_sample(spec, per_class=fit_per_class)
    detectors = {name: build_detector(name, estimator).fit(fit.images, fit.labels)
                 for name in DETECTOR_NAMES}
    fresh = render_sample(spec, per_class=per_class, offset=FRESH_OFFSET)
    threshold = float(estimator.threshold)
    clean, _, _ = evaluate_shift(None, fresh.images, fresh.labels, detectors, threshold)
    rows, pooled = [], {group: ([], {name: [] for name in DETECTOR_NAMES}) for group in GROUPS}
    for shift in tqdm(shifts if shifts is not None else all_shifts(), desc=f"shifts {domain}",
                      unit="shift", disable=not show_progress):
        images = shift.apply(fresh.images, domain, seed)
        row, correct, scores = evaluate_shift(shift, images, fresh.labels, detectors, threshold)
        rows.append(row)
        if shift.kind == "corruption":
            pooled[shift.group][0].append(correct)
            for name, values in scores.items():
                pooled[shift.group][1][name].append(values)
    pooled = {group: (np.concatenate(correct), {n: np.concatenate(v) for n, v in s.items()})
              for group, (correct, s) in pooled.items() if correct}
    return RobustnessReport(domain, threshold, clean, rows, pooled)
