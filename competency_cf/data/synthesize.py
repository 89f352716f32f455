"""Render a built-in domain into train / calibration / test / OOD splits, deterministically.

Every image has its own random stream seeded by (domain seed, label, index), so any image can be
re-rendered alone and the result does not depend on rendering order. Rendered sets are quantised
to 8 bits (as camera frames are) and cached on disk, keyed by the renderer's source code and the
domain settings, so changing either renders afresh.
"""

from __future__ import annotations

import hashlib
import inspect
import importlib
import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.data.dataset import DomainData, ImageSet, from_uint8, stratified_split
from competency_cf.data.domains import Domain

OOD_LABEL = -1


def image_rng(domain: Domain, label: int, index: int) -> np.random.Generator:
    """The random stream of one image (`label` -1 for out-of-distribution images)."""
    return np.random.default_rng([domain.seed, label + 1, index])


def render_image(domain: Domain, label: int, index: int) -> np.ndarray:
    """One image as uint8 (3, H, W)."""
    rng = image_rng(domain, label, index)
    if label == OOD_LABEL:
        image = domain.render_ood(rng, domain.image_size)
    else:
        image = domain.render(rng, label, domain.image_size)
    return np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)


def render_images(domain: Domain, label: int, count: int, progress: tqdm | None = None,
                  offset: int = 0) -> np.ndarray:
    """Images `offset` .. `offset + count - 1` of one label, uint8 (count, 3, H, W)."""
    images = np.empty((count, 3, domain.image_size, domain.image_size), dtype=np.uint8)
    for slot in range(count):
        images[slot] = render_image(domain, label, offset + slot)
        if progress is not None:
            progress.update(1)
    return images


def cache_key(domain: Domain) -> str:
    """Hash of everything that determines the rendered pixels."""
    source = inspect.getsource(importlib.import_module(domain.renderer_module))
    settings = f"{domain.name}|{domain.image_size}|{domain.images_per_class}|" \
               f"{domain.ood_images}|{domain.seed}|{np.__version__.split('.')[0]}"
    return hashlib.sha256((source + settings).encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "competency_cf" / "datasets"


def render_domain(domain: Domain, *, cache_dir: Path | None = None, use_cache: bool = True,
                  show_progress: bool = True) -> DomainData:
    """All splits of `domain`, from the cache when it holds this exact rendering."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_file = cache_dir / f"{domain.name}-{cache_key(domain)}.npz"
    if use_cache and cache_file.is_file():
        with np.load(cache_file, allow_pickle=False) as arrays:
            images, labels, ood = arrays["images"], arrays["labels"], arrays["ood"]
    else:
        total = domain.num_classes * domain.images_per_class + domain.ood_images
        with tqdm(total=total, desc=f"rendering {domain.name}", unit="img",
                  disable=not show_progress) as progress:
            per_class = [render_images(domain, label, domain.images_per_class, progress)
                         for label in range(domain.num_classes)]
            ood = render_images(domain, OOD_LABEL, domain.ood_images, progress)
        images = np.concatenate(per_class)
        labels = np.repeat(np.arange(domain.num_classes), domain.images_per_class)
        if use_cache:
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = cache_file.with_suffix(".tmp.npz")
            np.savez(partial, images=images, labels=labels, ood=ood)
            partial.replace(cache_file)
    return _split(domain, images, labels, ood)


def _split(domain: Domain, images: np.ndarray, labels: np.ndarray, ood: np.ndarray) -> DomainData:
    images_t = from_uint8(images)
    labels_t = torch.from_numpy(labels.astype(np.int64))
    parts = stratified_split(labels, domain.seed)
    splits = {name: ImageSet(images_t[idx], labels_t[idx]) for name, idx in parts.items()}
    ood_labels = torch.full((len(ood),), OOD_LABEL, dtype=torch.int64)
    splits["ood"] = ImageSet(from_uint8(ood), ood_labels)
    return DomainData(class_names=domain.class_names, **splits)


def render_sample(domain: Domain, per_class: int, ood: int = 0, offset: int = 0) -> ImageSet:
    """A small labelled sample (no cache), e.g. for tests; `offset` picks other image indices."""
    labels = [label for label in range(domain.num_classes) for _ in range(per_class)]
    labels += [OOD_LABEL] * ood
    chunks = [render_images(domain, label, per_class, offset=offset)
              for label in range(domain.num_classes)]
    chunks.append(render_images(domain, OOD_LABEL, ood, offset=offset))
    return ImageSet(from_uint8(np.concatenate(chunks)), torch.tensor(labels, dtype=torch.int64))
