"""What every explainer returns, and the plain-English sentence for each cause and direction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Directions a cause can take; spatial, noise and pixelation only ever have "more".
HIGH, LOW = "high", "low"

# Causes whose sentence names where in the view they are.
PLACED_CAUSES = ("spatial",)

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
}


def sentence(cause: str, direction: str, region: str = "") -> str:
    """One sentence naming the property behind the low competency."""
    if cause in PLACED_CAUSES and direction == HIGH:
        where = f" in the {region} of the image" if region else ""
        return (f"The image contains an unfamiliar object or structure{where} that does not "
                "appear in the images the classifier was trained on.")
    try:
        return _SENTENCES[(cause, direction)]
    except KeyError:
        raise ValueError(f"no sentence for cause {cause!r} with direction {direction!r}") from None


@dataclass
class Explanation:
    """Why one image had low competency.

    cause: one of CAUSES; direction: HIGH/LOW (HIGH for spatial, noise and pixelation);
    confidence: in [0, 1]; text: the one-sentence explanation; counterfactual: the method whose
    image was compared ("None" without one); scores: per-cause evidence behind the choice;
    seconds: time taken per explanation; region: where in the view, for PLACED_CAUSES ("upper
    left", ...; empty otherwise).
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

    def to_dict(self) -> dict:
        return asdict(self)
