"""Image classifier with an explicit feature extractor and a logits head.

Softmax is applied outside the network, so the same module serves training (cross-entropy on
logits), PaRCE (probabilities) and feature-space counterfactuals (`features`).
"""

from __future__ import annotations

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU, then halve the resolution."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class ConvClassifier(nn.Module):
    """Small CNN sized for CPU inference: `features` -> (N, feature_dim), `head` -> logits."""

    def __init__(self, num_classes: int, channels: tuple[int, ...] = (16, 32, 64, 128),
                 feature_dim: int = 128):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.config = {"num_classes": num_classes, "channels": list(channels),
                       "feature_dim": feature_dim}
        blocks, previous = [], 3
        for width in channels:
            blocks.append(conv_block(previous, width))
            previous = width
        self.features = nn.Sequential(
            *blocks,
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(previous, feature_dim),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))
