"""Distances between vectors (features, latents) and between images (LPIPS)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

VECTOR_DISTANCES = ("cosine", "l1", "l2")


def vector_distance(a: torch.Tensor, b: torch.Tensor, kind: str = "cosine") -> torch.Tensor:
    """Per-row distance (N,) between (N, D) tensors; "cosine" is the negative cosine similarity."""
    if kind == "cosine":
        return -F.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)
    if kind == "l1":
        return (a - b).abs().flatten(1).sum(dim=1)
    if kind == "l2":
        return (a - b).pow(2).flatten(1).sum(dim=1).sqrt()
    raise ValueError(f"unknown distance {kind!r}; expected one of {', '.join(VECTOR_DISTANCES)}")


class PerceptualDistance(torch.nn.Module):
    """LPIPS (AlexNet) between image batches in [0, 1], shape (N,).

    Pretrained AlexNet weights cannot be downloaded at run time: pass `trunk_weights` (a local
    AlexNet state dict in safetensors format) for the standard metric. Without it the trunk is
    random (`pnet_rand=True`) and only the shipped linear heads are pretrained, so distances are
    a consistent but non-standard perceptual measure; `is_standard` says which.
    """

    def __init__(self, trunk_weights: str | Path | None = None):
        super().__init__()
        import warnings

        import lpips

        with warnings.catch_warnings():  # torchvision's deprecation notice for `pretrained=`
            warnings.simplefilter("ignore", UserWarning)
            self.model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
        self.is_standard = trunk_weights is not None
        if trunk_weights is not None:
            self._load_trunk(Path(trunk_weights))
        self.model.eval().requires_grad_(False)

    def _load_trunk(self, path: Path) -> None:
        from safetensors.torch import load_file

        if not path.is_file():
            raise FileNotFoundError(f"LPIPS trunk weights not found: {path}")
        state = load_file(str(path))
        features = {key.removeprefix("features."): value for key, value in state.items()
                    if key.startswith("features.")}
        trunk = self.model.net
        # lpips keeps torchvision's layer indices in its five slices ("0.weight", "3.bias" ...).
        for block in (trunk.slice1, trunk.slice2, trunk.slice3, trunk.slice4, trunk.slice5):
            for name, parameter in block.named_parameters():
                if name not in features:
                    raise ValueError(f"{path}: missing AlexNet tensor features.{name}")
                parameter.data.copy_(features[name])

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.model(a * 2.0 - 1.0, b * 2.0 - 1.0).flatten()
