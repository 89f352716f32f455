"""The descriptor explainer on fixture images with known degradations."""

import pytest
import torch

from competency_cf.explain.descriptor_explainer import (FIELD_LABELS, LABELS, PAPER_LABELS,
                                                        DescriptorExplainer, DescriptorFeatures,
                                                        label_index)
from competency_cf.explain.explanation import HIGH
from competency_cf.explain.grading import grade
from explainer_frames import blurred, field_set, labelled_set, smooth_images


def _fitted(labelled_set):
    calibration = smooth_images(64, seed=0)
    features = DescriptorFeatures().fit(calibration, blurred(calibration))
    images, labels, counterfactuals = labelled_set(seed=1)
    return DescriptorExplainer(features).fit(images, labels, [counterfactuals])


@pytest.fixture(scope="module")
def explainer():
    return _fitted(labelled_set)


@pytest.fixture(scope="module")
def field_explainer():
    return _fitted(field_set)


def test_without_field_frames_there_is_no_gate_and_no_field_cause(explainer):
    images, _, counterfactuals = labelled_set(seed=2)
    assert explainer.gates == {}
    probabilities = explainer.probabilities(images, counterfactuals)
    assert probabilities.shape == (len(images), len(LABELS))
    assert float(probabilities[:, len(PAPER_LABELS):].abs().max()) == 0.0


def test_the_gate_names_field_causes_and_the_paper_head_the_rest(field_explainer):
    images, labels, counterfactuals = field_set(seed=2)
    assert set(field_explainer.gates) == {"alone", "paired"}
    for paired in (None, counterfactuals):
        probabilities = field_explainer.probabilities(images, paired)
        assert torch.allclose(probabilities.sum(dim=1), torch.ones(len(images)), atol=1e-5)
        assert float((probabilities.argmax(dim=1) == labels).float().mean()) >= 0.85
        field = labels >= len(PAPER_LABELS)
        assert float((probabilities[field].argmax(dim=1) == labels[field]).float().mean()) >= 0.8


def test_field_offsets_hold_the_paper_causes_to_their_budget(field_explainer, tmp_path):
    images, labels, counterfactuals = field_set(seed=3)
    paper = labels < len(PAPER_LABELS)
    before = field_explainer.probabilities(images, counterfactuals)[:, len(PAPER_LABELS):]
    offsets = field_explainer.fit_field_offsets(images, labels, [counterfactuals], budget=0.001)
    assert set(offsets) == {"alone", "paired"} and all(v >= 0.0 for v in offsets.values())
    for paired in (None, counterfactuals):
        chosen = field_explainer.probabilities(images[paper], None if paired is None
                                               else paired[paper]).argmax(dim=1)
        assert float((chosen >= len(PAPER_LABELS)).float().mean()) <= 0.001
    after = field_explainer.probabilities(images, counterfactuals)[:, len(PAPER_LABELS):]
    assert (after <= before + 1e-6).all()
    path = tmp_path / "field.json"
    field_explainer.save(path)
    loaded = DescriptorExplainer.load(path)
    assert loaded.field_offsets == offsets
    assert torch.allclose(loaded.probabilities(images, counterfactuals),
                          field_explainer.probabilities(images, counterfactuals), atol=1e-6)
    with pytest.raises(ValueError, match="field budget"):
        field_explainer.fit_field_offsets(images, labels, [counterfactuals], budget=1.5)
    assert len(FIELD_LABELS) == 4


def test_attributes_held_out_degradations_with_and_without_counterfactual(explainer):
    images, labels, counterfactuals = labelled_set(seed=2)
    for paired in (None, counterfactuals):
        explanations = explainer.explain(images, paired, "None" if paired is None else "Reco")
        truth = [LABELS[i] for i in labels.tolist()]
        correct = [grade(e.text, cause, direction)
                   for e, (cause, direction) in zip(explanations, truth)]
        assert sum(correct) / len(correct) >= 0.9
        assert all(0.0 < e.confidence <= 1.0 for e in explanations)
        assert all(abs(sum(e.scores.values()) - 1.0) < 1e-3 for e in explanations)


def test_spatial_explanation_names_the_region(explainer):
    images, labels, counterfactuals = labelled_set(seed=3)
    spatial = labels == label_index("spatial", HIGH)
    explanations = explainer.explain(images[spatial], counterfactuals[spatial], "LNN")
    assert sum("upper left" in e.text for e in explanations) >= 0.8 * len(explanations)


def test_save_load_round_trip_and_refusals(explainer, tmp_path):
    path = tmp_path / "explainer.json"
    explainer.save(path)
    loaded = DescriptorExplainer.load(path)
    images, _, counterfactuals = labelled_set(seed=4)
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
