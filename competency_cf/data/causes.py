"""The six causes of low competency and the one implementation of each image degradation.

Images follow the package convention: float32 tensors, NCHW, RGB, values in [0, 1]. Training,
example generation, the demo and the tests all degrade images through `degrade`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CAUSES: tuple[str, ...] = ("spatial", "brightness", "contrast", "saturation", "noise",
                           "pixelation")
DEGRADATIONS: tuple[str, ...] = CAUSES[1:]  # spatial anomalies are whole images, not a transform

# ITU-R BT.601 luma weights, as used by common image libraries for grayscale conversion.
_LUMA = (0.299, 0.587, 0.114)


def grayscale(images: torch.Tensor) -> torch.Tensor:
    """Luma of each pixel, shape (N, 1, H, W)."""
    weights = images.new_tensor(_LUMA).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


def adjust_brightness(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Scale intensities by `factor` (1 keeps the image)."""
    return (images * factor).clamp(0.0, 1.0)


def adjust_contrast(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with each image's mean gray level: factor 0 is flat gray, 1 keeps the image."""
    mean = grayscale(images).mean(dim=(1, 2, 3), keepdim=True)
    return (mean + factor * (images - mean)).clamp(0.0, 1.0)


def adjust_saturation(images: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend with the grayscale image: factor 0 is grayscale, 1 keeps the image."""
    gray = grayscale(images)
    return (gray + factor * (images - gray)).clamp(0.0, 1.0)


def add_uniform_noise(images: torch.Tensor, amplitude: float,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Add noise drawn uniformly from +-`amplitude` in 0-255 units, then clip."""
    noise = torch.rand(images.shape, generator=generator, dtype=images.dtype) * 2.0 - 1.0
    return (images + noise.to(images.device) * (amplitude / 255.0)).clamp(0.0, 1.0)


def pixelation_side(factor: float, reference_size: int) -> int:
    """Side length (pixels) an image is reduced to for a pixelation `factor`.

    The paper's factors are block sizes on its own image resolution. Expressing them relative to a
    `reference_size` keeps the blocks the same fraction of the image at any resolution: an image is
    reduced to round(reference_size / factor) pixels per side, whatever its own size.
    """
    return max(1, round(reference_size / factor))


def pixelate(images: torch.Tensor, factor: float, reference_size: int) -> torch.Tensor:
    """Nearest-neighbour down-scale then nearest-neighbour up-scale back to the input size."""
    height, width = images.shape[-2:]
    side = min(pixelation_side(factor, reference_size), height, width)
    small = F.interpolate(images, size=(side, side), mode="nearest")
    return F.interpolate(small, size=(height, width), mode="nearest")


def degrade(images: torch.Tensor, cause: str, factor: float, *, reference_size: int = 64,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the degradation named `cause` with strength `factor` to a batch of images."""
    if cause == "brightness":
        return adjust_brightness(images, factor)
    if cause == "contrast":
        return adjust_contrast(images, factor)
    if cause == "saturation":
        return adjust_saturation(images, factor)
    if cause == "noise":
        return add_uniform_noise(images, factor, generator)
    if cause == "pixelation":
        return pixelate(images, factor, reference_size)
    if cause == "spatial":
        raise ValueError("'spatial' is not a transform: spatial anomalies are the OOD images")
    raise ValueError(f"unknown cause {cause!r}; expected one of {', '.join(DEGRADATIONS)}")
