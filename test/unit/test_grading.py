import pytest

from competency_cf.data.cause_implementations import EXPLAINED_CAUSES
from competency_cf.explain.explanation import HIGH, LOW, PLACED_CAUSES, sentence, unsure_sentence
from competency_cf.explain.grading import grade, mentioned_cause, said_unsure, true_direction


@pytest.mark.parametrize("text, cause", [
    ("The image is heavily pixelated, with blocky edges.", "pixelation"),
    ("There is a lot of grain and speckle in the picture.", "noise"),
    ("An astronaut is standing in the scene.", "spatial"),
    ("The picture appears washed out with little contrast.", "contrast"),
    ("The colours look extremely vivid.", "saturation"),
    ("It is too dark to see the terrain.", "brightness"),
    ("The classifier was not confident.", None),
    ("The terrain looks soft and out of focus.", "blur"),
    ("Motion blur smears the sign.", "blur"),
    ("A thick fog hides the horizon and flattens the scene.", "haze"),
    ("Dust in the air makes the view hazy.", "haze"),
    ("Dirt on the lens covers the lower half of the view.", "occlusion"),
    ("The view is blocked by a dark blob.", "occlusion"),
    ("A lens flare from the sun over-exposes the corner.", "glare"),
    ("Strong glare makes the sign hard to read.", "glare"),
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


def test_blocked_view_is_not_read_as_blocky_pixelation():
    assert mentioned_cause("The lower half of the view is blocked.") == "occlusion"
    assert mentioned_cause("Large blocks of colour replace the detail.") == "pixelation"


def test_field_causes_graded_against_their_neighbours():
    # The near misses a grader must not confuse: blur is not pixelation, haze is not low
    # contrast, glare is not overall brightness, dirt on the lens is not an unfamiliar object.
    assert grade("The image is blurred, as if out of focus.", "blur")
    assert not grade("The image is blurred, as if out of focus.", "pixelation")
    assert grade("Haze washes out the view.", "haze")
    assert not grade("The view has much less contrast.", "haze")
    assert grade("Glare from the sun washes out the right side.", "glare")
    assert not grade("The whole image is much brighter.", "glare")
    assert grade("Something on the lens hides the left of the view.", "occlusion")
    assert not grade("An unfamiliar structure stands on the left.", "occlusion")


def test_unsure_sentence_naming_field_causes_grades_as_unsure_only():
    text = unsure_sentence("haze", 0.41, "contrast", 0.38)
    assert said_unsure(text) and "haze or fog (41%)" in text
    for cause in EXPLAINED_CAUSES:
        assert not grade(text, cause, LOW if cause == "contrast" else HIGH)


@pytest.mark.parametrize("cause", EXPLAINED_CAUSES)
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


@pytest.mark.parametrize("cause", PLACED_CAUSES)
def test_placed_causes_name_their_region(cause):
    assert "in the lower right of the image" in sentence(cause, HIGH, "lower right")
    assert len(sentence(cause, HIGH)) == len(sentence(cause, HIGH, "lower right")) - len(
        " in the lower right of the image")
