"""Convolutional autoencoder whose reconstruction loss drives PaRCE's in-distribution probability.

`encode` gives a latent vector per image (the space LGD and LNN work in), `decode` maps latents
back to images in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn


class ConvAutoencoder(nn.Module):
    """Strided-conv encoder to a `latent_dim` vector, mirrored transposed-conv decoder."""

    def __init__(self, image_size: int = 64, channels: tuple[int, ...] = (32, 64, 128, 128),
                 latent_dim: int = 128):
        super().__init__()
        downscale = 2 ** len(channels)
        if image_size % downscale:
            raise ValueError(f"image_size {image_size} must be divisible by {downscale} "
                             f"for {len(channels)} down-sampling stages")
        self.config = {"image_size": image_size, "channels": list(channels),
                       "latent_dim": latent_dim}
        self.grid = image_size // downscale
        self.bottleneck_channels = channels[-1]
        flat = channels[-1] * self.grid * self.grid

        encoder, previous = [], 3
        for width in channels:
            encoder += [nn.Conv2d(previous, width, 4, stride=2, padding=1),
                        nn.LeakyReLU(0.2, True)]
            previous = width
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), nn.Linear(flat, latent_dim))

        decoder = []
        widths = list(reversed(channels))
        for width, following in zip(widths, widths[1:] + [3]):
            decoder.append(nn.ConvTranspose2d(width, following, 4, stride=2, padding=1))
            if following != 3:
                decoder.append(nn.LeakyReLU(0.2, True))
        self.from_latent = nn.Linear(latent_dim, flat)
        self.decoder = nn.Sequential(*decoder, nn.Sigmoid())

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(images)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        grid = self.from_latent(latents).view(-1, self.bottleneck_channels, self.grid, self.grid)
        return self.decoder(torch.relu(grid))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


def reconstruction_loss(autoencoder: ConvAutoencoder, images: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared reconstruction error, shape (N,)."""
    return (autoencoder(images) - images).pow(2).flatten(1).mean(dim=1)
