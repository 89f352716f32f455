"""Datasets in memory and on disk: the split convention and the two user formats.

A split is an `ImageSet`: float32 images (N, 3, H, W) in [0, 1] with int64 labels. A `DomainData`
holds train (72 %), calibration (18 %), test (10 %) and an out-of-distribution set, like the
paper's `dataset.npz` files (`{train,val,test,ood}_{data,labels}`), which load and save here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SPLIT_FRACTIONS = {"train": 0.72, "calibration": 0.18, "test": 0.10}
# The paper code's file names the calibration split "val".
_NPZ_SPLITS = {"train": "train", "calibration": "val", "test": "test", "ood": "ood"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}


def check_images(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """Raise a clear error unless `images` is a finite float tensor (N, 3, H, W) in [0, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"{what}: expected shape (N, 3, H, W), got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"{what}: expected a float tensor with values in [0, 1], "
                        f"got {images.dtype}")
    if images.numel() and not torch.isfinite(images).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    if images.numel() and (images.min() < 0.0 or images.max() > 1.0):
        raise ValueError(f"{what}: values must lie in [0, 1], got [{images.min().item():.3g}, "
                         f"{images.max().item():.3g}]")
    return images


def check_each_image(images: torch.Tensor, what: str = "images") -> torch.Tensor:
    """`check_images`, value checks one image at a time (errors name the image's index).

    Tensors of one small image keep torch on one thread, which keeps batches that are processed
    image by image in numpy fast when the cores are busy.
    """
    structure_only = images[:0] if isinstance(images, torch.Tensor) and images.ndim else images
    check_images(structure_only, what)
    for index in range(len(images)):
        check_images(images[index:index + 1], f"{what}[{index}]")
    return images


@dataclass
class ImageSet:
    """Images (N, 3, H, W) float32 in [0, 1] and their int64 labels (-1 where unknown)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self):
        check_images(self.images)
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels: expected shape ({len(self.images)},), "
                             f"got {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index) -> "ImageSet":
        return ImageSet(self.images[index], self.labels[index])


@dataclass
class DomainData:
    """The splits of one domain plus its class names."""

    class_names: tuple[str, ...]
    train: ImageSet
    calibration: ImageSet
    test: ImageSet
    ood: ImageSet

    def split(self, name: str) -> ImageSet:
        if name not in _NPZ_SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(_NPZ_SPLITS)}")
        return getattr(self, name)


def stratified_split(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Indices of train / calibration / test, 72/18/10 within every class, shuffled by `seed`."""
    rng = np.random.default_rng(seed)
    parts = {name: [] for name in SPLIT_FRACTIONS}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_train = round(len(members) * SPLIT_FRACTIONS["train"])
        n_calibration = round(len(members) * SPLIT_FRACTIONS["calibration"])
        parts["train"].append(members[:n_train])
        parts["calibration"].append(members[n_train:n_train + n_calibration])
        parts["test"].append(members[n_train + n_calibration:])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Quantise [0, 1] images to 8 bits, as a camera would deliver them."""
    return (images.clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()


def from_uint8(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).float().div_(255.0)


def save_npz(data: DomainData, path: str | Path) -> None:
    """Write the paper code's `dataset.npz` layout (float images in [0, 1], NCHW)."""
    arrays = {}
    for split, key in _NPZ_SPLITS.items():
        image_set = data.split(split)
        arrays[f"{key}_data"] = image_set.images.numpy()
        arrays[f"{key}_labels"] = image_set.labels.numpy()
    arrays["class_names"] = np.array(data.class_names)
    np.savez_compressed(path, **arrays)


def load_npz(path: str | Path, class_names: tuple[str, ...] | None = None) -> DomainData:
    """Read a `dataset.npz` with `{train,val,test,ood}_{data,labels}` (NCHW floats in [0, 1])."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset file not found: {path}")
    with np.load(path, allow_pickle=False) as arrays:
        missing = [f"{key}_{part}" for key in _NPZ_SPLITS.values() for part in ("data", "labels")
                   if f"{key}_{part}" not in arrays]
        if missing:
            raise ValueError(f"{path}: missing arrays {', '.join(missing)}")
        splits = {}
        for split, key in _NPZ_SPLITS.items():
            images = torch.from_numpy(np.asarray(arrays[f"{key}_data"], dtype=np.float32))
            labels = torch.from_numpy(np.asarray(arrays[f"{key}_labels"]).astype(np.int64))
            try:
                splits[split] = ImageSet(images, labels)
            except (ValueError, TypeError) as error:
                raise ValueError(f"{path}: {key}: {error}") from None
        if class_names is None and "class_names" in arrays:
            class_names = tuple(str(name) for name in arrays["class_names"])
    if class_names is None:
        count = int(splits["train"].labels.max()) + 1
        class_names = tuple(str(index) for index in range(count))
    return DomainData(class_names=tuple(class_names), **splits)


def _read_image(path: Path, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def _read_folder_images(folder: Path, size: int) -> list[np.ndarray]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [_read_image(path, size) for path in files]


def load_image_folder(root: str | Path, size: int = 64, seed: int = 0,
                      ood_dir: str | Path | None = None) -> DomainData:
    """Read one sub-folder of images per class (the GTSRB training layout), split 72/18/10.

    Class names are the sorted sub-folder names. Images are resized to `size` x `size`. An optional
    `ood_dir` of images (no sub-folders) becomes the out-of-distribution set.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise ValueError(f"{root}: expected one sub-folder of images per class, found none")
    images, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        found = _read_folder_images(class_dir, size)
        if not found:
            raise ValueError(f"{class_dir}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        images += found
        labels += [label] * len(found)
    all_images = from_uint8(np.stack(images))
    all_labels = torch.tensor(labels, dtype=torch.int64)
    parts = stratified_split(np.asarray(labels), seed)
    splits = {name: ImageSet(all_images[idx], all_labels[idx]) for name, idx in parts.items()}
    ood_images = _read_folder_images(Path(ood_dir), size) if ood_dir is not None else []
    ood = (from_uint8(np.stack(ood_images)) if ood_images
           else torch.zeros((0, 3, size, size), dtype=torch.float32))
    splits["ood"] = ImageSet(ood, torch.full((len(ood),), -1, dtype=torch.int64))
    return DomainData(class_names=tuple(p.name for p in class_dirs), **splits)
