"""The command-line demo: score clean, degraded and anomalous images and print competency."""

from __future__ import annotations

from pathlib import Path

import torch

from competency_cf.competency.examples import degraded
from competency_cf.competency.parce import load_estimator
from competency_cf.data.causes import DEGRADATIONS
from competency_cf.data.domains import Domain
from competency_cf.data.synthesize import render_sample
from competency_cf.evaluation.figures import image_grid


def _verdict(competency: float, threshold: float) -> str:
    return "competent" if competency >= threshold else "LOW"


def run_score_demo(domain: Domain, models_dir: Path, device: str = "cpu",
                   out_dir: Path = Path("demo_out"), estimator: str = "auto") -> dict:
    """Print competency for unseen clean images, every degradation factor and anomalies.

    Images are rendered with indices past the training set, so the networks never saw them. Also
    saves `<out_dir>/<domain>_competency.png`: one row per cause, captioned with competency.
    """
    estimator = load_estimator(models_dir, device, kind=estimator)
    threshold = estimator.threshold
    sample = render_sample(domain, per_class=1, ood=6, offset=domain.images_per_class)
    is_clean = sample.labels >= 0
    clean, anomalies = sample.images[is_clean], sample.images[~is_clean]
    title = f"{domain.name}: {estimator.name} competency (threshold {threshold:.2f}"
    print(f"\n{title}, models {models_dir})")

    clean_result = estimator.evaluate(clean)
    print(f"\nclean images the networks never saw:\n{'true class':<16} {'predicted':<16} "
          f"{'p_max':>6} {'p_id':>6} {'competency':>10}")
    for label, prediction, p_max, p_id, competency in zip(
            sample.labels[is_clean], clean_result.prediction, clean_result.p_max,
            clean_result.p_in_distribution, clean_result.competency):
        print(f"{domain.class_names[label]:<16} {domain.class_names[prediction]:<16} "
              f"{p_max:6.3f} {p_id:6.3f} {competency:10.3f}  {_verdict(competency, threshold)}")

    rows, captions, labels = [], [], []
    print("\none clean image per cause, degraded with each factor of the table (competency):")
    for index, cause in enumerate(DEGRADATIONS):
        source = clean[index % len(clean)].unsqueeze(0)
        images = torch.cat([degraded(source, domain, cause, f)
                            for f in range(len(domain.factors[cause]))])
        competency = estimator.evaluate(images).competency.tolist()
        cells = [f"x{factor:g}: {value:.2f}{'' if value >= threshold else '*'}"
                 for factor, value in zip(domain.factors[cause], competency)]
        print(f"  {cause:<11} " + "  ".join(cells))
        rows.append(torch.cat([source, images]))
        captions.append([f"clean {clean_result.competency[index % len(clean)]:.2f}"] +
                        [f"x{factor:g}: {value:.2f}"
                         for factor, value in zip(domain.factors[cause], competency)])
        labels.append(cause)
    print("  (* below the threshold: the perception node would ask for an explanation)")

    anomaly_result = estimator.evaluate(anomalies)
    print(f"\nspatial anomalies ({domain.ood_name}):")
    values = anomaly_result.competency.tolist()
    for number, (value, prediction) in enumerate(zip(values, anomaly_result.prediction)):
        print(f"  #{number}: predicted {domain.class_names[prediction]:<16} competency "
              f"{value:.3f}  {_verdict(value, threshold)}")
    rows.append(anomalies)
    captions.append([f"{value:.2f}" for value in values])
    labels.append("spatial")

    out_dir.mkdir(parents=True, exist_ok=True)
    figure = out_dir / f"{domain.name}_competency.png"
    image_grid(rows, figure, row_labels=labels, captions=captions,
               title=title + ")")
    print(f"wrote {figure}")
    return {"clean": clean_result.competency.tolist(), "anomalies": values}
