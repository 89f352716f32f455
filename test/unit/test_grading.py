import pytest

from competency_cf.data.causes import CAUSES
from competency_cf.explain.explanation import HIGH, LOW, sentence
from competency_cf.explain.grading import grade, mentioned_cause, true_direction


@pytest.mark.parametrize("text, cause", [
    ("The image is heavily pixelated, with blocky edges.", "pixelation"),
    ("There is a lot of grain and speckle in the picture.", "noise"),
    ("An astronaut is standing in the scene.", "spatial"),
    ("The picture appears washed out with little contrast.", "contrast"),
    ("The colours look extremely vivid.", "saturation"),
    ("It is too dark to see the terrain.", "brightness"),
    ("The classifier was not confident.", None),
])
def test_mentioned_cause(text, cause):
    assert mentioned_cause(text) == cause


def test_inverted_rationale_is_wrong_and_missing_direction_is_accepted():
    assert grade("The image is too dark.", "brightness", HIGH) is False
    assert grade("The image is overexposed and very bright.", "brightness", HIGH) is True
    assert grade("The brightness of the image is unusual.", "brightness", LOW) is True
    assert grade("The image has very low contrast.", "contrast", HIGH) is False
    assert grade("The image is desaturated, almost grayscale.", "saturation", LOW) is True
    assert grade("The image is noisy.", "pixelation") is False


def test_true_direction_from_factor():
    assert true_direction("brightness", 2.0) == HIGH
    assert true_direction("saturation", 0.0) == LOW
    assert true_direction("noise", 40.0) == HIGH
    assert true_direction("spatial", float("nan")) == HIGH


@pytest.mark.parametrize("cause", CAUSES)
@pytest.mark.parametrize("direction", [HIGH, LOW])
def test_every_template_sentence_grades_as_its_own_cause(cause, direction):
    if cause not in ("brightness", "contrast", "saturation") and direction == LOW:
        with pytest.raises(ValueError):
            sentence(cause, direction)
        return
    text = sentence(cause, direction, "upper left")
    assert grade(text, cause, direction), text
    if cause in ("brightness", "contrast", "saturation"):
        assert not grade(text, cause, LOW if direction == HIGH else HIGH), text
