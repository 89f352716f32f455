"""The descriptor explainer's honest "unsure": a tie between two causes or evidence that fits no
known cause gives an unsure explanation naming the two best candidates; the rule is fitted from
a budget on known-cause frames and survives a save/load round trip."""

import json

import pytest
import torch

from competency_cf.data.cause_implementations import (OUTSIDE, OUTSIDE_IMPLEMENTATIONS,
                                                      get_implementation)
from competency_cf.data.causes import grayscale
from competency_cf.explain.descriptor_explainer import LABELS, DescriptorExplainer
from competency_cf.explain.explanation import UNSURE, sentence, unsure_sentence
from competency_cf.explain.grading import grade, mentioned_cause, said_unsure
from competency_cf.explain.unsure import UnsureRule, top_two

LABEL_CAUSES = [cause for cause, _ in LABELS]


def _rule(margin: float = 0.2, distance: float = 9.0, dims: int = 3) -> UnsureRule:
    return UnsureRule(torch.zeros(len(LABELS), dims), torch.eye(dims), distance,
                      {"alone": margin, "paired": margin / 2})


def _probabilities(rows):
    """Rows of {label index: probability}, the rest spread evenly."""
    table = torch.zeros(len(rows), len(LABELS))
    for row, chosen in enumerate(rows):
        rest = (1.0 - sum(chosen.values())) / (len(LABELS) - len(chosen))
        table[row] = rest
        for label, p in chosen.items():
            table[row, label] = p
    return table


def test_two_causes_tied_are_unsure_and_both_named():
    brightness_low, contrast_low = LABELS.index(("brightness", "low")), LABELS.index(
        ("contrast", "low"))
    probabilities = _probabilities([{brightness_low: 0.52, contrast_low: 0.48},
                                    {brightness_low: 0.80, contrast_low: 0.10}])
    unsure, pairs = _rule().unsure(torch.zeros(2, 3), probabilities, "alone", LABEL_CAUSES)
    assert unsure.tolist() == [True, False]
    first, p, second, q = pairs[0]
    assert (first, second) == ("brightness", "contrast") and p == pytest.approx(0.52, abs=1e-6)
    text = unsure_sentence(first, p, second, q)
    assert said_unsure(text) and "brightness" in text and "contrast" in text
    assert "52%" in text and "48%" in text
    assert not grade(text, "brightness", "low")  # an unsure answer names no cause


def test_probabilities_of_one_cause_add_up_across_its_directions():
    high, low = LABELS.index(("saturation", "high")), LABELS.index(("saturation", "low"))
    noise = LABELS.index(("noise", "high"))
    pairs, margins = top_two(_probabilities([{high: 0.3, low: 0.3, noise: 0.35}]), LABEL_CAUSES)
    assert pairs[0][0] == "saturation" and pairs[0][1] == pytest.approx(0.6, abs=1e-6)
    assert margins[0] == pytest.approx(0.25, abs=1e-6)


def test_evidence_far_from_the_chosen_cause_is_unsure():
    probabilities = _probabilities([{0: 0.9}, {0: 0.9}])
    inputs = torch.tensor([[1.0, 1.0, 1.0], [4.0, 0.0, 0.0]])  # squared distances 3 and 16
    unsure, _ = _rule(distance=9.0).unsure(inputs, probabilities, "alone", LABEL_CAUSES)
    assert unsure.tolist() == [False, True]
    # the paired mode has its own margin limit
    close = _probabilities([{0: 0.50, 1: 0.36}])  # margin 0.14: a tie alone, not paired
    assert [_rule(margin=0.2).unsure(torch.zeros(1, 3), close, mode, LABEL_CAUSES)[0].item()
            for mode in ("alone", "paired")] == [True, False]


def test_fit_spends_the_budget_on_known_cause_frames():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(200)
    centres = torch.eye(4, 6) * 6.0
    inputs = centres[labels] + torch.randn(len(labels), 6, generator=generator)
    margins = torch.rand(len(labels), generator=generator) * 0.8 + 0.1
    probabilities = torch.full((len(labels), len(LABELS)), 0.0)
    probabilities[torch.arange(len(labels)), labels] = 0.5 + margins / 2
    probabilities[torch.arange(len(labels)), (labels + 1) % 4] = 0.5 - margins / 2
    causes = [f"cause {i}" for i in range(len(LABELS))]  # one label per cause
    rule = UnsureRule.fit(inputs, labels, len(LABELS), {"alone": probabilities}, causes,
                          budget=0.05)
    unsure, _ = rule.unsure(inputs, probabilities, "alone", causes)
    assert 0.04 <= unsure.float().mean() <= 0.10  # two criteria, 5 % each, partly overlapping
    far = centres[:1] + torch.tensor([[0.0, 0.0, 0.0, 0.0, 12.0, 0.0]])
    assert rule.unsure(far, probabilities[:1], "alone", causes)[0].item()
    with pytest.raises(ValueError, match="budget"):
        UnsureRule.fit(inputs, labels, len(LABELS), {"alone": probabilities}, LABEL_CAUSES, 0.7)
    with pytest.raises(ValueError, match="two labels"):
        UnsureRule.fit(inputs[:10], torch.zeros(10, dtype=torch.int64), len(LABELS),
                       {"alone": probabilities[:10]}, LABEL_CAUSES)


def test_explainer_answers_unsure_and_keeps_it_through_save_and_load(tmp_path):
    from competency_cf.resources import models_dir

    explainer = DescriptorExplainer.load(models_dir("lunar") / "descriptor_explainer.json")
    images = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    probabilities, inputs = explainer.evidence(images)
    # A rule that finds every frame too far from its cause: all unsure, best candidate first.
    explainer.unsure_rule = UnsureRule(torch.zeros(len(LABELS), inputs.shape[1]),
                                       torch.eye(inputs.shape[1]), -1.0, {"alone": 0.0})
    explained = explainer.explain(images)
    assert all(e.unsure and e.cause == UNSURE and said_unsure(e.text) for e in explained)
    assert all(len(e.candidates) == 2 and e.candidates[0][1] >= e.candidates[1][1]
               for e in explained)
    path = tmp_path / "explainer.json"
    explainer.save(path)
    assert "unsure" in json.loads(path.read_text())
    again = DescriptorExplainer.load(path)
    assert [e.text for e in again.explain(images)] == [e.text for e in explained]
    # without a rule, the best cause is named as before
    again.unsure_rule = None
    assert not any(e.unsure for e in again.explain(images))


def test_outside_causes_move_what_they_should():
    views = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2)) * 0.6 + 0.2
    cast = get_implementation("colour_cast")
    casts = [cast.apply(views, s) for s in (0.15, 0.3, 0.5)]
    warmth = [float((c[:, 0] - c[:, 2]).mean()) for c in casts]
    assert warmth == sorted(warmth) and warmth[0] > float((views[:, 0] - views[:, 2]).mean())
    skew = get_implementation("rolling_shutter_skew").apply(views, 0.5)
    assert torch.allclose(skew[:, :, 0], views[:, :, 0], atol=1e-5)  # the first row is read first
    # the last row moved right by 0.5 * 31 = 15.5 pixels: halfway between two source pixels
    last, source = skew[:, :, -1], views[:, :, -1]
    assert torch.allclose(last[..., 20:31], (source[..., 4:15] + source[..., 5:16]) / 2,
                          atol=1e-4)
    assert float(grayscale(skew).mean()) == pytest.approx(float(grayscale(views).mean()), abs=0.05)
    assert all(impl.group == OUTSIDE and impl.cause == OUTSIDE for impl in OUTSIDE_IMPLEMENTATIONS)


def test_graded_text_of_known_sentences_is_unchanged():
    # Every known sentence still names its cause and is not taken for unsure.
    for cause, direction in LABELS:
        text = sentence(cause, direction, "upper left")
        assert mentioned_cause(text) == cause and not said_unsure(text)
    assert not said_unsure("The classifier is uncertain because the image is dark.")
    assert said_unsure("The cause is unclear.")
    assert said_unsure("I cannot tell which cause it is.")
