"""The one gradient loop behind IGD, FGD, LGD and the latent attack.

The variable (pixels or a latent) starts at the original and moves to raise competency, with an
optional penalty keeping it close to where it started. Batched, with per-image stopping: an image
that crosses the threshold is frozen (its variable is restored after every optimiser step, since
Adam's momentum would otherwise keep moving it) while the rest of the batch continues.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from competency_cf.competency.parce import ParceEstimator
from competency_cf.counterfactual.config import DescentConfig

ToImages = Callable[[torch.Tensor], torch.Tensor]
# penalty(variable rows, their images, row indices) -> (rows,) distance term
Penalty = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.enable_grad()  # callers (a ROS node, an eval loop) may sit inside torch.no_grad()
def descend(start: torch.Tensor, to_images: ToImages, penalty: Penalty | None,
            estimator: ParceEstimator, config: DescentConfig,
            clamp_variable: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Optimise one batch; returns images, their competency and iterations used per image.

    With per-image stopping only the unfinished rows are forwarded, so a batch costs what its
    slowest images need, not batch size x iterations.
    """
    threshold = estimator.threshold
    deadline = (None if config.time_budget_s is None
                else time.perf_counter() + config.time_budget_s)
    variable = start.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([variable], lr=config.lr)
    count = len(variable)
    everything = torch.arange(count, device=variable.device)
    done = torch.zeros(count, dtype=torch.bool, device=variable.device)
    iterations = torch.zeros(count, dtype=torch.int64, device=variable.device)
    best_images, best_competency = None, torch.full((count,), -1.0, device=variable.device)
    for step in range(config.max_iterations + 1):
        rows = torch.nonzero(~done).flatten() if config.per_image_stopping else everything
        images = to_images(variable[rows])
        competency = estimator.score(images)
        with torch.no_grad():
            if best_images is None:
                best_images = images.detach().clone()
            valid = competency >= threshold
            improved = (competency > best_competency[rows]) | valid
            best_images[rows[improved]] = images.detach()[improved]
            best_competency[rows[improved]] = competency.detach()[improved]
            if config.per_image_stopping:
                done[rows[valid]] = True
            elif bool(valid.all()):
                done[:] = True
        if bool(done.all()) or step == config.max_iterations or \
                (deadline is not None and time.perf_counter() >= deadline):
            break
        objective = -competency
        if penalty is not None:
            objective = objective + config.gamma * penalty(variable[rows], images, rows)
        optimizer.zero_grad(set_to_none=True)
        objective.sum().backward()
        frozen = variable.detach()[done].clone()
        optimizer.step()
        with torch.no_grad():
            variable[done] = frozen  # Adam's momentum would keep moving finished rows
            if clamp_variable:
                variable.clamp_(0.0, 1.0)
        iterations[rows[~done[rows]]] += 1
    iterations = iterations.cpu()
    if config.return_best:
        return best_images, best_competency, iterations
    with torch.no_grad():
        images = to_images(variable)
        return images, estimator.score(images), iterations
