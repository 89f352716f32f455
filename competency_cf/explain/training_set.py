"""Training data for explainers (the paper's appendix C) and fitting the descriptor explainer.

Like the paper: low-competency images never used for evaluation, 500 per cause by default:
degradations of competent calibration images (a random factor among those that drop
competency below the threshold, so both directions of a property appear) and anomalies past
those the example set took. Each gets its known cause and direction as the label.

Beyond the paper, the descriptor explainer also sees variety: the same number of frames per
cause made by the fit group of `data.cause_implementations` (tone curves, S-curves, HSV
saturation, other noises and resamplings, pasted shapes...), so that it learns a cause rather
than the one formula the generator uses for it. The held-out implementations are never used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from competency_cf.competency.examples import ExampleSet, build_examples
from competency_cf.competency.parce import ParceEstimator
from competency_cf.competency.shifted_set import (ShiftedSet, build_shifted_set, merge_shifted,
                                                  shift_frames)
from competency_cf.counterfactual.methods import (LNN_BANK_FILE, LatentNearestNeighbor,
                                                  build_method)
from competency_cf.data.cause_implementations import EXPLAINED_CAUSES, implementations
from competency_cf.data.dataset import DomainData
from competency_cf.data.domains import Domain
from competency_cf.explain.descriptor_explainer import (LABELS, DescriptorExplainer,
                                                        DescriptorFeatures, label_index)
from competency_cf.explain.grading import true_direction
from competency_cf.explain.unsure import DEFAULT_BUDGET, UnsureRule

EXAMPLE_SET_PER_CAUSE = 100  # anomalies the evaluation example set already uses
TRAINING_COUNTERFACTUALS = ("Reco", "LNN")  # fast; LGD counterfactuals look like Reco's


def explanation_training_set(estimator: ParceEstimator, domain: Domain, data: DomainData,
                             per_cause: int = 500, seed: int = 1,
                             show_progress: bool = True) -> ExampleSet:
    return build_examples(estimator, domain, data, per_cause=per_cause, seed=seed,
                          show_progress=show_progress, split="calibration",
                          ood_offset=EXAMPLE_SET_PER_CAUSE, factor_choice="random")


def variant_training_set(estimator: ParceEstimator, domain: Domain, data: DomainData,
                         per_cause: int = 500, seed: int = 1,
                         show_progress: bool = True) -> ShiftedSet:
    """Up to `per_cause` low-competency degradations of competent calibration images per cause,
    shared evenly among the cause's fit-group implementations."""
    parts = []
    for cause in EXPLAINED_CAUSES:
        group = implementations(cause, group="fit")
        parts.append(shift_frames(estimator, data.calibration, domain.name,
                                  math.ceil(per_cause / len(group)), seed, group,
                                  show_progress=show_progress))
    return merge_shifted(parts)


def example_labels(examples: ExampleSet) -> list[tuple[str, str]]:
    """(cause, direction) of each example of the generator's set."""
    return [(str(cause), true_direction(str(cause), float(factor)))
            for cause, factor in zip(examples.causes, examples.factors)]


def label_indices(labels) -> torch.Tensor:
    """Indices into LABELS of (cause, direction) pairs."""
    return torch.tensor([label_index(str(cause), str(direction)) for cause, direction in labels])


GENERATOR_WAY = "generator"  # the way of frames from data.causes (the paper's generator)


@dataclass
class TrainingFrames:
    """Labelled low-competency frames: each one's (cause, direction) and the way it was made
    (`GENERATOR_WAY` or the name of a fit-group implementation)."""

    images: torch.Tensor
    labels: list[tuple[str, str]]
    ways: list[str]

    def label_indices(self) -> torch.Tensor:
        return label_indices(self.labels)

    def counts(self) -> dict[str, int]:
        causes = [cause for cause, _ in self.labels]
        return {cause: causes.count(cause) for cause in EXPLAINED_CAUSES}


def labelled_training_frames(estimator: ParceEstimator, domain: Domain, data: DomainData,
                             per_cause: int = 500, variants_per_cause: int = 500, seed: int = 1,
                             show_progress: bool = True) -> TrainingFrames:
    """The generator's training set and up to `variants_per_cause` frames per cause from the
    fit-group implementations (0: none)."""
    training = explanation_training_set(estimator, domain, data, per_cause, seed, show_progress)
    frames = TrainingFrames(training.images, example_labels(training),
                            [GENERATOR_WAY] * len(training.images))
    if variants_per_cause:
        variants = variant_training_set(estimator, domain, data, variants_per_cause, seed,
                                        show_progress)
        frames = TrainingFrames(
            torch.cat([frames.images, variants.images]),
            frames.labels + [(str(cause), str(direction)) for cause, direction
                             in zip(variants.causes, variants.directions)],
            frames.ways + [str(way) for way in variants.implementations])
    return frames


def explainer_features(estimator: ParceEstimator, data: DomainData) -> DescriptorFeatures:
    """Descriptor statistics of the calibration split and of its reconstructions."""
    calibration = data.calibration.images
    with torch.no_grad():
        reconstructions = torch.cat([estimator.autoencoder(calibration[s:s + 256])
                                     for s in range(0, len(calibration), 256)])
    return DescriptorFeatures().fit(calibration, reconstructions)


def training_counterfactuals(estimator: ParceEstimator, data: DomainData, images: torch.Tensor,
                             names: tuple[str, ...] = TRAINING_COUNTERFACTUALS
                             ) -> list[torch.Tensor]:
    """Counterfactuals of training frames, one set per method."""
    # The training images come from the calibration split, so LNN draws on a bank from the
    # training split here: a bank holding their own clean sources would make it look too good.
    return [build_method(name, estimator, calibration_images=data.train.images)
            .generate(images).images for name in names]


def fit_descriptor_explainer(estimator: ParceEstimator, domain: Domain, data: DomainData,
                             per_cause: int = 500, seed: int = 1,
                             counterfactuals: tuple[str, ...] = TRAINING_COUNTERFACTUALS,
                             variants_per_cause: int = 500, show_progress: bool = True
                             ) -> tuple[DescriptorExplainer, dict[str, int]]:
    """Normalise on the calibration split, then fit both heads on the generator's training set
    and `variants_per_cause` frames per cause from the fit-group implementations (0: none).
    Returns the explainer and the training frames per cause."""
    features = explainer_features(estimator, data)
    frames = labelled_training_frames(estimator, domain, data, per_cause, variants_per_cause,
                                      seed, show_progress)
    explainer = DescriptorExplainer(features).fit(
        frames.images, frames.label_indices(),
        training_counterfactuals(estimator, data, frames.images, counterfactuals))
    return explainer, frames.counts()


UNSURE_FRAMES_PER_IMPLEMENTATION = 40
UNSURE_SEED_OFFSET = 1000  # other frames than `explain-eval`'s fit group at the same seed


@dataclass
class DecisionFrames:
    """Low-competency fresh renders degraded by the fit group (known causes only), with their
    label indices and the counterfactual sets the nodes would pair them with (Reco, LNN)."""

    frames: ShiftedSet
    labels: torch.Tensor
    counterfactual_sets: list[torch.Tensor]


def decision_frames(estimator: ParceEstimator, domain: Domain, models,
                    per_implementation: int = UNSURE_FRAMES_PER_IMPLEMENTATION, seed: int = 0,
                    show_progress: bool = True) -> DecisionFrames:
    """The frames that set the field offsets and the unsure rule: LNN from the models' bank."""
    frames = build_shifted_set(estimator, domain, per_implementation,
                               seed + UNSURE_SEED_OFFSET, implementations=implementations(
                                   group="fit"), show_progress=show_progress)
    labels = label_indices(zip(frames.causes, frames.directions))
    methods = [build_method("Reco", estimator),
               LatentNearestNeighbor(estimator).load_bank(Path(models) / LNN_BANK_FILE)]
    return DecisionFrames(frames, labels,
                          [method.generate(frames.images).images for method in methods])


def fit_decision_rules(explainer: DescriptorExplainer, estimator: ParceEstimator,
                       domain: Domain, models,
                       per_implementation: int = UNSURE_FRAMES_PER_IMPLEMENTATION,
                       seed: int = 0, budget: float = DEFAULT_BUDGET, show_progress: bool = True
                       ) -> tuple[UnsureRule, dict[str, float], int]:
    """Set the explainer's field offsets, then fit its unsure rule, on `decision_frames`, as
    the nodes explain them: alone, and paired with the Reco and LNN counterfactuals. The rule,
    the offsets and the number of frames."""
    known = decision_frames(estimator, domain, models, per_implementation, seed, show_progress)
    images, labels, counterfactual_sets = (known.frames.images, known.labels,
                                           known.counterfactual_sets)
    offsets = explainer.fit_field_offsets(images, labels, counterfactual_sets)
    probabilities, inputs = explainer.evidence(images)
    paired = torch.cat([explainer.evidence(images, counterfactuals)[0]
                        for counterfactuals in counterfactual_sets])
    rule = UnsureRule.fit(inputs, labels, len(LABELS), {"alone": probabilities, "paired": paired},
                          [cause for cause, _ in LABELS], budget)
    return rule, offsets, len(images)
