"""Training data for explainers (the paper's appendix C) and fitting the descriptor explainer.

Like the paper: low-competency images never used for evaluation, 500 per cause by default:
degradations of competent calibration images (a random factor among those that drop
competency below the threshold, so both directions of a property appear) and anomalies past
those the example set took. Each gets its known cause and direction as the label.
"""

from __future__ import annotations

import torch

from competency_cf.competency.examples import ExampleSet, build_examples
from competency_cf.competency.parce import ParceEstimator
from competency_cf.counterfactual.methods import build_method
from competency_cf.data.dataset import DomainData
from competency_cf.data.domains import Domain
from competency_cf.explain.descriptor_explainer import (DescriptorExplainer, DescriptorFeatures,
                                                        label_index)
from competency_cf.explain.grading import true_direction

EXAMPLE_SET_PER_CAUSE = 100  # anomalies the evaluation example set already uses
TRAINING_COUNTERFACTUALS = ("Reco", "LNN")  # fast; LGD counterfactuals look like Reco's


def explanation_training_set(estimator: ParceEstimator, domain: Domain, data: DomainData,
                             per_cause: int = 500, seed: int = 1,
                             show_progress: bool = True) -> ExampleSet:
    return build_examples(estimator, domain, data, per_cause=per_cause, seed=seed,
                          show_progress=show_progress, split="calibration",
                          ood_offset=EXAMPLE_SET_PER_CAUSE, factor_choice="random")


def training_labels(examples: ExampleSet) -> torch.Tensor:
    """Index into the explainer's LABELS of each example's cause and direction."""
    return torch.tensor([label_index(cause, true_direction(cause, factor))
                         for cause, factor in zip(examples.causes, examples.factors)])


def fit_descriptor_explainer(estimator: ParceEstimator, domain: Domain, data: DomainData,
                             per_cause: int = 500, seed: int = 1,
                             counterfactuals: tuple[str, ...] = TRAINING_COUNTERFACTUALS,
                             show_progress: bool = True
                             ) -> tuple[DescriptorExplainer, ExampleSet]:
    """Normalise on the calibration split, then fit both heads on the training set."""
    calibration = data.calibration.images
    with torch.no_grad():
        reconstructions = torch.cat([estimator.autoencoder(calibration[s:s + 256])
                                     for s in range(0, len(calibration), 256)])
    features = DescriptorFeatures().fit(calibration, reconstructions)
    training = explanation_training_set(estimator, domain, data, per_cause, seed, show_progress)
    # The training images come from the calibration split, so LNN draws on a bank from the
    # training split here: a bank holding their own clean sources would make it look too good.
    counterfactual_sets = [build_method(name, estimator, calibration_images=data.train.images)
                           .generate(training.images).images for name in counterfactuals]
    explainer = DescriptorExplainer(features).fit(training.images, training_labels(training),
                                                  counterfactual_sets)
    return explainer, training
