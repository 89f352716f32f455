"""Fixture images small models learn in seconds."""

import torch


def class_images(count, seed):
    """Smooth images whose tint depends on the class: learnable in a few epochs."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 3
    ramp = torch.linspace(0.2, 0.8, 64)
    images = 0.3 + 0.4 * ramp.view(1, 1, 1, 64) * torch.rand((count, 1, 1, 1), generator=generator)
    images = images.expand(count, 3, 64, 64).clone()
    images[torch.arange(count), labels] += 0.2
    images += 0.03 * torch.rand(images.shape, generator=generator)
    return images.clamp(0, 1), labels
