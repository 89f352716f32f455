"""Unfamiliar objects pasted into views, covering a chosen share of each view's area.

Why: a competency estimate should warn about content the classifier has never seen, not only
about the degradations it was built around. Objects come from sources split into groups fixed
here: `TUNING_PASTES` may be used to choose anything, `HELD_OUT_PASTES` only for reporting.

Sources:

- "shapes" (tuning): procedural polygons, ellipses and striped bars with random colours and
  textures (flat, gradient, stripes, checks, speckle).
- "other_domain" (held out): a render of the other built-in domain, a speed-limit sign view in
  a lunar view and a lunar terrain view in a sign view, drawn at image indices far above any
  dataset split (fresh renders).
- "photographs" (held out): crops of the photographs that ship inside the scikit-image wheel
  (`PHOTOGRAPHS`), read from the installed package; nothing is downloaded.

Shapes cover exactly the requested number of pixels; rectangular objects (renders, photographs)
come within half a row of it. Pixels outside the object are left exactly as they were. Images
follow the package convention: float32 tensors, NCHW, RGB, values in [0, 1]. Each image has its
own random stream seeded by (seed, source, position in the batch).
"""

from __future__ import annotations

import colorsys
import importlib.util
import math
import numbers
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from competency_cf.data.dataset import check_each_image
from competency_cf.data.domains import Domain, get_domain
from competency_cf.data.synthesize import render_image

PASTE_SOURCES: tuple[str, ...] = ("shapes", "other_domain", "photographs")
TUNING_PASTES: tuple[str, ...] = ("shapes",)
HELD_OUT_PASTES: tuple[str, ...] = ("other_domain", "photographs")
AREA_FRACTION_RANGE: tuple[float, float] = (0.15, 0.50)
# Photographs bundled in scikit-image's wheel (skimage/data), as file names there.
PHOTOGRAPHS: tuple[str, ...] = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                                "motorcycle_left.png", "camera.png")
OTHER_DOMAIN: dict[str, str] = {"lunar": "speed", "speed": "lunar"}
# Renders pasted from the other domain use image indices from here on, far above any split.
FRESH_RENDER_INDEX = 1_000_000
MIN_IMAGE_SIDE = 16

SHAPE_KINDS: tuple[str, ...] = ("polygon", "ellipse", "stripes")
_TEXTURES: tuple[str, ...] = ("flat", "gradient", "stripes", "checks", "speckle")


# ----------------------------------------------------------------------------- geometry

def _rectangle_size(pixels: int, height: int, width: int, rng: np.random.Generator
                    ) -> tuple[int, int]:
    """(rows, columns) of a rectangle of about `pixels` pixels, aspect ratio 3:4 to 4:3."""
    aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))  # columns / rows
    rows = min(height, max(1, round(math.sqrt(pixels / aspect))))
    columns = min(width, max(1, round(pixels / rows)))
    rows = min(height, max(1, round(pixels / columns)))
    return rows, columns


def _rectangle_mask(pixels: int, height: int, width: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    rows, columns = _rectangle_size(pixels, height, width, rng)
    top = int(rng.integers(0, height - rows + 1))
    left = int(rng.integers(0, width - columns + 1))
    mask = np.zeros((height, width), dtype=bool)
    mask[top:top + rows, left:left + columns] = True
    return mask, (top, left, rows, columns)


def _lowest_pixels(level: np.ndarray, pixels: int) -> np.ndarray:
    """Mask of the `pixels` pixels with the lowest `level` (ties broken by position)."""
    order = np.argsort(level, axis=None, kind="stable")
    mask = np.zeros(level.size, dtype=bool)
    mask[order[:pixels]] = True
    return mask.reshape(level.shape)


def _shape_level(kind: str, height: int, width: int, pixels: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """A level function whose sub-level sets have the outline of a random shape of `kind`.

    The shape is centred at a random position where a disc of its area fits; taking the
    `pixels` lowest pixels gives the shape at exactly that area.
    """
    radius = math.sqrt(pixels / math.pi)
    margin_y, margin_x = min(radius, height / 2), min(radius, width / 2)
    centre_y = rng.uniform(margin_y, height - margin_y)
    centre_x = rng.uniform(margin_x, width - margin_x)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    rotation = rng.uniform(0.0, math.pi)
    along = (cols - centre_x) * math.cos(rotation) + (rows - centre_y) * math.sin(rotation)
    across = -(cols - centre_x) * math.sin(rotation) + (rows - centre_y) * math.cos(rotation)
    if kind == "ellipse":
        elongation = rng.uniform(1.0, 1.8)
        return np.hypot(along / elongation, across)
    if kind == "stripes":  # a bar of parallel stripes: a rotated rectangle
        elongation = rng.uniform(1.3, 2.2)
        return np.maximum(np.abs(along) / elongation, np.abs(across))
    # A star-shaped polygon: radius interpolated linearly between random vertices.
    corners = int(rng.integers(3, 9))
    corner_angles = np.sort(rng.uniform(0.0, 2.0 * math.pi, corners))
    corner_radii = rng.uniform(0.55, 1.0, corners)
    angle = np.arctan2(across, along) % (2.0 * math.pi)
    outline = np.interp(angle, corner_angles, corner_radii, period=2.0 * math.pi)
    return np.hypot(along, across) / outline


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hue, saturation, value = rng.random(), rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0)
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value), dtype=np.float32)


def _texture(name: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """An RGB texture (H, W, 3) in [0, 1]."""
    first, second = _random_colour(rng), _random_colour(rng)
    if name == "flat":
        return np.broadcast_to(first, (height, width, 3)).copy()
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0.0, math.pi)
    along = cols * math.cos(angle) + rows * math.sin(angle)
    if name == "gradient":
        share = (along - along.min()) / max(float(np.ptp(along)), 1e-6)
    elif name == "stripes":
        period = rng.uniform(3.0, 10.0)
        share = ((along / period) % 1.0 < 0.5).astype(np.float32)
    elif name == "checks":
        size = rng.uniform(3.0, 9.0)
        across = -cols * math.sin(angle) + rows * math.cos(angle)
        share = ((np.floor(along / size) + np.floor(across / size)) % 2).astype(np.float32)
    else:  # speckle
        share = (rng.random((height, width)) < 0.35).astype(np.float32)
    return first * (1.0 - share[..., None]) + second * share[..., None]


# ----------------------------------------------------------------------------- sources

def _shape_object(height: int, width: int, pixels: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    kind = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
    mask = _lowest_pixels(_shape_level(kind, height, width, pixels, rng), pixels)
    texture = "stripes" if kind == "stripes" else _TEXTURES[int(rng.integers(len(_TEXTURES)))]
    return mask, _texture(texture, height, width, rng)


def _resize_rgb(image: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Resize an RGB float image (H, W, 3) with antialiasing."""
    picture = Image.fromarray(np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    resized = picture.resize((columns, rows), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / 255.0


def _place(patch: np.ndarray, box: tuple[int, int, int, int], height: int, width: int
           ) -> np.ndarray:
    top, left, rows, columns = box
    canvas = np.zeros((height, width, 3), dtype=np.float32)
    canvas[top:top + rows, left:left + columns] = patch
    return canvas


def _other_domain_object(domain: Domain, height: int, width: int, pixels: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    label = int(rng.integers(domain.num_classes))
    index = FRESH_RENDER_INDEX + int(rng.integers(1_000_000))
    render = render_image(domain, label, index).transpose(1, 2, 0).astype(np.float32) / 255.0
    mask, box = _rectangle_mask(pixels, height, width, rng)
    return mask, _place(_resize_rgb(render, box[2], box[3]), box, height, width)


def _photograph_folder() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the 'photographs' source needs scikit-image installed: its wheel "
                           "ships the photographs (pip install scikit-image)")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def load_photograph(name: str) -> np.ndarray:
    """One of `PHOTOGRAPHS` from the installed scikit-image, RGB float32 (H, W, 3) in [0, 1]."""
    if name not in PHOTOGRAPHS:
        raise ValueError(f"unknown photograph {name!r}; expected one of {', '.join(PHOTOGRAPHS)}")
    path = _photograph_folder() / name
    if not path.is_file():
        raise RuntimeError(f"photograph {name} is missing from the installed scikit-image "
                           f"({path.parent})")
    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0


def _photograph_object(photograph: Callable[[str], np.ndarray], height: int, width: int,
                       pixels: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    photo = photograph(PHOTOGRAPHS[int(rng.integers(len(PHOTOGRAPHS)))])
    mask, box = _rectangle_mask(pixels, height, width, rng)
    rows, columns = box[2], box[3]
    photo_rows, photo_columns = photo.shape[:2]
    # The largest crop with the object's aspect, shrunk to 40-100 % of it, anywhere in the photo.
    crop_rows = min(photo_rows, photo_columns * rows / columns) * rng.uniform(0.4, 1.0)
    crop_columns = crop_rows * columns / rows
    crop_rows, crop_columns = max(1, round(crop_rows)), max(1, round(crop_columns))
    top = int(rng.integers(0, photo_rows - crop_rows + 1))
    left = int(rng.integers(0, photo_columns - crop_columns + 1))
    crop = photo[top:top + crop_rows, left:left + crop_columns]
    return mask, _place(_resize_rgb(crop, rows, columns), box, height, width)


# ----------------------------------------------------------------------------- public API

def _check_arguments(source: str, area_fraction: float, seed: int, domain: str | Domain | None
                     ) -> Domain | None:
    if source not in PASTE_SOURCES:
        raise ValueError(f"unknown paste source {source!r}; expected one of "
                         f"{', '.join(PASTE_SOURCES)}")
    low, high = AREA_FRACTION_RANGE
    if isinstance(area_fraction, bool) or not isinstance(area_fraction, numbers.Real) \
            or not low <= area_fraction <= high:
        raise ValueError(f"area_fraction must be a number in [{low}, {high}] (the share of "
                         f"each view the object covers), got {area_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if source != "other_domain":
        return None
    if domain is None:
        raise ValueError("the 'other_domain' source needs domain= (the domain the views come "
                         f"from: {' or '.join(OTHER_DOMAIN)})")
    name = domain.name if isinstance(domain, Domain) else domain
    if name not in OTHER_DOMAIN:
        raise ValueError(f"unknown domain {name!r} for 'other_domain'; expected one of "
                         f"{', '.join(OTHER_DOMAIN)}")
    return get_domain(OTHER_DOMAIN[name])


def image_rng(seed: int, source: str, index: int) -> np.random.Generator:
    """The random stream of image `index` of a batch pasted from `source` with `seed`."""
    return np.random.default_rng([seed, zlib.crc32(source.encode()), index])


def paste_objects_with_masks(images: torch.Tensor, source: str, area_fraction: float,
                             seed: int = 0, domain: str | Domain | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste one object from `source` into each image; also return where (bool, (N, H, W)).

    `area_fraction` (0.15 to 0.5) is the share of each image the object covers. `domain` names
    the views' domain ("lunar" or "speed"); the "other_domain" source needs it.
    """
    object_domain = _check_arguments(source, area_fraction, seed, domain)
    check_each_image(images)
    height, width = images.shape[-2:]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ValueError(f"images must be at least {MIN_IMAGE_SIDE} pixels on each side, got "
                         f"{height}x{width}")
    pixels = round(float(area_fraction) * height * width)
    loaded_photographs: dict[str, np.ndarray] = {}

    def photograph(name: str) -> np.ndarray:
        if name not in loaded_photographs:
            loaded_photographs[name] = load_photograph(name)
        return loaded_photographs[name]

    batch = images.detach().to("cpu", torch.float32).numpy()
    pasted = batch.copy()
    masks = np.zeros((len(images), height, width), dtype=bool)
    for index in range(len(images)):
        rng = image_rng(int(seed), source, index)
        if source == "shapes":
            mask, content = _shape_object(height, width, pixels, rng)
        elif source == "other_domain":
            mask, content = _other_domain_object(object_domain, height, width, pixels, rng)
        else:
            mask, content = _photograph_object(photograph, height, width, pixels, rng)
        pasted[index][:, mask] = np.clip(content[mask], 0.0, 1.0).T
        masks[index] = mask
    return (torch.from_numpy(pasted).to(images.device),
            torch.from_numpy(masks).to(images.device))


def paste_objects(images: torch.Tensor, source: str, area_fraction: float, seed: int = 0,
                  domain: str | Domain | None = None) -> torch.Tensor:
    """Paste one object from `source` into each image of a batch (N, 3, H, W) in [0, 1].

    See `paste_objects_with_masks`; the same seed gives the same output.
    """
    return paste_objects_with_masks(images, source, area_fraction, seed, domain)[0]
