"""The one gradient loop behind IGD, FGD, LGD and the latent attack.

The variable (pixels or a latent) starts at the original and moves to raise competency, with an
optional penalty keeping it close to where it started. Batched, with per-image stopping: an image
that crosses the threshold is frozen (its variable is restored after every optimiser step, since
Adam's momentum would otherwise keep moving it) while the rest of the batch continues.
"""

from __future__ import annotations

from typing import Callable

import torch

from competency_cf.competency.parce import ParceEstimator
from competency_cf.counterfactual.config import DescentConfig

ToImages = Callable[[torch.Tensor], torch.Tensor]
Penalty = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def descend(start: torch.Tensor, to_images: ToImages, penalty: Penalty | None,
            estimator: ParceEstimator, config: DescentConfig,
            clamp_variable: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Optimise one batch; returns images, their competency and iterations used per image.

    `penalty(variable, images)` gives the (N,) distance term, weighted by `config.gamma`.
    """
    threshold = estimator.threshold
    variable = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([variable], lr=config.lr)
    count = len(variable)
    done = torch.zeros(count, dtype=torch.bool, device=variable.device)
    iterations = torch.zeros(count, dtype=torch.int64)
    best_images, best_competency = None, torch.full((count,), -1.0, device=variable.device)
    for step in range(config.max_iterations + 1):
        images = to_images(variable)
        competency = estimator.score(images)
        with torch.no_grad():
            valid = competency >= threshold
            improved = ~done & ((competency > best_competency) | valid)
            if best_images is None:
                best_images = images.detach().clone()
            best_images[improved] = images.detach()[improved]
            best_competency[improved] = competency.detach()[improved]
            if config.per_image_stopping:
                done |= valid
            elif bool(valid.all()):
                done[:] = True
        if bool(done.all()) or step == config.max_iterations:
            break
        objective = -competency
        if penalty is not None:
            objective = objective + config.gamma * penalty(variable, images)
        optimizer.zero_grad(set_to_none=True)
        objective[~done].sum().backward()
        frozen = variable.detach()[done].clone()
        optimizer.step()
        with torch.no_grad():
            variable[done] = frozen
            if clamp_variable:
                variable.clamp_(0.0, 1.0)
        iterations[(~done).cpu()] += 1
    if config.return_best:
        return best_images, best_competency.detach(), iterations
    return images.detach(), competency.detach(), iterations
