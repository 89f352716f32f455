"""Training loops for the classifier and the autoencoder (CPU-friendly, seeded, with progress)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from competency_cf.data.dataset import ImageSet
from competency_cf.networks.autoencoder import ConvAutoencoder
from competency_cf.networks.classifier import ConvClassifier


@dataclass
class TrainingHistory:
    """Mean training loss per epoch (and accuracy for the classifier)."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)


def _batches(count: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(count, generator=generator)
    for start in range(0, count, batch_size):
        yield order[start:start + batch_size]


def _one_cycle_schedule(optimizer, steps: int):
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=optimizer.defaults["lr"],
                                               total_steps=max(steps, 1), pct_start=0.15)


def train_classifier(model: ConvClassifier, data: ImageSet, *, epochs: int = 20,
                     batch_size: int = 64, lr: float = 3e-3, seed: int = 0,
                     show_progress: bool = True) -> TrainingHistory:
    """Cross-entropy training with small random shifts so the network learns shapes, not pixels."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * -(-len(data) // batch_size)
    schedule = _one_cycle_schedule(optimizer, steps)
    history = TrainingHistory()
    model.train()
    with tqdm(total=steps, desc="classifier", unit="batch", disable=not show_progress) as bar:
        for _ in range(epochs):
            total_loss, correct = 0.0, 0
            for index in _batches(len(data), batch_size, generator):
                images = _random_shift(data.images[index], generator)
                labels = data.labels[index]
                logits = model(images)
                loss = F.cross_entropy(logits, labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total_loss += loss.item() * len(index)
                correct += (logits.argmax(1) == labels).sum().item()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
            history.loss.append(total_loss / len(data))
            history.accuracy.append(correct / len(data))
    model.eval()
    return history


def train_autoencoder(model: ConvAutoencoder, data: ImageSet, *, epochs: int = 25,
                      batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                      show_progress: bool = True) -> TrainingHistory:
    """Mean-squared reconstruction training on in-distribution images only."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    steps = epochs * -(-len(data) // batch_size)
    schedule = _one_cycle_schedule(optimizer, steps)
    history = TrainingHistory()
    model.train()
    with tqdm(total=steps, desc="autoencoder", unit="batch", disable=not show_progress) as bar:
        for _ in range(epochs):
            total_loss = 0.0
            for index in _batches(len(data), batch_size, generator):
                images = data.images[index]
                loss = F.mse_loss(model(images), images)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total_loss += loss.item() * len(index)
                bar.update(1)
                bar.set_postfix(mse=f"{loss.item():.5f}")
            history.loss.append(total_loss / len(data))
    model.eval()
    return history


def _random_shift(images: torch.Tensor, generator: torch.Generator,
                  max_shift: int = 3) -> torch.Tensor:
    """Translate the whole batch by a few pixels (edge-replicated) for translation robustness."""
    dx, dy = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    padded = F.pad(images, (max_shift,) * 4, mode="replicate")
    height, width = images.shape[-2:]
    top, left = max_shift + dy, max_shift + dx
    return padded[..., top:top + height, left:left + width]
