"""`make bench`: counterfactual methods, tuned defaults vs the paper code's settings, side by side.

Every image is processed alone (batch 1), as on the robot, so per-image times are real latencies;
then the same images go through in batches of 50 (as in `evaluate` and the paper's code) for the
time per processed image. Both configurations run in the same process on the same images, and
ratios are reported.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from competency_cf.competency.examples import ExampleSet
from competency_cf.competency.parce import ParceEstimator
from competency_cf.counterfactual.methods import METHODS, build_method

ONE_SHOT = ("Reco", "LNN")
BATCH_SIZE = 50


@dataclass
class BenchRow:
    method: str
    config: str
    images: int
    success_rate: float
    median_ms: float
    p90_ms: float
    batched_ms: float  # per processed image, batches of BATCH_SIZE


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


def time_batched(method, images: torch.Tensor, batch_size: int = BATCH_SIZE) -> float:
    """Wall time per processed image (ms) when fed in batches."""
    started = time.perf_counter()
    for start in range(0, len(images), batch_size):
        method.generate(images[start:start + batch_size])
    return (time.perf_counter() - started) * 1000.0 / len(images)


def bench_counterfactuals(estimator: ParceEstimator, examples: ExampleSet,
                          calibration_images: torch.Tensor, per_cause: int = 10,
                          methods: tuple[str, ...] = METHODS) -> list[BenchRow]:
    images = examples.first_per_cause(per_cause).images
    rows = []
    runs = [(m, c) for m in methods for c in (("default",) if m in ONE_SHOT
                                              else ("default", "reference"))]
    for name, config in tqdm(runs, desc="bench", unit="run"):
        method = build_method(name, estimator, config=config,
                              calibration_images=calibration_images)
        times, success = time_method(method, images)
        rows.append(BenchRow(name, config, len(images), success, statistics.median(times),
                             float(np.percentile(times, 90)), time_batched(method, images)))
    return rows


@dataclass
class ExplainerBenchRow:
    counterfactual: str
    images: int
    median_ms: float
    p90_ms: float


def bench_explainer(explainer, estimator: ParceEstimator, examples: ExampleSet,
                    calibration_images: torch.Tensor, per_cause: int = 10
                    ) -> list[ExplainerBenchRow]:
    """Explanation latency at batch 1, without and with a counterfactual (LNN's, made first)."""
    images = examples.first_per_cause(per_cause).images
    counterfactuals = build_method("LNN", estimator,
                                   calibration_images=calibration_images).generate(images).images
    rows = []
    for name, paired in (("None", None), ("LNN", counterfactuals)):
        explainer.explain(images[:1], None if paired is None else paired[:1])  # warm-up
        times = []
        for row in range(len(images)):
            started = time.perf_counter()
            explainer.explain(images[row:row + 1], None if paired is None else paired[row:row + 1],
                              name)
            times.append((time.perf_counter() - started) * 1000.0)
        rows.append(ExplainerBenchRow(name, len(images), statistics.median(times),
                                      float(np.percentile(times, 90))))
    return rows


def format_explainer_bench(rows: list[ExplainerBenchRow]) -> str:
    lines = ["", "### Descriptor explainer, batch 1 (the counterfactual is made beforehand)", "",
             "| counterfactual | median ms | p90 ms |", "| --- | --- | --- |"]
    lines += [f"| {row.counterfactual} | {row.median_ms:.2f} | {row.p90_ms:.2f} |"
              for row in rows]
    return "\n".join(lines) + "\n"


@dataclass
class PerceptionBenchRow:
    backend: str
    frames: int
    fps: float
    p50_ms: float
    p99_ms: float


def bench_perception(scorers: dict, image_size: int, frames: int = 300,
                     source: tuple[int, int] = (480, 640)) -> list[PerceptionBenchRow]:
    """Frames per second at batch 1 from an rgb8 message of `source` size (height, width):
    decode, resize to the network input, score. Same message for every backend."""
    from competency_cf.ros.image_codec import encode, to_tensor

    rng = np.random.default_rng(0)
    msg = encode(rng.integers(0, 256, (*source, 3), dtype=np.uint8), "rgb8")
    rows = []
    for name, scorer in scorers.items():
        for _ in range(10):  # warm-up
            scorer.evaluate(to_tensor(msg, image_size))
        times = []
        with torch.no_grad():
            for _ in range(frames):
                started = time.perf_counter()
                scorer.evaluate(to_tensor(msg, image_size))
                times.append((time.perf_counter() - started) * 1000.0)
        rows.append(PerceptionBenchRow(name, frames, 1000.0 / float(np.mean(times)),
                                       float(np.percentile(times, 50)),
                                       float(np.percentile(times, 99))))
    return rows


def format_perception_bench(rows: list[PerceptionBenchRow], source: str = "640x480 rgb8") -> str:
    lines = ["", f"### Perception at batch 1 ({source} message -> decode, resize, competency)",
             "",
             "| backend | frames/s | p50 ms | p99 ms |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.backend} | {r.fps:.1f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |" for r in rows]
    by_name = {r.backend: r for r in rows}
    if "torch" in by_name and "onnx" in by_name:
        lines += ["", f"onnx / torch frames per second: "
                  f"{by_name['onnx'].fps / by_name['torch'].fps:.2f}x"]
    if "onnx" in by_name and "onnx parce" in by_name:
        lines += ["", f"onnx / onnx parce frames per second (the estimator's cost over PaRCE's): "
                  f"{by_name['onnx'].fps / by_name['onnx parce'].fps:.2f}x"]
    return "\n".join(lines) + "\n"


@dataclass
class CameraBenchRow:
    cameras: int
    backend: str
    rounds: int
    fps: float          # frames scored per second, all cameras together
    round_p50_ms: float
    round_p99_ms: float


def format_camera_bench(rows: list[CameraBenchRow], source: str = "640x480 rgb8") -> str:
    lines = ["", f"### The perception node with several cameras ({source}; one round scores "
             "every camera's newest frame as one batch)", "",
             "| cameras | backend | frames/s | round p50 ms | round p99 ms |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.cameras} | {r.backend} | {r.fps:.1f} | {r.round_p50_ms:.2f} | "
              f"{r.round_p99_ms:.2f} |" for r in rows]
    for backend in dict.fromkeys(r.backend for r in rows):
        by_count = {r.cameras: r for r in rows if r.backend == backend}
        if len(by_count) > 1:
            low, high = min(by_count), max(by_count)
            lines += ["", f"{backend}: {high} cameras / {low} camera frames per second: "
                      f"{by_count[high].fps / by_count[low].fps:.2f}x"]
    return "\n".join(lines) + "\n"


def _ratio(reference: float, default: float) -> str:
    return f"{reference / default:.1f}x" if default > 0 else "-"


def format_bench(rows: list[BenchRow], domain: str) -> str:
    by_key = {(row.method, row.config): row for row in rows}
    lines = [f"## Counterfactual methods: {domain}", "",
             "Batch 1: each image alone, median and 90th percentile latency. Batched: time per "
             f"processed image in batches of {BATCH_SIZE}. Ratios are reference / default.", "",
             "| method | success default | success reference | batch-1 median ms default | "
             "reference | ratio | batch-1 p90 ms default | reference | ratio | "
             "batched ms/image default | reference | ratio |",
             "| --- |" + " --- |" * 11]
    for method in dict.fromkeys(row.method for row in rows):
        default, reference = by_key[(method, "default")], by_key.get((method, "reference"))
        cells = [f"{default.success_rate:.1%}",
                 f"{reference.success_rate:.1%}" if reference else "-"]
        for field_name in ("median_ms", "p90_ms", "batched_ms"):
            mine = getattr(default, field_name)
            theirs = getattr(reference, field_name) if reference else None
            cells += [f"{mine:.2f}", f"{theirs:.2f}" if reference else "-",
                      _ratio(theirs, mine) if reference else "-"]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
