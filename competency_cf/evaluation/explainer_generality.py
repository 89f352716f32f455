"""Leave one way out: how well the descriptor explainer names a cause made in a way it was not
fitted on, measured inside the fit group of `data.cause_implementations` only.

The held-out group answers that question too, but it may only be reported, never used to choose.
This estimate may be used to choose (descriptors, head settings, which ways to fit on): for each
fit-group implementation ("way") of the causes asked for, the explainer is fitted again without
that way's training frames, its field offsets are set again on the decision frames of the other
ways, and it names the decision frames of the left-out way (alone and paired with each
counterfactual). Beside it, the same frames named by the explainer fitted on every way show how
much of a way's accuracy comes from having seen it. Naming accuracy only: the unsure rule is not
applied.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.data.cause_implementations import EXPLAINED_CAUSES, implementations
from competency_cf.explain.descriptor_explainer import DescriptorExplainer, DescriptorFeatures
from competency_cf.explain.training_set import DecisionFrames, TrainingFrames

MODES = ("None", "Reco", "LNN")  # how the decision frames are explained: alone, with Reco, LNN


@dataclass
class WayScore:
    way: str
    cause: str
    frames: int
    left_out: dict[str, float]   # mode -> accuracy when the way was not fitted on
    fitted: dict[str, float]     # mode -> accuracy of the explainer fitted on every way


def _fit(features: DescriptorFeatures, training: TrainingFrames, labels: torch.Tensor,
         counterfactual_sets: list[torch.Tensor], decision: DecisionFrames,
         training_keep: np.ndarray, decision_keep: np.ndarray) -> DescriptorExplainer:
    keep, known = torch.from_numpy(training_keep), torch.from_numpy(decision_keep)
    explainer = DescriptorExplainer(features).fit(
        training.images[keep], labels[keep], [c[keep] for c in counterfactual_sets])
    explainer.fit_field_offsets(decision.frames.images[known], decision.labels[known],
                                [c[known] for c in decision.counterfactual_sets])
    return explainer


@torch.no_grad()
def _accuracy(explainer: DescriptorExplainer, decision: DecisionFrames,
              rows: np.ndarray) -> dict[str, float]:
    chosen = torch.from_numpy(rows)
    images, labels = decision.frames.images[chosen], decision.labels[chosen]
    pairs = [None] + [c[chosen] for c in decision.counterfactual_sets]
    return {mode: float((explainer.probabilities(images, counterfactuals).argmax(dim=1)
                         == labels).float().mean())
            for mode, counterfactuals in zip(MODES, pairs)}


def check_causes(causes: tuple[str, ...]) -> None:
    unknown = sorted(set(causes) - set(EXPLAINED_CAUSES))
    if unknown:
        raise ValueError(f"unknown causes {unknown}; choose among {list(EXPLAINED_CAUSES)}")


def leave_one_way_out(features: DescriptorFeatures, training: TrainingFrames,
                      counterfactual_sets: list[torch.Tensor], decision: DecisionFrames,
                      causes: tuple[str, ...] = EXPLAINED_CAUSES,
                      show_progress: bool = True) -> list[WayScore]:
    """One score per fit-group way of `causes` that has decision frames. `counterfactual_sets`
    pair the training frames (Reco, LNN); the decision frames carry their own."""
    check_causes(causes)
    if len(decision.counterfactual_sets) != len(MODES) - 1:
        raise ValueError(f"decision frames need {len(MODES) - 1} counterfactual sets "
                         f"({', '.join(MODES[1:])}), got {len(decision.counterfactual_sets)}")
    labels = training.label_indices()
    training_ways = np.asarray(training.ways)
    decision_ways = np.asarray(decision.frames.implementations)
    every = _fit(features, training, labels, counterfactual_sets, decision,
                 np.ones(len(training_ways), bool), np.ones(len(decision_ways), bool))
    ways = [impl for cause in causes for impl in implementations(cause, group="fit")
            if (decision_ways == impl.name).any()]
    scores = []
    for impl in tqdm(ways, desc="leave one way out", disable=not show_progress):
        rows = decision_ways == impl.name
        without = _fit(features, training, labels, counterfactual_sets, decision,
                       training_ways != impl.name, ~rows)
        scores.append(WayScore(impl.name, impl.cause, int(rows.sum()),
                               _accuracy(without, decision, rows),
                               _accuracy(every, decision, rows)))
    return scores


def cause_means(scores: list[WayScore]) -> dict[str, dict[str, float]]:
    """Per cause, the mean over its ways of the left-out accuracy per mode."""
    means = {}
    for cause in dict.fromkeys(score.cause for score in scores):
        mine = [score for score in scores if score.cause == cause]
        means[cause] = {mode: float(np.mean([s.left_out[mode] for s in mine])) for mode in MODES}
    return means


def write_report(scores: list[WayScore], domain: str, out: Path) -> tuple[Path, Path]:
    """`explainer_generality.md` (tables per way and per cause) and `.json`."""
    out.mkdir(parents=True, exist_ok=True)
    modes = " / ".join(MODES)
    lines = [f"# Leave one way out: {domain}", "",
             "Accuracy naming the decision frames of a fit-group way when the explainer was "
             f"fitted without it, and when fitted on every way ({modes}; no unsure rule).", "",
             "| cause | way | frames | left out | fitted on it |",
             "| --- | --- | --- | --- | --- |"]

    def cells(values: dict[str, float]) -> str:
        return " / ".join(f"{100 * values[mode]:.0f}" for mode in MODES)

    for score in scores:
        lines.append(f"| {score.cause} | {score.way} | {score.frames} | {cells(score.left_out)} "
                     f"| {cells(score.fitted)} |")
    means = cause_means(scores)
    lines += ["", f"| cause | mean left out ({modes}) |", "| --- | --- |"]
    lines += [f"| {cause} | {cells(values)} |" for cause, values in means.items()]
    overall = {mode: float(np.mean([values[mode] for values in means.values()]))
               for mode in MODES}
    lines += [f"| average over causes | {cells(overall)} |", ""]
    markdown, data = out / "explainer_generality.md", out / "explainer_generality.json"
    markdown.write_text("\n".join(lines))
    data.write_text(json.dumps({"domain": domain, "modes": list(MODES),
                                "ways": [asdict(score) for score in scores],
                                "causes": means, "average": overall}, indent=1) + "\n")
    return markdown, data
