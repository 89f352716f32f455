"""The common corruptions of Hendrycks & Dietterich (ImageNet-C, ICLR 2019) at five severities.

Why: detection and explanation are also measured on shifts the project's own generator
(`competency_cf.data.causes`) knows nothing about. This module shares no code with it.

The severity levels are the paper's reference levels for 224-pixel images. Non-spatial
parameters (noise strengths, contrast, brightness, saturation, JPEG quality, relative pixelation
and zoom factors) are used as they are; spatial sizes (blur radii and sigmas, kernel sizes,
displacements) are scaled by the image side over 224, so a 64-pixel view is corrupted like a
224-pixel image seen at 64 pixels. Weather layers (snow, frost, fog, spatter) are drawn on the
224-pixel reference grid with the paper's parameters and area-resampled to the view, which scales
flake, drop, crystal and fog sizes the same way. Two deviations, where the scaled reference
levels stop making sense: glass blur swaps pixels, which cannot move less than one pixel, so it
keeps the scaled blur but uses the shuffle distances of the reference implementation's own
64-pixel levels, with more shuffling passes at higher severity; and the elastic transform's five
reference parameter sets are not ordered by strength (sets 1-2 are large warps, 3-5 small local
ones), so they are used in the order 3, 4, 5, 1, 2. Spatter and saturate keep the paper's levels,
which change kind on the way: water drops (1-3) then mud (4, 5), and desaturation (1, 2) then
oversaturation (3-5); `severity_runs` gives the runs of levels along which strength grows.
`corruption_parameters` gives the parameters used at any image size.

Gaussian noise, glass blur, zoom blur, Gaussian blur, JPEG compression and pixelation run through
albumentations (imported on first use, with its online version check switched off); the rest are
implemented here from the paper's formulas with numpy and scipy. Frost uses a procedural
ice-crystal texture instead of the paper's frost photographs.

`TUNING_CORRUPTIONS` are the paper's four extra (validation) corruptions: they may be used to
choose anything. `HELD_OUT_CORRUPTIONS` are the fifteen benchmark corruptions, for reporting only.

Images follow the package convention: float32 tensors, NCHW, RGB, values in [0, 1]. Each image of
a batch has its own random stream seeded by (seed, corruption, position in the batch), so a result
does not depend on anything but those.
"""

from __future__ import annotations

import math
import os
import zlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping

import numpy as np
import scipy.ndimage as ndimage
import scipy.signal
import torch
from PIL import Image, ImageDraw

from competency_cf.data.dataset import check_each_image

CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise",
    "defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur",
    "snow", "frost", "fog", "spatter",
    "brightness", "contrast", "saturate", "elastic_transform", "pixelate", "jpeg_compression",
)
TUNING_CORRUPTIONS: tuple[str, ...] = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
HELD_OUT_CORRUPTIONS: tuple[str, ...] = tuple(name for name in CORRUPTIONS
                                              if name not in TUNING_CORRUPTIONS)
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
# Corruptions whose levels change kind part-way; strength grows within each run of levels.
_SEVERITY_RUNS: Mapping[str, tuple[tuple[int, ...], ...]] = MappingProxyType({
    "spatter": ((1, 2, 3), (4, 5)),  # water drops, then mud
    "saturate": ((1, 2), (3, 4, 5)),  # less saturated, then more saturated
})

REFERENCE_SIZE = 224  # the image side the paper's levels were written for
MIN_IMAGE_SIDE = 16
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Params = dict[str, Any]


@dataclass(frozen=True)
class _Corruption:
    parameters: Callable[[int, int], Params]  # (severity, image side) -> parameters
    apply: Callable[[np.ndarray, Params, np.random.Generator], np.ndarray]  # HWC float32
    seeded: bool  # whether the output depends on the seed


# ----------------------------------------------------------------------------- helpers

def _spatial_scale(side: int) -> float:
    return side / REFERENCE_SIZE


def _reference_grid(height: int, width: int) -> tuple[int, int]:
    """Shape of the 224-pixel reference grid with the aspect of an (height, width) image."""
    side = min(height, width)
    return round(REFERENCE_SIZE * height / side), round(REFERENCE_SIZE * width / side)


def _resize_layer(layer: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D layer to (height, width): exact area averages when shrinking, bilinear when
    enlarging."""
    if layer.shape == (height, width):
        return layer.astype(np.float32)
    shrinking = height <= layer.shape[0] and width <= layer.shape[1]
    picture = Image.fromarray(np.ascontiguousarray(layer, dtype=np.float32))
    method = Image.Resampling.BOX if shrinking else Image.Resampling.BILINEAR
    return np.array(picture.resize((width, height), method), dtype=np.float32)


def _per_channel(image: np.ndarray, function: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.stack([function(image[..., channel]) for channel in range(image.shape[-1])],
                    axis=-1)


def _gray(image: np.ndarray) -> np.ndarray:
    return image @ _LUMA


def _fractal_noise(rng: np.random.Generator, shape: tuple[int, int], exponent: float
                   ) -> np.ndarray:
    """Noise with a power spectrum falling as 1 / f**exponent, scaled to [0, 1]."""
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    frequency = np.hypot(fy, fx)
    frequency[0, 0] = 1.0
    spectrum = (rng.normal(size=frequency.shape) + 1j * rng.normal(size=frequency.shape))
    spectrum *= frequency ** (-exponent / 2.0)
    spectrum[0, 0] = 0.0
    field = np.fft.irfft2(spectrum, s=shape)
    field -= field.min()
    return field / max(field.max(), 1e-12)


def _line_kernel(radius: float, sigma: float, angle_deg: float) -> np.ndarray:
    """One-sided Gaussian-weighted line kernel of a motion blur, taps at fractional offsets.

    Like the reference (ImageMagick's motion blur), 2 * ceil(radius) + 1 taps lie at distances
    0, 1, 2, ... pixels along the direction `angle_deg`, weighted by exp(-d^2 / (2 sigma^2)).
    Each tap is split bilinearly over its four nearest kernel cells.
    """
    taps = 2 * math.ceil(radius) + 1
    centre = taps
    kernel = np.zeros((2 * taps + 1, 2 * taps + 1), dtype=np.float64)
    direction_x, direction_y = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    for distance in range(taps):
        weight = math.exp(-distance * distance / (2.0 * sigma * sigma))
        x, y = centre + distance * direction_x, centre + distance * direction_y
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        kernel[y0, x0] += weight * (1 - fx) * (1 - fy)
        kernel[y0, x0 + 1] += weight * fx * (1 - fy)
        kernel[y0 + 1, x0] += weight * (1 - fx) * fy
        kernel[y0 + 1, x0 + 1] += weight * fx * fy
    return kernel / kernel.sum()


def _correlate_edge(channel: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """out(p) = sum_k kernel(k) * channel(p + k - centre), edges replicated (FFT based)."""
    reach = kernel.shape[0] // 2
    padded = np.pad(channel.astype(np.float64), reach, mode="edge")
    return scipy.signal.fftconvolve(padded, kernel[::-1, ::-1], mode="valid").astype(np.float32)


def _streak(layer: np.ndarray, radius: float, sigma: float, angle_deg: float) -> np.ndarray:
    """Motion blur of a 2-D layer with whole-pixel tap offsets, as in the reference
    (ImageMagick's motion blur); for layers drawn on the fine reference grid."""
    taps = 2 * math.ceil(radius) + 1
    padded = np.pad(layer.astype(np.float32), taps, mode="edge")
    height, width = layer.shape
    streaked = np.zeros_like(layer, dtype=np.float32)
    weights = np.exp(-np.arange(taps) ** 2 / (2.0 * sigma * sigma))
    direction_x, direction_y = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    for distance, weight in enumerate(weights / weights.sum()):
        dx, dy = round(distance * direction_x), round(distance * direction_y)
        streaked += weight * padded[taps + dy:taps + dy + height, taps + dx:taps + dx + width]
    return streaked


def _disk_kernel(radius: float, alias_sigma: float, supersampling: int = 8) -> np.ndarray:
    """Normalised disk of `radius` pixels, each cell weighted by the share of it inside the disk,
    then smoothed with a Gaussian of `alias_sigma` (the reference's anti-aliasing step)."""
    reach = math.ceil(radius + 2.0 * alias_sigma + 1.0)
    offsets = (np.arange(supersampling) + 0.5) / supersampling - 0.5
    grid = np.arange(-reach, reach + 1)
    fine = (grid[:, None] + offsets[None, :]).ravel()
    inside = (fine[:, None] ** 2 + fine[None, :] ** 2) <= radius ** 2
    size = len(grid)
    coverage = inside.reshape(size, supersampling, size, supersampling).mean(axis=(1, 3))
    if coverage.sum() == 0.0:
        coverage[reach, reach] = 1.0
    coverage = ndimage.gaussian_filter(coverage, alias_sigma, mode="constant")
    return (coverage / coverage.sum()).astype(np.float32)


def _rgb_value_saturation(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    value = image.max(axis=-1)
    chroma = value - image.min(axis=-1)
    saturation = np.where(value > 0, chroma / np.maximum(value, 1e-12), 0.0)
    return value, saturation


# ----------------------------------------------------------------------------- noise

def _gaussian_noise_parameters(severity: int, side: int) -> Params:
    return {"sigma": (0.08, 0.12, 0.18, 0.26, 0.38)[severity - 1]}


def _shot_noise_parameters(severity: int, side: int) -> Params:
    return {"photons_per_unit": (60, 25, 12, 5, 3)[severity - 1]}


def _shot_noise(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    photons = params["photons_per_unit"]
    return rng.poisson(image * photons).astype(np.float32) / photons


def _impulse_noise_parameters(severity: int, side: int) -> Params:
    return {"amount": (0.03, 0.06, 0.09, 0.17, 0.27)[severity - 1]}


def _impulse_noise(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper on each colour value independently (half salt, half pepper)."""
    flipped = rng.random(image.shape) < params["amount"]
    salt = rng.random(image.shape) < 0.5
    noisy = image.copy()
    noisy[flipped & salt] = 1.0
    noisy[flipped & ~salt] = 0.0
    return noisy


def _speckle_noise_parameters(severity: int, side: int) -> Params:
    return {"sigma": (0.15, 0.2, 0.35, 0.45, 0.6)[severity - 1]}


def _speckle_noise(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    return image + image * rng.normal(0.0, params["sigma"], image.shape).astype(np.float32)


# ----------------------------------------------------------------------------- blur

def _defocus_blur_parameters(severity: int, side: int) -> Params:
    radius, alias_sigma = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))[severity - 1]
    scale = _spatial_scale(side)
    return {"radius": radius * scale, "alias_sigma": alias_sigma * scale}


def _defocus_blur(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    kernel = _disk_kernel(params["radius"], params["alias_sigma"])
    return _per_channel(image, lambda channel: ndimage.correlate(channel, kernel, mode="mirror"))


def _glass_blur_parameters(severity: int, side: int) -> Params:
    # Reference 224-pixel levels (sigma, max_delta, iterations): (0.7, 1, 2), (0.9, 2, 1),
    # (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2). The blur sigma is scaled like every spatial size, but
    # the scaled shuffle distances (0.3 to 1.1 pixels) are below what a pixel swap can do, so
    # the distances are those of the reference implementation's own 64-pixel levels
    # (1, 1, 1, 2, 2 pixels at 64) and the number of shuffling passes grows with severity.
    sigma, max_delta, iterations = ((0.7, 1, 1), (0.9, 1, 2), (1.0, 1, 3), (1.1, 2, 2),
                                    (1.5, 2, 3))[severity - 1]
    return {"sigma": sigma * _spatial_scale(side),
            "max_delta": max(1, round(max_delta * side / 64)), "iterations": iterations}


def _motion_blur_parameters(severity: int, side: int) -> Params:
    radius, sigma = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))[severity - 1]
    scale = _spatial_scale(side)
    return {"radius": radius * scale, "sigma": sigma * scale, "angle_range_deg": (-45.0, 45.0)}


def _motion_blur(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(*params["angle_range_deg"])
    kernel = _line_kernel(params["radius"], params["sigma"], angle)
    return _per_channel(image, lambda channel: _correlate_edge(channel, kernel))


def _zoom_blur_parameters(severity: int, side: int) -> Params:
    # Zoom factors are relative to the image, so they need no scaling.
    max_factor, step = ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02),
                        (1.31, 0.03))[severity - 1]
    return {"max_factor": max_factor, "step": step}


def _gaussian_blur_parameters(severity: int, side: int) -> Params:
    return {"sigma": (1, 2, 3, 4, 6)[severity - 1] * _spatial_scale(side)}


# ----------------------------------------------------------------------------- weather

def _snow_parameters(severity: int, side: int) -> Params:
    mean, std, zoom, threshold, radius, sigma, blend = (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    )[severity - 1]
    scale = _spatial_scale(side)
    return {"layer_mean": mean, "layer_std": std, "flake_size": zoom * scale,
            "threshold": threshold, "streak_radius": radius * scale,
            "streak_sigma": sigma * scale, "image_weight": blend,
            "angle_range_deg": (-135.0, -45.0)}


def _zoom_centre(layer: np.ndarray, zoom: float) -> np.ndarray:
    """Enlarge the centre of a 2-D layer by `zoom` (bilinear), keeping its shape."""
    height, width = layer.shape
    crop_h, crop_w = math.ceil(height / zoom), math.ceil(width / zoom)
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    size = (max(height, round(crop_h * zoom)), max(width, round(crop_w * zoom)))
    zoomed = _resize_layer(layer[top:top + crop_h, left:left + crop_w], *size)
    top, left = (zoomed.shape[0] - height) // 2, (zoomed.shape[1] - width) // 2
    return zoomed[top:top + height, left:left + width]


def _snow(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    """Snowflakes drawn on the 224-pixel grid (normal noise, enlarged, thresholded, streaked by
    a motion blur), resized to the image, added with their 180-degree rotation to the image
    whitened towards 1.5 * gray + 0.5."""
    height, width = image.shape[:2]
    grid = _reference_grid(height, width)
    scale_to_grid = REFERENCE_SIZE / min(height, width)
    layer = rng.normal(params["layer_mean"], params["layer_std"], grid)
    layer = _zoom_centre(layer, params["flake_size"] * scale_to_grid)
    layer[layer < params["threshold"]] = 0.0
    layer = np.clip(layer, 0.0, 1.0)
    angle = rng.uniform(*params["angle_range_deg"])
    layer = _streak(layer, params["streak_radius"] * scale_to_grid,
                    params["streak_sigma"] * scale_to_grid, angle)
    layer = _resize_layer(layer, height, width)[..., None]
    weight = params["image_weight"]
    whitened = np.maximum(image, _gray(image)[..., None] * 1.5 + 0.5)
    return weight * image + (1.0 - weight) * whitened + layer + layer[::-1, ::-1]


def _frost_parameters(severity: int, side: int) -> Params:
    image_weight, frost_weight = ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7),
                                  (0.6, 0.75))[severity - 1]
    scale = _spatial_scale(side)
    return {"image_weight": image_weight, "frost_weight": frost_weight,
            "crystal_length_range": (12 * scale, 40 * scale), "grain_size": 1.5 * scale}


def _dendrite_segments(rng: np.random.Generator, starts: np.ndarray, angles: np.ndarray,
                       lengths: np.ndarray, brightness: np.ndarray, depth: int
                       ) -> list[np.ndarray]:
    """Line segments (x0, y0, x1, y1, brightness) of needles with side branches at +-60 degrees
    (hexagonal ice), each needle branching `depth` more times, three branches per needle."""
    ends = starts + lengths[:, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    segments = [np.column_stack([starts, ends, brightness])]
    if depth == 0:
        return segments
    branches = 3
    along = rng.uniform(0.15, 0.9, (len(starts), branches))
    branch_starts = starts[:, None] + along[..., None] * (ends - starts)[:, None]
    turn = np.where(rng.random((len(starts), branches)) < 0.5, -1.0, 1.0) * math.pi / 3.0
    branch_lengths = lengths[:, None] * rng.uniform(0.2, 0.45, along.shape) * (1 - 0.5 * along)
    segments += _dendrite_segments(
        rng, branch_starts.reshape(-1, 2), (angles[:, None] + turn).ravel(),
        branch_lengths.ravel(), np.repeat(brightness * 0.85, branches), depth - 1)
    return segments


def _ice_crystal_texture(rng: np.random.Generator, shape: tuple[int, int], scale_to_grid: float,
                         params: Params) -> np.ndarray:
    """A procedural frosted-glass texture on the reference grid, gray levels in [0, 1].

    Patchy rime (fractal coverage times fine grain) carries dendritic crystals: needles in random
    directions with side branches at +-60 degrees, as hexagonal ice grows. Crystals are denser
    where the rime is thicker.
    """
    height, width = shape
    coverage = _fractal_noise(rng, shape, exponent=3.0)
    grain_sigma = params["grain_size"] * scale_to_grid * 0.5
    grain = ndimage.gaussian_filter(rng.random(shape), grain_sigma)
    grain = (grain - grain.min()) / max(np.ptp(grain), 1e-12)
    shortest, longest = (length * scale_to_grid for length in params["crystal_length_range"])
    candidates = int(rng.integers(90, 130) * height * width / REFERENCE_SIZE ** 2)
    starts = rng.uniform((0, 0), (width, height), (candidates, 2))
    thick_rime = coverage[starts[:, 1].astype(int), starts[:, 0].astype(int)]
    keep = rng.random(candidates) < 0.3 + 0.7 * thick_rime
    count = int(keep.sum())
    segments = np.concatenate(_dendrite_segments(
        rng, starts[keep], rng.uniform(0.0, 2.0 * math.pi, count),
        rng.uniform(shortest, longest, count), rng.uniform(0.6, 1.0, count), depth=2))
    canvas = Image.new("F", (width, height), 0.0)
    draw = ImageDraw.Draw(canvas)
    for x0, y0, x1, y1, brightness in segments.tolist():
        draw.line([(x0, y0), (x1, y1)], fill=brightness, width=1)
    needles = np.asarray(canvas, dtype=np.float64)
    glow = ndimage.gaussian_filter(needles, 2.0)
    texture = coverage * (0.45 + 0.35 * grain) + 0.55 * needles + 0.8 * glow
    return np.clip(texture, 0.0, 1.0)


def _frost(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    scale_to_grid = REFERENCE_SIZE / min(height, width)
    texture = _ice_crystal_texture(rng, _reference_grid(height, width), scale_to_grid, params)
    texture = _resize_layer(texture, height, width)[..., None]
    ice_tint = np.array([0.86, 0.93, 1.0], dtype=np.float32)  # frost looks bluish white
    return params["image_weight"] * image + params["frost_weight"] * texture * ice_tint


def _fog_parameters(severity: int, side: int) -> Params:
    intensity, decay = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))[severity - 1]
    return {"intensity": intensity, "roughness_decay": decay, "map_size": 256}


def _plasma_fractal(rng: np.random.Generator, size: int, decay: float) -> np.ndarray:
    """Diamond-square height map on a periodic size x size grid (size a power of two), [0, 1].

    Every refinement sets new points to the mean of their four neighbours plus a uniform random
    offset whose amplitude shrinks by `decay` per level, as in the paper's fog.
    """
    height_map = np.zeros((size, size), dtype=np.float64)
    step, amplitude = size, 100.0

    def averaged_plus_noise(total: np.ndarray) -> np.ndarray:
        return total / 4.0 + amplitude * rng.uniform(-amplitude, amplitude, total.shape)

    while step >= 2:
        half = step // 2
        corners = height_map[0:size:step, 0:size:step]
        square = corners + np.roll(corners, -1, axis=0)
        square = square + np.roll(square, -1, axis=1)
        height_map[half:size:step, half:size:step] = averaged_plus_noise(square)
        centres = height_map[half:size:step, half:size:step]
        corners = height_map[0:size:step, 0:size:step]
        left_right = (centres + np.roll(centres, 1, axis=0)
                      + corners + np.roll(corners, -1, axis=1))
        height_map[0:size:step, half:size:step] = averaged_plus_noise(left_right)
        up_down = (centres + np.roll(centres, 1, axis=1)
                   + corners + np.roll(corners, -1, axis=0))
        height_map[half:size:step, 0:size:step] = averaged_plus_noise(up_down)
        step = half
        amplitude /= decay
    height_map -= height_map.min()
    return height_map / max(height_map.max(), 1e-12)


def _fog(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    grid_h, grid_w = _reference_grid(height, width)
    size = params["map_size"]
    while size < max(grid_h, grid_w):
        size *= 2
    fog = _plasma_fractal(rng, size, params["roughness_decay"])[:grid_h, :grid_w]
    fog = _resize_layer(fog, height, width)[..., None]
    brightest = image.max()
    intensity = params["intensity"]
    return (image + intensity * fog) * brightest / (brightest + intensity)


def _spatter_parameters(severity: int, side: int) -> Params:
    mean, std, sigma, threshold, intensity, mode = (
        (0.65, 0.3, 4, 0.69, 0.6, "water"),
        (0.65, 0.3, 3, 0.68, 0.6, "water"),
        (0.65, 0.3, 2, 0.68, 0.5, "water"),
        (0.65, 0.3, 1, 0.65, 1.5, "mud"),
        (0.67, 0.4, 1, 0.65, 1.5, "mud"),
    )[severity - 1]
    scale = _spatial_scale(side)
    params = {"layer_mean": mean, "layer_std": std, "drop_sigma": sigma * scale,
              "threshold": threshold, "mode": mode}
    if mode == "water":
        params.update(shading=intensity, shading_reach=20 * scale)
    else:
        params.update(mud_edge_sigma=intensity * scale)
    return params


def _equalize(values: np.ndarray) -> np.ndarray:
    """Histogram equalisation of integer levels 0..255 to 0..255 (cumulative distribution)."""
    levels = np.clip(values, 0, 255).astype(np.int64)
    counts = np.bincount(levels.ravel(), minlength=256)
    cumulative = np.cumsum(counts)
    lowest = cumulative[np.flatnonzero(counts)[0]]
    span = max(cumulative[-1] - lowest, 1)
    table = np.round(np.clip(cumulative - lowest, 0, None) * 255.0 / span)
    return table[levels]


def _water_drops(liquid: np.ndarray, params: Params, scale_to_grid: float) -> np.ndarray:
    """Shading of water drops: distance to the drop outlines, equalised and embossed."""
    wet = liquid > 0
    outline = wet ^ ndimage.binary_erosion(wet)
    if not outline.any():
        return np.zeros_like(liquid)
    distance = ndimage.distance_transform_edt(~outline)
    distance = np.minimum(distance, params["shading_reach"] * scale_to_grid)
    distance = np.floor(ndimage.uniform_filter(distance, 3))
    distance = _equalize(distance)
    emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float64)
    distance = np.clip(ndimage.correlate(distance, emboss, mode="mirror"), 0, 255)
    distance = ndimage.uniform_filter(distance, 3)
    shading = liquid * distance
    return shading / max(shading.max(), 1e-12) * params["shading"]


def _spatter(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    """Water drops (lighter, pale turquoise) or mud (opaque brown) on the lens, drawn on the
    224-pixel grid and resized to the image."""
    height, width = image.shape[:2]
    scale_to_grid = REFERENCE_SIZE / min(height, width)
    liquid = rng.normal(params["layer_mean"], params["layer_std"], _reference_grid(height, width))
    liquid = ndimage.gaussian_filter(liquid, params["drop_sigma"] * scale_to_grid)
    liquid[liquid < params["threshold"]] = 0.0
    if params["mode"] == "water":
        drops = _resize_layer(_water_drops(liquid, params, scale_to_grid), height, width)
        water = np.array([175, 238, 238], dtype=np.float32) / 255.0
        return image + drops[..., None] * water
    mud = ndimage.gaussian_filter((liquid > params["threshold"]).astype(np.float64),
                                  params["mud_edge_sigma"] * scale_to_grid)
    mud[mud < 0.8] = 0.0
    mud = _resize_layer(mud, height, width)[..., None]
    brown = np.array([63, 42, 20], dtype=np.float32) / 255.0
    return image * (1.0 - mud) + brown * mud


# ----------------------------------------------------------------------------- digital

def _brightness_parameters(severity: int, side: int) -> Params:
    return {"value_shift": (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]}


def _brightness(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    """Add to the HSV value, keeping hue and saturation: RGB scales by new value / old value."""
    value = image.max(axis=-1, keepdims=True)
    new_value = np.minimum(value + params["value_shift"], 1.0)
    return np.where(value > 0, image * new_value / np.maximum(value, 1e-12), new_value)


def _contrast_parameters(severity: int, side: int) -> Params:
    return {"factor": (0.4, 0.3, 0.2, 0.1, 0.05)[severity - 1]}


def _contrast(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    means = image.mean(axis=(0, 1), keepdims=True)
    return (image - means) * params["factor"] + means


def _saturate_parameters(severity: int, side: int) -> Params:
    factor, offset = ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2))[severity - 1]
    return {"saturation_factor": factor, "saturation_offset": offset}


def _saturate(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
    """HSV saturation S -> clip(S * factor + offset), hue and value kept.

    With hue and value fixed each RGB value is V - S * V * (1 - g(hue)), so the distance below V
    scales by S' / S. Gray pixels have hue 0 (red) in the HSV convention the paper used, so a
    positive offset tints them red, as in the reference data.
    """
    value, saturation = _rgb_value_saturation(image)
    new_saturation = np.clip(saturation * params["saturation_factor"]
                             + params["saturation_offset"], 0.0, 1.0)
    value, saturation, new_saturation = (a[..., None] for a in (value, saturation, new_saturation))
    coloured = value - (value - image) * new_saturation / np.maximum(saturation, 1e-12)
    red_hue_gray = value * (1.0 - new_saturation * np.array([0.0, 1.0, 1.0], dtype=np.float32))
    return np.where(saturation > 0, coloured, red_hue_gray)


def _elastic_transform_parameters(severity: int, side: int) -> Params:
    # The reference levels, in reference image sides (244 pixels for 224-pixel images):
    # (displacement strength, smoothing, affine shift) = (2, 0.7, 0.1), (2, 0.08, 0.2),
    # (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02). Its levels 1 and 2 are large
    # warps and 3-5 small local ones, so the same five parameter sets are used here ordered by
    # strength: reference levels 3, 4, 5, 1, 2.
    strength, smoothing, affine_shift = ((0.05, 0.01, 0.02), (0.07, 0.01, 0.02),
                                         (0.12, 0.01, 0.02), (2.0, 0.7, 0.1),
                                         (2.0, 0.08, 0.2))[severity - 1]
    reference_side = 244.0
    scale = _spatial_scale(side)
    reference_smoothing = smoothing * reference_side
    view_smoothing = reference_smoothing * scale
    # The displacement field is smoothed uniform noise. Drawn on the image's own grid, it gets
    # the amplitude the reference field (on the 224-pixel grid) has, in this image's pixels.
    strength *= (reference_side * scale * _gaussian_kernel_norm(reference_smoothing)
                 / _gaussian_kernel_norm(view_smoothing))
    return {"strength": strength, "smoothing": view_smoothing,
            "affine_shift": affine_shift * reference_side * scale}


def _gaussian_kernel_norm(sigma: float, truncate: float = 3.0) -> float:
    """L2 norm of the 2-D sampled Gaussian kernel scipy uses for `sigma` pixels."""
    radius = int(truncate * sigma + 0.5)
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weights /= weights.sum()
    return float((weights ** 2).sum())  # the 2-D kernel is the outer product of `weights`


def _affine_from_points(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2x3 matrix A with A @ [x, y, 1] = target for each of three (x, y) source points."""
    design = np.hstack([source, np.ones((3, 1))])
    return np.linalg.solve(design, target).T


def _elastic_transform(image: np.ndarray, params: Params, rng: np.random.Generator
                       ) -> np.ndarray:
    height, width = image.shape[:2]
    centre = np.array([width // 2, height // 2], dtype=np.float64)
    reach = min(height, width) // 3
    control = np.array([centre + reach, [centre[0] + reach, centre[1] - reach], centre - reach])
    shift = params["affine_shift"]
    moved = control + rng.uniform(-shift, shift, control.shape)
    # The affine map sends control points to moved points; sample the source at its inverse.
    inverse = _affine_from_points(moved, control)
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    source_x = inverse[0, 0] * cols + inverse[0, 1] * rows + inverse[0, 2]
    source_y = inverse[1, 0] * cols + inverse[1, 1] * rows + inverse[1, 2]
    warped = _per_channel(image, lambda channel: ndimage.map_coordinates(
        channel, [source_y, source_x], order=1, mode="mirror"))
    smoothing, strength = params["smoothing"], params["strength"]
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, (height, width)), smoothing,
                                 mode="reflect", truncate=3.0) * strength
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, (height, width)), smoothing,
                                 mode="reflect", truncate=3.0) * strength
    return _per_channel(warped, lambda channel: ndimage.map_coordinates(
        channel, [rows + dy, cols + dx], order=1, mode="reflect"))


def _pixelate_parameters(severity: int, side: int) -> Params:
    # Relative to the image side, so no scaling: a 64-pixel view goes down to 38, 32, 25, 19, 16.
    return {"scale": (0.6, 0.5, 0.4, 0.3, 0.25)[severity - 1]}


def _jpeg_compression_parameters(severity: int, side: int) -> Params:
    return {"quality": (25, 18, 15, 10, 7)[severity - 1]}


# ----------------------------------------------------------------------------- albumentations

def _albumentations():
    """albumentations, imported on first use without its version check (no network at run time)."""
    os.environ["NO_ALBUMENTATIONS_UPDATE"] = "1"
    import albumentations
    return albumentations


def _albumentations_transform(name: str, params: Params):
    albumentations = _albumentations()
    if name == "gaussian_noise":
        sigma = params["sigma"]
        return albumentations.GaussNoise(std_range=(sigma, sigma), mean_range=(0.0, 0.0),
                                         per_channel=True, p=1.0)
    if name == "glass_blur":
        return albumentations.GlassBlur(sigma=params["sigma"], max_delta=params["max_delta"],
                                        iterations=params["iterations"], mode="exact", p=1.0)
    if name == "zoom_blur":
        return albumentations.ZoomBlur(max_factor=(params["max_factor"],) * 2,
                                       step_factor=(params["step"],) * 2, p=1.0)
    if name == "gaussian_blur":
        sigma = params["sigma"]
        return albumentations.GaussianBlur(blur_limit=0, sigma_limit=(sigma, sigma), p=1.0)
    if name == "jpeg_compression":
        quality = params["quality"]
        return albumentations.ImageCompression(quality_range=(quality, quality),
                                               compression_type="jpeg", p=1.0)
    if name == "pixelate":
        import cv2  # installed with albumentations

        scale = params["scale"]
        box = {"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_AREA}
        return albumentations.Downscale(scale_range=(scale, scale), interpolation_pair=box,
                                        p=1.0)
    raise AssertionError(f"{name} is not an albumentations corruption")


def _apply_albumentations(name: str) -> Callable[[np.ndarray, Params, np.random.Generator],
                                                 np.ndarray]:
    def apply(image: np.ndarray, params: Params, rng: np.random.Generator) -> np.ndarray:
        transform = _albumentations_transform(name, params)
        transform.set_random_seed(int(rng.integers(2 ** 31)))
        return transform(image=image)["image"]
    return apply


# ----------------------------------------------------------------------------- registry

_REGISTRY: Mapping[str, _Corruption] = MappingProxyType({
    "gaussian_noise": _Corruption(_gaussian_noise_parameters,
                                  _apply_albumentations("gaussian_noise"), True),
    "shot_noise": _Corruption(_shot_noise_parameters, _shot_noise, True),
    "impulse_noise": _Corruption(_impulse_noise_parameters, _impulse_noise, True),
    "speckle_noise": _Corruption(_speckle_noise_parameters, _speckle_noise, True),
    "defocus_blur": _Corruption(_defocus_blur_parameters, _defocus_blur, False),
    "glass_blur": _Corruption(_glass_blur_parameters, _apply_albumentations("glass_blur"), True),
    "motion_blur": _Corruption(_motion_blur_parameters, _motion_blur, True),
    "zoom_blur": _Corruption(_zoom_blur_parameters, _apply_albumentations("zoom_blur"), False),
    "gaussian_blur": _Corruption(_gaussian_blur_parameters,
                                 _apply_albumentations("gaussian_blur"), False),
    "snow": _Corruption(_snow_parameters, _snow, True),
    "frost": _Corruption(_frost_parameters, _frost, True),
    "fog": _Corruption(_fog_parameters, _fog, True),
    "spatter": _Corruption(_spatter_parameters, _spatter, True),
    "brightness": _Corruption(_brightness_parameters, _brightness, False),
    "contrast": _Corruption(_contrast_parameters, _contrast, False),
    "saturate": _Corruption(_saturate_parameters, _saturate, False),
    "elastic_transform": _Corruption(_elastic_transform_parameters, _elastic_transform, True),
    "pixelate": _Corruption(_pixelate_parameters, _apply_albumentations("pixelate"), False),
    "jpeg_compression": _Corruption(_jpeg_compression_parameters,
                                    _apply_albumentations("jpeg_compression"), False),
})

SEEDED_CORRUPTIONS: tuple[str, ...] = tuple(name for name in CORRUPTIONS
                                            if _REGISTRY[name].seeded)


def _check_name(name: str) -> _Corruption:
    if name not in _REGISTRY:
        raise ValueError(f"unknown corruption {name!r}; expected one of {', '.join(CORRUPTIONS)}")
    return _REGISTRY[name]


def _check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) \
            or severity not in SEVERITIES:
        raise ValueError(f"severity must be an integer in 1..5, got {severity!r}")
    return int(severity)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def corruption_parameters(name: str, severity: int, image_size: int = 64) -> Params:
    """The parameters `corrupt` uses for `name` at `severity` on images `image_size` pixels wide
    (the shorter side); spatial sizes are in pixels of that image."""
    corruption = _check_name(name)
    return corruption.parameters(_check_severity(severity), int(image_size))


def severity_runs(name: str) -> tuple[tuple[int, ...], ...]:
    """Runs of severities along which corruption `name` gets stronger: all five, except where
    the paper's levels change kind (spatter: water then mud; saturate: less then more)."""
    _check_name(name)
    return _SEVERITY_RUNS.get(name, (SEVERITIES,))


def image_rng(seed: int, name: str, index: int) -> np.random.Generator:
    """The random stream of image `index` of a batch corrupted with `name` and `seed`."""
    return np.random.default_rng([seed, zlib.crc32(name.encode()), index])


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Apply corruption `name` at `severity` (1..5) to a batch (N, 3, H, W) of images in [0, 1].

    Returns float32 images of the same shape in [0, 1], on the input's device. The same seed
    gives the same output; see `SEEDED_CORRUPTIONS` for the ones that depend on it.
    """
    corruption = _check_name(name)
    severity = _check_severity(severity)
    seed = _check_seed(seed)
    check_each_image(images)
    height, width = images.shape[-2:]
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ValueError(f"images must be at least {MIN_IMAGE_SIDE} pixels on each side, got "
                         f"{height}x{width}")
    params = corruption.parameters(severity, min(height, width))
    batch = images.detach().to("cpu", torch.float32).numpy()
    corrupted = np.empty(batch.shape, dtype=np.float32)
    for index, image in enumerate(batch):
        result = corruption.apply(np.ascontiguousarray(image.transpose(1, 2, 0)), params,
                                  image_rng(seed, name, index))
        corrupted[index] = np.clip(result, 0.0, 1.0).transpose(2, 0, 1)
    return torch.from_numpy(corrupted).to(images.device)
