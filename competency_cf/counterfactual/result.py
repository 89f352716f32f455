"""What every counterfactual method returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class CounterfactualResult:
    """Counterfactuals for a batch, one entry per input image.

    `success` is competency >= threshold; `iterations` is 0 for one-shot methods; `seconds` is the
    wall time of the whole batch.
    """

    method: str
    images: torch.Tensor        # (N, 3, H, W) float32 in [0, 1]
    competency: torch.Tensor    # (N,)
    success: torch.Tensor       # (N,) bool
    iterations: torch.Tensor    # (N,) int64
    seconds: float

    @classmethod
    def concatenate(cls, parts: list["CounterfactualResult"]) -> "CounterfactualResult":
        """One result from consecutive batches of the same method (times add up)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        return cls(parts[0].method, torch.cat([p.images for p in parts]),
                   torch.cat([p.competency for p in parts]),
                   torch.cat([p.success for p in parts]),
                   torch.cat([p.iterations for p in parts]), sum(p.seconds for p in parts))

    def __len__(self) -> int:
        return len(self.images)

    @property
    def success_rate(self) -> float:
        return float(self.success.float().mean()) if len(self) else float("nan")

    @property
    def seconds_per_image(self) -> float:
        return self.seconds / len(self) if len(self) else float("nan")
