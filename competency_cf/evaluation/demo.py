"""The command-line demo: score clean, degraded and anomalous images and print competency."""

from __future__ import annotations

from pathlib import Path

import torch

from competency_cf.competency.parce import load_estimator
from competency_cf.data.causes import DEGRADATIONS, degrade
from competency_cf.data.domains import Domain
from competency_cf.data.synthesize import render_sample
from competency_cf.evaluation.figures import image_grid


def run_score_demo(domain: Domain, models_dir: Path, device: str = "cpu",
                   out_dir: Path = Path("demo_out"), clean_images: int = 6) -> list[dict]:
    """Print one line per scored image and save the scored images as a captioned PNG grid.

    The images are rendered with indices past the training set, so the networks never saw them.
    """
    estimator = load_estimator(models_dir, device)
    threshold = estimator.threshold
    unseen = domain.images_per_class
    sample = render_sample(domain, per_class=1, ood=2, offset=unseen)
    clean = sample.images[:domain.num_classes][:clean_images]
    clean_labels = sample.labels[:domain.num_classes][:clean_images].tolist()
    cases = [(f"clean ({domain.class_names[label]})", image.unsqueeze(0))
             for label, image in zip(clean_labels, clean)]
    # Mid-table factors: clearly visible, yet not the most extreme setting.
    for index, cause in enumerate(DEGRADATIONS):
        factors = domain.factors[cause]
        factor = factors[len(factors) // 2]
        source = clean[index % len(clean)].unsqueeze(0)
        cases.append((f"{cause} x{factor:g}", degrade(
            source, cause, factor, reference_size=domain.pixelation_reference,
            generator=torch.Generator().manual_seed(index))))
    for index, image in enumerate(sample.images[domain.num_classes:]):
        cases.append((f"spatial: {domain.ood_name} #{index}", image.unsqueeze(0)))

    images = torch.cat([image for _, image in cases])
    result = estimator.evaluate(images)
    print(f"\n{domain.name}: PaRCE competency (threshold {threshold:.2f}, models {models_dir})")
    print(f"{'image':<34} {'predicted':<16} {'p_max':>6} {'p_id':>6} {'competency':>10}  verdict")
    rows = []
    for (name, _), competency, prediction, p_max, p_id in zip(
            cases, result.competency, result.prediction, result.p_max, result.p_in_distribution):
        verdict = "competent" if competency >= threshold else "LOW -> explain"
        predicted = domain.class_names[int(prediction)]
        print(f"{name:<34} {predicted:<16} {p_max:6.3f} {p_id:6.3f} {competency:10.3f}  {verdict}")
        rows.append({"image": name, "predicted": predicted, "p_max": float(p_max),
                     "p_id": float(p_id), "competency": float(competency)})
    out_dir.mkdir(parents=True, exist_ok=True)
    figure = out_dir / f"{domain.name}_competency.png"
    columns = 6
    starts = range(0, len(images), columns)
    tiles = [images[start:start + columns] for start in starts]
    captions = [[f"{row['image'][:18]}\n{row['competency']:.2f}"
                 for row in rows[start:start + columns]] for start in starts]
    image_grid(tiles, figure, captions=captions,
               title=f"{domain.name}: competency per image (threshold {threshold:.2f})")
    print(f"wrote {figure}")
    return rows
