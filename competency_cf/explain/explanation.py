"""What every explainer returns, and the plain-English sentence for each cause and direction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Directions a cause can take; only brightness, contrast and saturation have "less" (LOW).
HIGH, LOW = "high", "low"

# Causes whose sentence names where in the view they are.
PLACED_CAUSES = ("spatial", "occlusion", "glare")
# The cause of an explanation that names no single cause (two candidates instead).
UNSURE = "unsure"

# How an unsure sentence names a candidate cause.
_CANDIDATE_PHRASES = {
    "spatial": "an unfamiliar object or structure", "brightness": "a change in brightness",
    "contrast": "a change in contrast", "saturation": "a change in colour saturation",
    "noise": "noise", "pixelation": "pixelation", "blur": "blur", "haze": "haze or fog",
    "occlusion": "something covering the lens", "glare": "glare"}

_SENTENCES = {
    ("brightness", HIGH): "The image is much brighter than the images the classifier was trained "
                          "on.",
    ("brightness", LOW): "The image is much darker than the images the classifier was trained "
                         "on.",
    ("contrast", HIGH): "The image has much more contrast than the images the classifier was "
                        "trained on.",
    ("contrast", LOW): "The image has much less contrast than the images the classifier was "
                       "trained on; it looks flat and washed out.",
    ("saturation", HIGH): "The image is over-saturated: its colours are far more intense than in "
                          "the images the classifier was trained on.",
    ("saturation", LOW): "The image is under-saturated: its colours are far more muted than in "
                         "the images the classifier was trained on.",
    ("noise", HIGH): "The image is covered in grainy noise that the training images do not have.",
    ("pixelation", HIGH): "The image is pixelated: it has a much lower resolution and blockier "
                          "detail than the training images.",
    ("blur", HIGH): "The image is blurred: its edges and fine detail are smeared, as when the "
                    "camera is out of focus or moving.",
    ("haze", HIGH): "Haze, dust or fog veils the view: the scene fades towards a bright, flat "
                    "wash of light.",
}
# Placed causes: {where} becomes " in the <region> of the image" when the region is known.
_PLACED_SENTENCES = {
    "spatial": "The image contains an unfamiliar object or structure{where} that does not "
               "appear in the images the classifier was trained on.",
    "occlusion": "Something on or in front of the lens hides part of the view{where}: dirt, a "
                 "drop or an obstruction.",
    "glare": "Glare from a bright light washes out part of the view{where}.",
}


def sentence(cause: str, direction: str, region: str = "") -> str:
    """One sentence naming the property behind the low competency."""
    if cause in PLACED_CAUSES and direction == HIGH:
        return _PLACED_SENTENCES[cause].format(where=f" in the {region} of the image"
                                               if region else "")
    try:
        return _SENTENCES[(cause, direction)]
    except KeyError:
        raise ValueError(f"no sentence for cause {cause!r} with direction {direction!r}") from None


def unsure_sentence(first: str, p: float, second: str, q: float) -> str:
    """The honest answer when no single cause is supported: the two best candidates."""
    def phrase(cause: str) -> str:
        return _CANDIDATE_PHRASES.get(cause, cause)

    return (f"The cause is unclear: the image is unlike the training images, most likely "
            f"because of {phrase(first)} ({p:.0%}) or {phrase(second)} ({q:.0%}).")


@dataclass
class Explanation:
    """Why one image had low competency.

    cause: one of the explained causes (data.cause_implementations.EXPLAINED_CAUSES); direction:
    HIGH/LOW (always HIGH but for brightness, contrast and saturation);
    confidence: in [0, 1]; text: the one-sentence explanation; counterfactual: the method whose
    image was compared ("None" without one); scores: per-cause evidence behind the choice;
    seconds: time taken per explanation; region: where in the view, for PLACED_CAUSES ("upper
    left", ...; empty otherwise); `region_map`: the same as a coarse heat map (rows of weights in
    [0, 1], 1 where the image differs most from its counterfactual). An unsure explanation has
    cause UNSURE, no direction, and `candidates`: the two most likely causes with their
    probabilities, best first.
    """

    cause: str
    direction: str
    confidence: float
    text: str
    counterfactual: str = "None"
    backend: str = "descriptor"
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    region: str = ""
    candidates: list[tuple[str, float]] = field(default_factory=list)
    region_map: list[list[float]] = field(default_factory=list)  # rows of weights in [0, 1]

    @property
    def unsure(self) -> bool:
        return self.cause == UNSURE

    def to_dict(self) -> dict:
        return asdict(self)
