"""`competency-cf robustness`: competency and the standard detectors under shifts that nothing in
the project was fitted on.

Fresh renders (image indices from `FRESH_OFFSET`, never used for training, calibration, tests,
scenarios or benchmarks) are shifted by the common corruptions of Hendrycks & Dietterich
(`data/corruptions.py`, five severities each) and by unfamiliar objects pasted over 15-50 % of the
view (`data/pastes.py`); neither shares code with the generator's own causes (`data/causes.py`).
Each shift belongs to a group fixed in those modules: the tuning group may be used to choose
anything, the held-out group only to report, and only the held-out group counts for the targets.

Per shift: classifier accuracy; for each competency estimator (the paper's PaRCE and, where the
models have a fused.json, the fused estimator) the share of images it flags (competency below its
threshold) and its silent failures (wrong and not flagged, as a share of all images); and for
every estimator and detector the AUROC of its score for telling correct from wrong predictions
and the AURC (area under the risk-coverage curve). On the clean fresh renders: false alarms and
the calibration gap. The targets apply to the candidate: the fused estimator where there is one.
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
STANDARD_DETECTORS = ("msp", "energy", "mahalanobis", "knn", "vim")
GROUPS = ("tuning", "held_out")
ESTIMATOR_COLORS = ("black", "tab:red", "tab:purple")  # competency estimators in the figure
DETECTOR_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:brown", "tab:pink")
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
    # Per competency estimator: competency below its threshold; wrong with competency at or
    # above it (share of all images); mean competency.
    flagged: dict[str, float]
    silent_failures: dict[str, float]
    mean_competency: dict[str, float]
    auroc: dict[str, float] = field(default_factory=dict)  # error detection, per detector
    aurc: dict[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return "clean" if self.shift is None else self.shift.label


def evaluate_shift(shift: Shift | None, images: torch.Tensor, labels: torch.Tensor,
                   detectors: dict, thresholds: dict[str, float]
                   ) -> tuple[ShiftResult, np.ndarray, dict]:
    """Scores of every detector on `images`; the result row, which predictions were correct and
    the scores (for pooled curves). `thresholds` names the competency estimators."""
    # One pass per competency estimator gives both its score and the prediction.
    results = {name: detectors[name].estimator.evaluate(images) for name in thresholds}
    scores = {name: results[name].competency.float().numpy() if name in results
              else detector.score(images).numpy() for name, detector in detectors.items()}
    correct = (next(iter(results.values())).prediction == labels).numpy()
    row = ShiftResult(
        shift, len(images), float(correct.mean()),
        {name: flagged_rate(scores[name], t) for name, t in thresholds.items()},
        {name: silent_failure_rate(correct, scores[name], t) for name, t in thresholds.items()},
        {name: float(scores[name].mean()) for name in thresholds},
        {name: error_detection_auroc(correct, score) for name, score in scores.items()},
        {name: aurc(correct, score) for name, score in scores.items()})
    return row, correct, scores


def _nanmean(values) -> float:
    values = np.asarray(list(values), dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


@dataclass
class RobustnessReport:
    domain: str
    thresholds: dict[str, float]  # competency estimators; the last is the candidate
    clean: ShiftResult
    rows: list[ShiftResult]
    # Pooled per group over its corruption images: (correct, {detector: scores}), for the curves.
    pooled: dict = field(default_factory=dict, repr=False)

    @property
    def estimators(self) -> list[str]:
        return list(self.thresholds)

    @property
    def candidate(self) -> str:
        """The estimator the targets apply to."""
        return self.estimators[-1]

    @property
    def detector_names(self) -> list[str]:
        return self.estimators + list(STANDARD_DETECTORS)

    def corruption_rows(self, group: str) -> list[ShiftResult]:
        return [r for r in self.rows if r.shift.kind == "corruption" and r.shift.group == group]

    def paste_rows(self, group: str) -> list[ShiftResult]:
        return [r for r in self.rows if r.shift.kind == "paste" and r.shift.group == group]

    def summary(self, group: str) -> dict:
        """Averages over the group's corruptions and severities (AUROC over the sets that hold
        both correct and wrong predictions), and its pastes' flagged rate at >= 30 % cover; the
        flagged and silent-failure figures per competency estimator."""
        rows = self.corruption_rows(group)
        pastes = [r for r in self.paste_rows(group) if r.shift.level >= PASTE_TARGET_FRACTION]
        names = self.detector_names
        return {
            "corruption_sets": len(rows),
            "accuracy": _nanmean(r.accuracy for r in rows),
            "flagged": {e: _nanmean(r.flagged[e] for r in rows) for e in self.estimators},
            "silent_failures": {e: _nanmean(r.silent_failures[e] for r in rows)
                                for e in self.estimators},
            "auroc": {name: _nanmean(r.auroc[name] for r in rows) for name in names},
            "aurc": {name: _nanmean(r.aurc[name] for r in rows) for name in names},
            "paste_flagged": {e: _nanmean(r.flagged[e] for r in pastes) for e in self.estimators},
        }

    def pooled_aurc(self, group: str) -> dict[str, float]:
        """AURC per detector over all of the group's corruption images at once (empty when the
        report was built without them)."""
        if group not in self.pooled:
            return {}
        correct, scores = self.pooled[group]
        return {name: aurc(correct, values) for name, values in scores.items()}

    def checks(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met) for the candidate on the held-out group."""
        held, name = self.summary("held_out"), self.candidate
        auroc_value, aurc_value = held["auroc"][name], held["aurc"][name]
        others = [other for other in self.detector_names if other != name]
        best_auroc = max(others, key=lambda other: held["auroc"][other])
        best_aurc = min(others, key=lambda other: held["aurc"][other])
        silent, pastes = held["silent_failures"][name], held["paste_flagged"][name]
        false_alarms = self.clean.flagged[name]
        gap = abs(self.clean.mean_competency[name] - self.clean.accuracy)
        return [
            (f"silent failures <= {TARGETS['silent_failures']:.0%}", f"{silent:.1%}",
             silent <= TARGETS["silent_failures"]),
            (f"error-detection AUROC >= {TARGETS['auroc']}", f"{auroc_value:.3f}",
             auroc_value >= TARGETS["auroc"]),
            ("AUROC above every other detector",
             f"best other: {best_auroc} {held['auroc'][best_auroc]:.3f}",
             auroc_value > held["auroc"][best_auroc]),
            ("AURC below every other detector",
             f"{aurc_value:.4f}; best other: {best_aurc} {held['aurc'][best_aurc]:.4f}",
             aurc_value < held["aurc"][best_aurc]),
            (f"unfamiliar objects >= {PASTE_TARGET_FRACTION:.0%} of the view flagged "
             f">= {TARGETS['paste_flagged']:.0%}", f"{pastes:.1%}",
             pastes >= TARGETS["paste_flagged"]),
            (f"false alarms on clean fresh renders <= {TARGETS['false_alarms']:.0%}",
             f"{false_alarms:.1%}", false_alarms <= TARGETS["false_alarms"]),
            (f"calibration gap on clean fresh renders <= {TARGETS['calibration_gap']}",
             f"{gap:.3f}", gap <= TARGETS["calibration_gap"]),
        ]

    def to_markdown(self) -> str:
        estimators, names = self.estimators, self.detector_names
        clean = ", ".join(f"{e}: flagged (false alarms) {self.clean.flagged[e]:.1%}, mean "
                          f"competency {self.clean.mean_competency[e]:.3f}" for e in estimators)
        thresholds = ", ".join(f"{e} {t:.2f}" for e, t in self.thresholds.items())
        lines = [f"# Robustness: {self.domain}", "",
                 f"Thresholds: {thresholds}; {self.clean.images} fresh renders per shift (image "
                 f"indices from {FRESH_OFFSET:,}). Clean: accuracy {self.clean.accuracy:.1%}; "
                 f"{clean}.", "",
                 f"## Targets ({self.candidate}, held-out group)", "",
                 "| target | measured | met |", "| --- | --- | --- |"]
        lines += [f"| {target} | {measured} | {'yes' if met else '**no**'} |"
                  for target, measured, met in self.checks()]
        lines += ["", "## Detectors side by side (corruptions; AUROC up, AURC down)", "",
                  "| group | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
        for group in GROUPS:
            summary = self.summary(group)
            lines.append(f"| {group} AUROC | " + " | ".join(
                f"{summary['auroc'][name]:.3f}" for name in names) + " |")
            lines.append(f"| {group} AURC | " + " | ".join(
                f"{summary['aurc'][name]:.4f}" for name in names) + " |")
            pooled = self.pooled_aurc(group)
            if pooled:
                lines.append(f"| {group} AURC pooled | " + " | ".join(
                    f"{pooled[name]:.4f}" for name in names) + " |")
        lines += ["", "## Per group and estimator", "",
                  "| group | estimator | corruption sets | accuracy | flagged | silent failures | "
                  f"pastes >= {PASTE_TARGET_FRACTION:.0%} flagged |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for group in GROUPS:
            s = self.summary(group)
            for e in estimators:
                lines.append(f"| {group} | {e} | {s['corruption_sets']} | {s['accuracy']:.1%} | "
                             f"{s['flagged'][e]:.1%} | {s['silent_failures'][e]:.1%} | "
                             f"{s['paste_flagged'][e]:.1%} |")
        shown = estimators + ["msp"]
        lines += ["", "## Per shift", "",
                  "| shift | group | accuracy | " + " | ".join(
                      [f"flagged {e}" for e in estimators] + [f"silent {e}" for e in estimators]
                      + [f"AUROC {n}" for n in shown] + [f"AURC {n}" for n in shown]) + " |",
                  "| --- | --- | --- |" + " --- |" * (2 * len(estimators) + 2 * len(shown))]
        for row in [self.clean] + self.rows:
            group = "-" if row.shift is None else row.shift.group
            cells = [f"{row.flagged[e]:.1%}" for e in estimators] + \
                [f"{row.silent_failures[e]:.1%}" for e in estimators] + \
                [f"{row.auroc[n]:.3f}" for n in shown] + [f"{row.aurc[n]:.4f}" for n in shown]
            lines.append(f"| {row.label} | {group} | {row.accuracy:.1%} | " + " | ".join(cells)
                         + " |")
        lines += ["", "AUROC is NaN where a set holds no wrong (or no correct) prediction; "
                  "group averages leave those sets out. The tables average per shift (ranking "
                  "within one corruption at one severity); the pooled rows and the figure's "
                  "curves take every corruption image of the group at once (ranking across "
                  "shifts too, as on a robot where shifts mix), so the two can order the "
                  "detectors differently."]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        def row(r: ShiftResult) -> dict:
            return {"shift": None if r.shift is None else asdict(r.shift),
                    **{k: v for k, v in asdict(r).items() if k != "shift"}}

        return {"domain": self.domain, "thresholds": self.thresholds, "candidate": self.candidate,
                "clean": row(self.clean),
                "rows": [row(r) for r in self.rows],
                "summary": {group: self.summary(group) for group in GROUPS},
                "pooled_aurc": {group: self.pooled_aurc(group) for group in GROUPS},
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
        colors = dict(zip(self.estimators, ESTIMATOR_COLORS))
        detector_colors = dict(zip(STANDARD_DETECTORS, DETECTOR_COLORS))
        for name, values in scores.items():
            if len(correct):
                coverage, risk = risk_coverage_curve(correct, values)
                axes[0].plot(coverage, risk, label=f"{name} (AURC {aurc(correct, values):.4f})",
                             linewidth=2.2 if name in colors else 1.0,
                             color=colors.get(name, detector_colors.get(name)),
                             alpha=1.0 if name in colors else 0.7)
        axes[0].set(xlabel="coverage (share of images accepted, most confident first)",
                    ylabel="risk (error rate among accepted)",
                    title=f"{self.domain}: risk-coverage, all held-out corruption images pooled")
        axes[0].legend(fontsize=8)
        rows = self.corruption_rows("held_out")
        for estimator, color in colors.items():
            for key, style, what in (("silent_failures", "-o", "silent failures"),
                                     ("flagged", ":s", "flagged")):
                values = [_nanmean(getattr(r, key)[estimator] for r in rows
                                   if r.shift.level == level) for level in SEVERITIES]
                axes[1].plot(SEVERITIES, values, style, color=color,
                             label=f"{what}, {estimator}")
        axes[1].axhline(TARGETS["silent_failures"], color="tab:red", linewidth=0.8, alpha=0.5)
        axes[1].set(xlabel="severity", ylabel="share of images", ylim=(0, 1),
                    title="held-out corruptions by severity (averaged over corruptions)")
        axes[1].set_xticks(list(SEVERITIES))
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


def _json_number(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def load_competency_estimators(directory, device: str = "cpu") -> dict:
    """PaRCE and, where the directory has a fused.json, the fused estimator (candidate last)."""
    from competency_cf.competency.fused import FUSED_JSON
    from competency_cf.competency.parce import load_estimator

    estimators = {"parce": load_estimator(directory, device, kind="parce")}
    if (Path(directory) / FUSED_JSON).is_file():
        estimators["fused"] = load_estimator(directory, device, kind="fused")
    return estimators


def robustness(domain: str, estimators: dict | None = None, per_class: int = 10,
               shifts: list[Shift] | None = None, seed: int = 0,
               fit_per_class: int = FIT_PER_CLASS, show_progress: bool = True
               ) -> RobustnessReport:
    """Run the benchmark on `domain`: `estimators` ({name: estimator}, the candidate last; by
    default those of the committed models) side by side with the standard detectors on their
    classifier.

    `per_class` fresh renders per class are shifted by each of `shifts` (default: all of them);
    the detectors that need it are fitted on `fit_per_class` in-distribution renders per class
    (dataset image indices).
    """
    from tqdm import tqdm

    from competency_cf.competency.detectors import ParceDetector, build_detector
    from competency_cf.data.domains import get_domain
    from competency_cf.data.synthesize import render_sample
    from competency_cf.resources import models_dir

    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    spec = get_domain(domain)
    estimators = estimators or load_competency_estimators(models_dir(domain))
    first = next(iter(estimators.values()))
    for estimator in estimators.values():
        estimator.eval()
        if not torch.equal(estimator.classifier.head.weight.cpu(),
                           first.classifier.head.weight.cpu()):
            raise ValueError("the competency estimators must share one classifier")
    fit = render_sample(spec, per_class=fit_per_class)
    detectors = {name: ParceDetector(estimator) for name, estimator in estimators.items()}
    detectors.update({name: build_detector(name, first).fit(fit.images, fit.labels)
                      for name in STANDARD_DETECTORS})
    thresholds = {name: float(estimator.threshold) for name, estimator in estimators.items()}
    fresh = render_sample(spec, per_class=per_class, offset=FRESH_OFFSET)
    clean, _, _ = evaluate_shift(None, fresh.images, fresh.labels, detectors, thresholds)
    rows, pooled = [], {group: ([], {name: [] for name in detectors}) for group in GROUPS}
    for shift in tqdm(shifts if shifts is not None else all_shifts(), desc=f"shifts {domain}",
                      unit="shift", disable=not show_progress):
        images = shift.apply(fresh.images, domain, seed)
        row, correct, scores = evaluate_shift(shift, images, fresh.labels, detectors, thresholds)
        rows.append(row)
        if shift.kind == "corruption":
            pooled[shift.group][0].append(correct)
            for name, values in scores.items():
                pooled[shift.group][1][name].append(values)
    pooled = {group: (np.concatenate(correct), {n: np.concatenate(v) for n, v in s.items()})
              for group, (correct, s) in pooled.items() if correct}
    return RobustnessReport(domain, thresholds, clean, rows, pooled)
