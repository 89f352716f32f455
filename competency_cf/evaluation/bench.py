"""`make bench`: counterfactual methods, tuned defaults vs the paper code's settings, side by side.

Every image is processed alone (batch 1), as on the robot, so per-image times are real latencies;
both configurations run in the same process on the same images, and ratios are reported.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.competency.examples import ExampleSet
from competency_cf.competency.parce import ParceEstimator
from competency_cf.counterfactual.methods import METHODS, build_method
from competency_cf.data.causes import CAUSES

ONE_SHOT = ("Reco", "LNN")


@dataclass
class BenchRow:
    method: str
    config: str
    images: int
    success_rate: float
    median_ms: float
    p90_ms: float


def per_cause_subset(examples: ExampleSet, per_cause: int) -> torch.Tensor:
    index = np.concatenate([np.flatnonzero(examples.causes == cause)[:per_cause]
                            for cause in CAUSES])
    return examples.images[index]


def time_method(method, images: torch.Tensor) -> tuple[list[float], float]:
    """Per-image wall times (ms) at batch 1, and the success rate."""
    method.generate(images[:1])  # warm-up: first-call allocations are not a robot's steady state
    times, successes = [], 0
    for image in images:
        started = time.perf_counter()
        result = method.generate(image.unsqueeze(0))
        times.append((time.perf_counter() - started) * 1000.0)
        successes += int(result.success[0])
    return times, successes / len(images)


def bench_counterfactuals(estimator: ParceEstimator, examples: ExampleSet,
                          calibration_images: torch.Tensor, per_cause: int = 10,
                          methods: tuple[str, ...] = METHODS) -> list[BenchRow]:
    images = per_cause_subset(examples, per_cause)
    rows = []
    runs = [(m, c) for m in methods for c in (("default",) if m in ONE_SHOT
                                              else ("default", "reference"))]
    for name, config in tqdm(runs, desc="bench", unit="run"):
        method = build_method(name, estimator, config=config,
                              calibration_images=calibration_images)
        times, success = time_method(method, images)
        rows.append(BenchRow(name, config, len(images), success, statistics.median(times),
                             float(np.percentile(times, 90))))
    return rows


def format_bench(rows: list[BenchRow], domain: str) -> str:
    by_key = {(row.method, row.config): row for row in rows}
    lines = [f"# Counterfactual bench: {domain} (batch 1, CPU, "
             f"{torch.get_num_threads()} threads)", "",
             "| method | success default | success reference | median ms default | "
             "median ms reference | reference / default (median time) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for method in dict.fromkeys(row.method for row in rows):
        default, reference = by_key.get((method, "default")), by_key.get((method, "reference"))
        ratio = (f"{reference.median_ms / default.median_ms:.1f}x"
                 if reference and default.median_ms > 0 else "-")
        lines.append(
            f"| {method} | {default.success_rate:.1%} | "
            f"{f'{reference.success_rate:.1%}' if reference else '-'} | "
            f"{default.median_ms:.2f} | {f'{reference.median_ms:.2f}' if reference else '-'} | "
            f"{ratio} |")
    return "\n".join(lines) + "\n"


def save_bench(rows: list[BenchRow], domain: str, directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    text = format_bench(rows, domain)
    (directory / f"bench_counterfactuals_{domain}.md").write_text(text)
    (directory / f"bench_counterfactuals_{domain}.json").write_text(
        json.dumps([asdict(row) for row in rows], indent=2) + "\n")
    return text
