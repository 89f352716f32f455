"""The descriptor explainer on fixture images with known degradations."""

import pytest
import torch

from competency_cf.data.causes import degrade
from competency_cf.explain.descriptor_explainer import (LABELS, DescriptorExplainer,
                                                        DescriptorFeatures, label_index)
from competency_cf.explain.explanation import HIGH, LOW
from competency_cf.explain.grading import grade

CASES = [("brightness", 1.8, HIGH), ("brightness", 0.4, LOW), ("contrast", 2.5, HIGH),
         ("contrast", 0.3, LOW), ("saturation", 3.0, HIGH), ("saturation", 0.0, LOW),
         ("noise", 80.0, HIGH), ("pixelation", 16.0, HIGH)]


def _smooth_images(count, seed):
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand((count, 3, 6, 6), generator=generator) * 0.5 + 0.25
    return torch.nn.functional.interpolate(coarse, size=64, mode="bilinear")


def _blurred(images):
    return torch.nn.functional.avg_pool2d(images, 3, stride=1, padding=1,
                                          count_include_pad=False)


def _labelled_set(seed):
    clean = _smooth_images(24, seed)
    images, labels = [], []
    for cause, factor, direction in CASES:
        images.append(degrade(clean, cause, factor, reference_size=64,
                              generator=torch.Generator().manual_seed(seed)))
        labels += [label_index(cause, direction)] * len(clean)
    anomalies = clean.clone()
    anomalies[:, :, 8:24, 8:24] = torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1)
    images.append(anomalies)
    labels += [label_index("spatial", HIGH)] * len(clean)
    images = torch.cat(images).clamp(0, 1)
    # Counterfactual stand-in: the clean source, smoothed as a decoder would.
    counterfactuals = _blurred(clean).repeat(len(CASES) + 1, 1, 1, 1)
    return images, torch.tensor(labels), counterfactuals


@pytest.fixture(scope="module")
def explainer():
    calibration = _smooth_images(64, seed=0)
    features = DescriptorFeatures().fit(calibration, _blurred(calibration))
    images, labels, counterfactuals = _labelled_set(seed=1)
    return DescriptorExplainer(features).fit(images, labels, [counterfactuals])


def test_attributes_held_out_degradations_with_and_without_counterfactual(explainer):
    images, labels, counterfactuals = _labelled_set(seed=2)
    for paired in (None, counterfactuals):
        explanations = explainer.explain(images, paired, "None" if paired is None else "Reco")
        truth = [LABELS[i] for i in labels.tolist()]
        correct = [grade(e.text, cause, direction)
                   for e, (cause, direction) in zip(explanations, truth)]
        assert sum(correct) / len(correct) >= 0.9
        assert all(0.0 < e.confidence <= 1.0 for e in explanations)
        assert all(abs(sum(e.scores.values()) - 1.0) < 1e-3 for e in explanations)


def test_spatial_explanation_names_the_region(explainer):
    images, labels, counterfactuals = _labelled_set(seed=3)
    spatial = labels == label_index("spatial", HIGH)
    explanations = explainer.explain(images[spatial], counterfactuals[spatial], "LNN")
    assert sum("upper left" in e.text for e in explanations) >= 0.8 * len(explanations)


def test_save_load_round_trip_and_refusals(explainer, tmp_path):
    path = tmp_path / "explainer.json"
    explainer.save(path)
    loaded = DescriptorExplainer.load(path)
    images, _, counterfactuals = _labelled_set(seed=4)
    assert torch.allclose(loaded.probabilities(images, counterfactuals),
                          explainer.probabilities(images, counterfactuals), atol=1e-6)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="explainer.json"):
        DescriptorExplainer.load(path)
    with pytest.raises(FileNotFoundError, match="absent.json"):
        DescriptorExplainer.load(tmp_path / "absent.json")


def test_bad_inputs_are_refused(explainer):
    images = torch.rand((2, 3, 64, 64))
    with pytest.raises(ValueError, match="do not match"):
        explainer.explain(images, images[:1])
    with pytest.raises(ValueError):
        explainer.explain(images * 3.0)
    with pytest.raises(RuntimeError, match="not fitted"):
        DescriptorFeatures().transform(images)


def test_a_placed_cause_carries_its_heat_map_and_others_none():
    from competency_cf.resources import models_dir

    explainer = DescriptorExplainer.load(models_dir("lunar") / "descriptor_explainer.json")
    explainer.unsure_rule = None
    images = torch.full((2, 3, 64, 64), 0.4)
    counterfactuals = images.clone()
    images[:, :, :8, 56:] = 1.0  # something bright in the upper-right cell only
    for label, placed in ((("spatial", "high"), True), (("brightness", "high"), False)):
        chosen = torch.zeros(2, len(LABELS))
        chosen[:, LABELS.index(label)] = 1.0
        explainer.evidence = lambda images, counterfactuals=None: (chosen, torch.zeros(2, 12))
        explained = explainer.explain(images, counterfactuals, "Reco")
        if placed:
            heat = torch.tensor(explained[0].region_map)
            assert heat.shape == (8, 8) and heat[0, 7] == 1.0 and heat.sum() == 1.0
            assert explained[0].region == "upper right"
        else:
            assert explained[0].region_map == [] and explained[0].region == ""
