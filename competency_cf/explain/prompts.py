"""Prompts of the LLM explainer (config/prompts/<domain>.yaml) and the side-by-side image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from competency_cf.data.dataset import to_uint8

PADDING = 10  # white pixels around and between the two images, as in the paper


@dataclass(frozen=True)
class Prompts:
    """The paper's prompts, plus `camera`: what can go wrong with the camera itself (blur, haze,
    dirt on the lens, glare). Optional: without it the message is the paper's."""

    dataset: str
    estimator: str
    instructions: str
    instructions_counterfactual: str
    camera: str = ""

    OPTIONAL = ("camera",)

    def text(self, with_counterfactual: bool) -> str:
        """The user message: training set, estimator, the camera, then the instructions."""
        instructions = (self.instructions_counterfactual if with_counterfactual
                        else self.instructions)
        return " ".join(part for part in (self.dataset, self.estimator, self.camera,
                                          instructions) if part)

    @classmethod
    def load(cls, path: str | Path) -> "Prompts":
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prompt file not found: {path}")
        entries = yaml.safe_load(path.read_text()) or {}
        missing = [name for name in cls.__dataclass_fields__
                   if name not in cls.OPTIONAL and not entries.get(name)]
        if missing:
            raise ValueError(f"{path}: missing prompt entries {', '.join(missing)}")
        return cls(**{name: str(entries[name]).strip() for name in cls.__dataclass_fields__
                      if entries.get(name)})


def load_prompts(domain: str) -> Prompts:
    from competency_cf.resources import config_file

    return Prompts.load(config_file(f"prompts/{domain}.yaml"))


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) float image in [0, 1] -> PIL RGB."""
    return Image.fromarray(to_uint8(image.unsqueeze(0))[0].transpose(1, 2, 0))


def side_by_side(original: torch.Tensor, counterfactual: torch.Tensor) -> Image.Image:
    """Original left, counterfactual right, PADDING white pixels around and between."""
    left, right = np.asarray(to_pil(original)), np.asarray(to_pil(counterfactual))
    height = max(left.shape[0], right.shape[0])
    canvas = np.full((height + 2 * PADDING, left.shape[1] + right.shape[1] + 3 * PADDING, 3),
                     255, dtype=np.uint8)
    canvas[PADDING:PADDING + left.shape[0], PADDING:PADDING + left.shape[1]] = left
    x = 2 * PADDING + left.shape[1]
    canvas[PADDING:PADDING + right.shape[0], x:x + right.shape[1]] = right
    return Image.fromarray(canvas)
