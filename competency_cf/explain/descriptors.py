"""Image descriptors that each respond to one cause of low competency.

Brightness, contrast and saturation are measured in log space and as ratios, so each of the
package's degradations moves (before clipping) one descriptor only:

- brightness  log mean luma                  (x * f moves it by log f)
- contrast    log std(luma) - log mean luma  (blending with the mean gray moves std, not the mean)
- saturation  log mean chroma - log std(luma) (blending with the grayscale leaves luma alone);
              chroma of the 3x3-smoothed image, so channel noise does not read as colour
- noise       log median |luma - 3x3 mean(luma)| - log std(luma): a high-frequency level
              (the median over pixels ignores edges), independent of brightness and contrast
- colour noise  log median over pixels of the spread across channels of each channel's
              high-pass residual, minus log std(luma): sensor-like noise is independent per
              channel, while edges and texture of a scene change all channels together
- blockiness  among 4-pixel runs that are not flat, the fraction of neighbouring pairs that are
              identical: nearest-neighbour pixelation makes blocks constant with jumps between
              them, while dark or flat images only have identical pairs where nothing changes
- highlights, shadows  fraction of pixels clipped at white (any channel) or black (all channels)
- detail      log mean luma gradient at full resolution minus at half resolution: blur removes
              fine gradients first, noise adds them; a ratio, so brightness and contrast cancel
- veil        log of the darkest tones of the darkest channel (5th percentile of the per-pixel
              minimum over RGB) minus log mean luma: haze and fog lift the dark tones towards a
              bright airlight
- dark cells  share of grid cells much darker and flatter than the image as a whole: dirt or an
              obstruction on the lens is dark and has no texture
- hot spot    how far the brightest grid cell rises above the typical cell, as a share of the
              headroom to white: glare over-exposes one region, not the whole view

The last four measure effects beyond the paper's six causes (blur, haze, dirt on the lens,
glare); they are evidence for the explainer's heads whether or not a head has a label for them.

`spatial_concentration` measures how much of the difference between an image and its
counterfactual sits in a few cells of a grid: high for an added object, low for a global change.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from competency_cf.data.causes import grayscale

DESCRIPTORS: tuple[str, ...] = ("brightness", "contrast", "saturation", "noise", "colour_noise",
                                "blockiness", "highlights", "shadows", "detail", "veil",
                                "dark_cells", "hot_spot")

_EPS = 1e-3          # keeps logs finite on black or gray images
_EQUAL = 0.5 / 255.0  # two 8-bit values closer than this are the same value
_ACTIVE = 8.0 / 255.0  # luma range that makes a 4-pixel run "not flat"
GRID = 8             # spatial cells per side
TOP_CELLS = 4        # cells whose share of the difference makes the concentration
_FINE_EPS = 1e-4     # gradient levels are small: a smaller floor keeps the ratio scale-free
_DARK_CELL = 0.35    # a dark cell: mean and std below this share of the image's luma mean and std


def _mean3x3(planes: torch.Tensor) -> torch.Tensor:
    """Per-channel 3x3 box filter of (N, C, H, W), edges replicated."""
    return F.avg_pool2d(F.pad(planes, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def _blockiness_along_width(images: torch.Tensor,
                            luma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Identical-pair share and count of non-flat 4-pixel runs along the last axis."""
    equal = ((images[..., 1:] - images[..., :-1]).abs().amax(dim=1) < _EQUAL).float()
    runs = luma[:, 0].unfold(-1, 4, 1)
    active = ((runs.amax(dim=-1) - runs.amin(dim=-1)) > _ACTIVE).float()
    equal_share = equal.unfold(-1, 3, 1).mean(dim=-1)
    return (equal_share * active).flatten(1).sum(1), active.flatten(1).sum(1)


def _gradient_level(luma: torch.Tensor) -> torch.Tensor:
    """Mean absolute horizontal plus vertical difference of (N, 1, H, W) luma, per image."""
    return ((luma[..., 1:] - luma[..., :-1]).abs().mean(dim=(1, 2, 3))
            + (luma[..., 1:, :] - luma[..., :-1, :]).abs().mean(dim=(1, 2, 3)))


def _cell_statistics(luma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of (N, 1, H, W) luma in each GRID x GRID cell: (N, GRID**2)
    each."""
    mean = F.adaptive_avg_pool2d(luma, GRID)
    square = F.adaptive_avg_pool2d(luma * luma, GRID)
    return mean.flatten(1), (square - mean * mean).clamp_min(0.0).sqrt().flatten(1)


def _dark_cell_share(cell_mean: torch.Tensor, cell_std: torch.Tensor, mean: torch.Tensor,
                     std: torch.Tensor) -> torch.Tensor:
    """Share of cells much darker and flatter than the whole image (luma `mean`, `std`)."""
    dark = (cell_mean < _DARK_CELL * mean.unsqueeze(1)) & \
        (cell_std < _DARK_CELL * std.unsqueeze(1) + _EPS)
    return dark.float().mean(dim=1)


def _hot_spot(cell_mean: torch.Tensor) -> torch.Tensor:
    typical = cell_mean.median(dim=1).values
    return (cell_mean.amax(dim=1) - typical) / (1.0 - typical + _EPS)


def describe(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) images in [0, 1] -> (N, len(DESCRIPTORS)) descriptor values."""
    luma = grayscale(images)
    mean = luma.mean(dim=(1, 2, 3))
    std = luma.std(dim=(1, 2, 3))
    smooth = _mean3x3(images)
    high_pass = images - smooth
    # Spread across the three channels, written out: torch's std over dim 1 is slow on CPU.
    spread = (high_pass - high_pass.mean(dim=1, keepdim=True)).pow(2).sum(dim=1).div(2).sqrt()
    colour_residual = spread.flatten(1).median(dim=1).values
    chroma = (smooth.amax(dim=1) - smooth.amin(dim=1)).mean(dim=(1, 2))
    residual = (luma - _mean3x3(luma)).abs().flatten(1).median(dim=1).values
    equal_h, active_h = _blockiness_along_width(images, luma)
    equal_v, active_v = _blockiness_along_width(images.transpose(-1, -2), luma.transpose(-1, -2))
    blockiness = (equal_h + equal_v) / (active_h + active_v).clamp_min(1.0)
    highlights = (images.amax(dim=1) > 1.0 - _EQUAL).flatten(1).float().mean(1)
    shadows = (images.amax(dim=1) < _EQUAL).flatten(1).float().mean(1)
    # Half resolution: gradients per half-resolution pixel step, so a smooth ramp keeps its ratio.
    coarse = F.avg_pool2d(luma[..., :luma.shape[-2] // 2 * 2, :luma.shape[-1] // 2 * 2], 2)
    detail = torch.log(_gradient_level(luma) + _FINE_EPS) - torch.log(
        _gradient_level(coarse) / 2.0 + _FINE_EPS)
    darkest = images.amin(dim=1).flatten(1).quantile(0.05, dim=1)
    cell_mean, cell_std = _cell_statistics(luma)
    return torch.stack([
        torch.log(mean + _EPS),
        torch.log(std + _EPS) - torch.log(mean + _EPS),
        torch.log(chroma + _EPS) - torch.log(std + _EPS),
        torch.log(residual + _EPS) - torch.log(std + _EPS),
        torch.log(colour_residual + _EPS) - torch.log(std + _EPS),
        blockiness,
        highlights,
        shadows,
        detail,
        torch.log(darkest + _EPS) - torch.log(mean + _EPS),
        _dark_cell_share(cell_mean, cell_std, mean, std),
        _hot_spot(cell_mean),
    ], dim=1)


def difference_map(images: torch.Tensor, counterfactuals: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference per grid cell, (N, GRID, GRID)."""
    difference = (images - counterfactuals).abs().mean(dim=1, keepdim=True)
    return F.adaptive_avg_pool2d(difference, GRID).squeeze(1)


def spatial_concentration(images: torch.Tensor, counterfactuals: torch.Tensor) -> torch.Tensor:
    """Share of the difference in the TOP_CELLS busiest cells (TOP_CELLS / GRID**2 if uniform)."""
    cells = difference_map(images, counterfactuals).flatten(1)
    top = cells.topk(TOP_CELLS, dim=1).values.sum(dim=1)
    return top / cells.sum(dim=1).clamp_min(1e-8)


def busiest_region(images: torch.Tensor, counterfactuals: torch.Tensor
                   ) -> tuple[list[str], torch.Tensor]:
    """Where the difference concentrates, in words ("upper left", "centre", ...), and as
    (N, GRID, GRID) weights in [0, 1] (1: the busiest cell), per image."""
    cells = difference_map(images, counterfactuals)
    heaviest = cells.flatten(1).amax(dim=1).clamp_min(1e-8).view(-1, 1, 1)
    return region_names(cells), cells / heaviest


def region_names(cells: torch.Tensor) -> list[str]:
    """The region of each (GRID, GRID) map of weights where most of the weight lies, in words:
    the centre of its heaviest cells (those of the TOP_CELLS heaviest that weigh at least half
    the heaviest), in thirds of the view."""
    values, top = cells.flatten(1).topk(TOP_CELLS, dim=1)
    keep = (values >= 0.5 * values[:, :1]).float()
    rows = ((top // GRID).float() * keep).sum(dim=1) / keep.sum(dim=1)
    columns = ((top % GRID).float() * keep).sum(dim=1) / keep.sum(dim=1)
    names = []
    for row, column in zip(rows.tolist(), columns.tolist()):
        vertical = ("upper", "middle", "lower")[min(2, int((row + 0.5) * 3 / GRID))]
        horizontal = ("left", "centre", "right")[min(2, int((column + 0.5) * 3 / GRID))]
        if vertical == "middle" and horizontal == "centre":
            names.append("centre")
        elif vertical == "middle":
            names.append(horizontal)
        elif horizontal == "centre":
            names.append(f"{vertical} part")
        else:
            names.append(f"{vertical} {horizontal}")
    return names
