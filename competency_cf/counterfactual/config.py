"""Settings of the gradient-based methods, and the two named configurations."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class DescentConfig:
    """How a gradient method optimises.

    per_image_stopping: freeze each image once it crosses the threshold (else the batch runs until
        every image has crossed, as the paper's code does).
    return_best: return each image's best iterate (the first valid one, else the most competent)
        instead of the last.
    clamp: keep pixels in [0, 1] after every step (pixel-space methods).
    time_budget_s: stop after this much wall time (the best iterate so far is returned); None
        for no limit. A robot refining a counterfactual within a deadline sets it.
    """

    lr: float = 1e-3
    gamma: float = 0.1
    max_iterations: int = 100
    batch_size: int = 50
    per_image_stopping: bool = False
    return_best: bool = False
    clamp: bool = False
    distance: str = "cosine"
    device: str = "cpu"
    time_budget_s: float | None = None

    def __post_init__(self):
        if self.lr <= 0 or self.max_iterations < 1 or self.batch_size < 1 or self.gamma < 0 or \
                (self.time_budget_s is not None and self.time_budget_s <= 0):
            raise ValueError(f"invalid descent settings: {self}")


# The paper code's behaviour, kept for side-by-side comparison.
REFERENCE = DescentConfig()

# Tuned defaults: per-image stopping, best iterate, clamping, and per-space step sizes.
DEFAULT_PIXEL = DescentConfig(lr=5e-3, gamma=0.1, max_iterations=200, batch_size=50,
                              per_image_stopping=True, return_best=True, clamp=True)
DEFAULT_LATENT = DescentConfig(lr=2e-1, gamma=0.1, max_iterations=200, batch_size=50,
                               per_image_stopping=True, return_best=True, clamp=True)


def named_config(name: str, space: str, **overrides) -> DescentConfig:
    """`reference` or `default` settings for a method working in `space` ("pixel"/"latent")."""
    if name == "reference":
        base = REFERENCE
    elif name == "default":
        base = DEFAULT_PIXEL if space == "pixel" else DEFAULT_LATENT
    else:
        raise ValueError(f"unknown configuration {name!r}; expected 'reference' or 'default'")
    return replace(base, **overrides)
