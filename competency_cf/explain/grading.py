"""Automatic grading of explanations: which cause does a sentence name, and in which direction?

The paper graded explanations by hand. Here keyword patterns per cause find the cause mentioned
first; for brightness, contrast and saturation, direction words decide whether the rationale is
inverted (saying "too dark" about an over-bright image is wrong). A sentence that names the right
cause without any direction counts as correct; one that says the cause is unclear names none.
"""

from __future__ import annotations

import re

from competency_cf.data.cause_implementations import EXPLAINED_CAUSES
from competency_cf.explain.explanation import HIGH, LOW

CAUSE_PATTERNS: dict[str, str] = {
    "spatial": r"object|structure|anomal|unfamiliar|unusual|foreign|astronaut|lander|human.made|"
               r"artifact|unknown|unseen|not present|new class|digit",
    "brightness": r"bright|dark|expos|illuminat|\bdim\b|lighting",
    "contrast": r"contrast|washed.out|\bflat\b|faded",
    "saturation": r"saturat|colou?r|vivid|vibrant|muted|gr[ae]yscale|black.and.white",
    "noise": r"nois|grain|speckl|static",
    "pixelation": r"pixel|resolution|\bblock(s|y|ier|iness)?\b|jagged",
    "blur": r"blur|out of focus|defocus|unfocus|smear|soft focus|motion streak",
    "haze": r"haze|hazy|\bfog|\bmist|dust|smog|veil",
    "occlusion": r"occlu|obstruct|\blens\b(?! flare)|hides|hidden|\bdirt|smudge|obscur|covered by|"
                 r"blocked|blocking",
    "glare": r"glare|flare|dazzl|light source|bloom|reflection",
}

DIRECTION_PATTERNS: dict[tuple[str, str], str] = {
    ("brightness", HIGH): r"bright(?!ness)|over.?expos|glare|too much light",
    ("brightness", LOW): r"dark|\bdim\b|under.?expos|shadow|low light|poorly lit",
    ("contrast", HIGH): r"(high|more|strong|increased|excessive|too much|harsh)\w* contrast|"
                        r"harsh",
    ("contrast", LOW): r"(low|less|poor|reduced|lack of|lacks|weak)\w* contrast|\bflat\b|faded|"
                       r"washed.out",
    ("saturation", HIGH): r"over.?saturat|more saturated|highly saturated|intense|vivid|vibrant|"
                          r"too much colou?r",
    ("saturation", LOW): r"under.?saturat|desaturat|less saturated|low saturation|gr[ae]yscale|"
                         r"muted|pale|dull|black.and.white|lack of colou?r",
}

DIRECTIONAL = ("brightness", "contrast", "saturation")
# An explanation that declines to name one cause (it may still list candidates).
UNSURE_PATTERN = (r"cause is (unclear|uncertain|unknown)|unsure (of|about|what|which)|"
                  r"(cannot|can't|can not) tell (which|what)")


def _first(pattern: str, text: str) -> int | None:
    match = re.search(pattern, text)
    return match.start() if match else None


def mentioned_cause(text: str) -> str | None:
    """The cause whose keywords appear first in `text`, or None."""
    text = text.lower()
    positions = {cause: _first(CAUSE_PATTERNS[cause], text) for cause in EXPLAINED_CAUSES}
    found = {cause: at for cause, at in positions.items() if at is not None}
    return min(found, key=found.get) if found else None


def mentioned_direction(text: str, cause: str) -> str | None:
    """HIGH or LOW for a directional cause, by the direction words appearing first; else None."""
    if cause not in DIRECTIONAL:
        return None
    text = text.lower()
    positions = {d: _first(DIRECTION_PATTERNS[(cause, d)], text) for d in (HIGH, LOW)}
    found = {d: at for d, at in positions.items() if at is not None}
    return min(found, key=found.get) if found else None


def true_direction(cause: str, factor: float) -> str:
    """Direction of a degradation: factors above 1 raise the property, below 1 lower it."""
    if cause in DIRECTIONAL:
        return HIGH if factor > 1.0 else LOW
    return HIGH


def said_unsure(text: str) -> bool:
    """Whether `text` declines to name a single cause."""
    return re.search(UNSURE_PATTERN, text.lower()) is not None


def grade(text: str, cause: str, direction: str = HIGH) -> bool:
    """Whether `text` names `cause` first, without inverting its direction. An unsure answer
    names no cause, so it is never correct here."""
    if said_unsure(text) or mentioned_cause(text) != cause:
        return False
    said = mentioned_direction(text, cause)
    return said is None or said == direction
