"""PNG figures people look at: image grids with captions."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from competency_cf.data.causes import DEGRADATIONS, degrade
from competency_cf.data.dataset import from_uint8
from competency_cf.data.domains import Domain
from competency_cf.data.synthesize import OOD_LABEL, render_images


def image_grid(rows: Sequence[torch.Tensor], path: str | Path, *, row_labels: Sequence[str] = (),
               captions: Sequence[Sequence[str]] = (), title: str = "",
               scale: float = 1.3) -> None:
    """Save a grid: one tensor (K, 3, H, W) per row, optional row labels and per-tile captions."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), columns, squeeze=False,
                             figsize=(scale * columns + 1.2, scale * len(rows) + 0.6))
    for r, row in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(row):
                ax.imshow(row[c].permute(1, 2, 0).clamp(0, 1).cpu().numpy(),
                          interpolation="nearest")
                if r < len(captions) and c < len(captions[r]):
                    ax.set_title(captions[r][c], fontsize=7)
        if r < len(row_labels):
            axes[r][0].set_ylabel(row_labels[r], fontsize=8, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def domain_contact_sheet(domain: Domain, path: str | Path, columns: int = 8) -> None:
    """Rows: every class, the OOD set, then one row per degradation (strongest factor)."""
    def render_row(label: int) -> torch.Tensor:
        return from_uint8(render_images(domain, label, columns))

    rows = [render_row(label) for label in range(domain.num_classes)]
    labels = list(domain.class_names)
    rows.append(render_row(OOD_LABEL))
    labels.append(f"OOD: {domain.ood_name}")
    clean = torch.stack([row[0] for row in rows[:domain.num_classes]])[:columns]
    for cause in DEGRADATIONS:
        factor = domain.factors[cause][-1]
        rows.append(degrade(clean, cause, factor, reference_size=domain.pixelation_reference,
                            generator=torch.Generator().manual_seed(0)))
        labels.append(f"{cause} {factor:g}")
    image_grid(rows, path, row_labels=labels, title=f"{domain.name}: classes, OOD, degradations")
