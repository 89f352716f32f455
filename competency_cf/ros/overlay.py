"""The debug image: the frame with a competency bar, the predicted class and the explanation,
and, when the explanation places its cause, a coarse heat map tinting where it is."""

from __future__ import annotations

import textwrap

import numpy as np
from PIL import Image, ImageDraw

BAR_HEIGHT = 10
HEAT_COLOUR = np.array([255, 40, 40], np.float32)
HEAT_ALPHA = 0.5   # tint of the heaviest cell
HEAT_FLOOR = 0.25  # lighter cells are left untinted, so the map marks a place, not noise
MIN_SIDE = 256  # small frames are enlarged so the text stays readable in RViz


def tint_heat_map(frame: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`frame` (H, W, 3) uint8 with each cell of a (G, G) map of weights in [0, 1] tinted red in
    proportion to its weight (cells below HEAT_FLOOR untouched)."""
    height, width = frame.shape[:2]
    grid = weights.shape[0]
    rows = np.minimum(np.arange(height) * grid // height, grid - 1)
    columns = np.minimum(np.arange(width) * grid // width, grid - 1)
    alpha = np.where(weights >= HEAT_FLOOR, HEAT_ALPHA * np.clip(weights, 0.0, 1.0), 0.0)
    alpha = alpha[rows][:, columns][..., None].astype(np.float32)
    tinted = frame.astype(np.float32) * (1.0 - alpha) + HEAT_COLOUR * alpha
    return np.rint(tinted).astype(np.uint8)


def debug_overlay(frame: np.ndarray, competency: float, threshold: float, label: str,
                  explanation: str = "", max_width: int = 0,
                  heat_map: np.ndarray | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame -> annotated (H', W', 3) uint8 RGB image, tinted by
    `heat_map` ((G, G) weights in [0, 1]) where given. A frame wider than `max_width` (0: no
    limit) is first thinned by an integer step: drawing and publishing a full 1280x720 debug
    image cost 11 ms per scored frame, a view for people does not need it."""
    if max_width and frame.shape[1] > max_width:
        step = -(-frame.shape[1] // max_width)
        frame = np.ascontiguousarray(frame[::step, ::step])
    if heat_map is not None and heat_map.size:
        frame = tint_heat_map(frame, heat_map)
    image = Image.fromarray(frame)
    scale = max(1, int(np.ceil(MIN_SIDE / min(image.size))))
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    lines = textwrap.wrap(explanation, width=max(20, image.width // 7))[:4]
    canvas = Image.new("RGB", (image.width, image.height + BAR_HEIGHT + 14 + 12 * len(lines)),
                       (0, 0, 0))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    top = image.height
    colour = (40, 200, 60) if competency >= threshold else (230, 50, 40)
    width = int(round(max(0.0, min(1.0, competency)) * image.width))
    draw.rectangle([0, top, width, top + BAR_HEIGHT - 1], fill=colour)
    marker = int(round(threshold * image.width))
    draw.line([marker, top, marker, top + BAR_HEIGHT - 1], fill=(255, 255, 255))
    draw.text((2, top + BAR_HEIGHT + 1), f"{label}  competency {competency:.2f}",
              fill=(255, 255, 255))
    for index, line in enumerate(lines):
        draw.text((2, top + BAR_HEIGHT + 14 + 12 * index), line, fill=(255, 220, 120))
    return np.asarray(canvas)
