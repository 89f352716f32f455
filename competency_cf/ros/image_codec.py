"""sensor_msgs/Image <-> numpy without cv_bridge, and numpy <-> the package's image tensors.

Handles row padding (`step` larger than width x pixel size) and big-endian data. Encodings:
rgb8, bgr8, rgba8, bgra8, mono8, mono16 and 32FC1 (plus their 8UC*/16UC1 aliases). Anything
else raises `ImageDecodeError` with the reason, so a node can log it and skip the frame.
sensor_msgs/CompressedImage (JPEG or PNG, as image_transport's compressed plugin sends them) is
decoded with Pillow.
"""

from __future__ import annotations

import array
import sys

import numpy as np
import torch

# encoding -> (numpy dtype code, channels)
ENCODINGS: dict[str, tuple[str, int]] = {
    "rgb8": ("u1", 3), "bgr8": ("u1", 3), "rgba8": ("u1", 4), "bgra8": ("u1", 4),
    "mono8": ("u1", 1), "8UC1": ("u1", 1), "8UC3": ("u1", 3), "8UC4": ("u1", 4),
    "mono16": ("u2", 1), "16UC1": ("u2", 1), "32FC1": ("f4", 1),
}


class ImageDecodeError(ValueError):
    """A message that cannot be turned into an image (encoding, sizes, data length)."""


def decode(msg) -> np.ndarray:
    """(H, W, C) array in the message's own dtype and channel order (C = 1 for mono)."""
    if msg.encoding not in ENCODINGS:
        raise ImageDecodeError(f"unsupported encoding {msg.encoding!r}; supported: "
                               f"{', '.join(ENCODINGS)}")
    code, channels = ENCODINGS[msg.encoding]
    dtype = np.dtype(code).newbyteorder(">" if msg.is_bigendian else "<")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * dtype.itemsize
    if height < 1 or width < 1:
        raise ImageDecodeError(f"empty image {width}x{height}")
    if step < row_bytes:
        raise ImageDecodeError(f"step {step} is shorter than a row ({row_bytes} bytes)")
    # A received message's data is an array.array: read it in place instead of copying it.
    data = np.frombuffer(msg.data if isinstance(msg.data, (bytes, array.array))
                         else bytes(msg.data), dtype=np.uint8)
    if data.size < step * height:
        raise ImageDecodeError(f"{data.size} data bytes for {height} rows of {step} bytes")
    rows = data[:step * height].reshape(height, step)[:, :row_bytes]
    image = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
    return image.astype(dtype.newbyteorder("="), copy=False)


def is_compressed(msg) -> bool:
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def decode_compressed(msg) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a CompressedImage (any format Pillow reads)."""
    import io

    from PIL import Image as PILImage, UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(bytes(msg.data))) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise ImageDecodeError(f"cannot decode a compressed image (format {msg.format!r}): "
                               f"{error}") from error


def to_rgb(msg) -> np.ndarray:
    """(H, W, 3) RGB from any supported Image or a CompressedImage: uint8 as sent for 8-bit
    sources (no conversion of a large frame that is about to be resized), else float32 in
    [0, 1]."""
    if is_compressed(msg):
        return decode_compressed(msg)
    image = decode(msg)
    if msg.encoding.startswith("bgr"):
        image = image[..., [2, 1, 0] + ([3] if image.shape[-1] == 4 else [])]
    image = image[..., :3] if image.shape[-1] >= 3 else np.repeat(image, 3, axis=-1)
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return image.astype(np.float32) / 65535.0
    image = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(image, 0.0, 1.0)  # 32FC1: taken as intensities in [0, 1]


def to_rgb_float(msg) -> np.ndarray:
    """(H, W, 3) float32 RGB in [0, 1] from any supported Image or a CompressedImage."""
    image = to_rgb(msg)
    return image.astype(np.float32) / 255.0 if image.dtype == np.uint8 else image


def to_rgb8(rgb: np.ndarray) -> np.ndarray:
    """`to_rgb`'s output as uint8 (for display and re-publishing)."""
    return rgb if rgb.dtype == np.uint8 else (rgb * 255.0).round().astype(np.uint8)


def to_tensor(msg, size: int | None = None, device: str | torch.device = "cpu") -> torch.Tensor:
    """(1, 3, size, size) float32 tensor in the package convention, resized when `size` is set."""
    return rgb_to_tensor(to_rgb(msg), size, device)


def rgb_to_tensor(rgb: np.ndarray, size: int | None = None,
                  device: str | torch.device = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 RGB, or float RGB in [0, 1] -> (1, 3, size, size) float32 tensor on
    `device` (antialiased resize). The frame moves to the device first, as uint8 when it is,
    so a GPU converts and resizes it."""
    rgb = np.ascontiguousarray(rgb)
    image = torch.from_numpy(rgb if rgb.flags.writeable else rgb.copy()).to(device)
    image = image.float().div_(255.0) if image.dtype == torch.uint8 else image.float()
    image = image.permute(2, 0, 1).unsqueeze(0)
    if size is not None and tuple(image.shape[-2:]) != (size, size):
        image = torch.nn.functional.interpolate(image, size=(size, size), mode="bilinear",
                                                align_corners=False, antialias=True)
    return image.clamp(0.0, 1.0)


def encode(array: np.ndarray, encoding: str, header=None):
    """A sensor_msgs/Image from an (H, W[, C]) array whose dtype and channels fit `encoding`."""
    from sensor_msgs.msg import Image

    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported encoding {encoding!r}")
    code, channels = ENCODINGS[encoding]
    array = np.asarray(array)
    array = array[..., None] if array.ndim == 2 else array
    if array.ndim != 3 or array.shape[2] != channels:
        raise ValueError(f"{encoding} needs (H, W, {channels}) data, got {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.dtype(code))
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = int(sys.byteorder == "big")
    msg.step = int(array.shape[1] * channels * array.dtype.itemsize)
    msg.data = array.tobytes()
    return msg


def encode_compressed(array: np.ndarray, image_format: str = "jpeg", header=None):
    """A sensor_msgs/CompressedImage from an (H, W, 3) uint8 RGB array."""
    import io

    from PIL import Image as PILImage
    from sensor_msgs.msg import CompressedImage

    buffer = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).save(buffer, image_format)
    msg = CompressedImage(format=image_format, data=buffer.getvalue())
    if header is not None:
        msg.header = header
    return msg


def tensor_to_msg(image: torch.Tensor, header=None):
    """An rgb8 sensor_msgs/Image from a (3, H, W) or (1, 3, H, W) tensor in [0, 1]."""
    image = image.detach().cpu()
    image = image[0] if image.ndim == 4 else image
    array = (image.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return encode(array, "rgb8", header)
