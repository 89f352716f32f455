"""`results/bench.md` and `results/bench.json`: every `make bench` figure in one place, with the
targets of the onboard path checked at the top.

All figures come from one run on one machine, so the ratios compare like with like.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from competency_cf.evaluation.bench import (BenchRow, CameraBenchRow, ExplainerBenchRow,
                                            PerceptionBenchRow, format_bench,
                                            format_camera_bench, format_explainer_bench,
                                            format_perception_bench)
from competency_cf.evaluation.replay_bench import ReplayBenchRow, format_replay_bench

# Targets on a 2-core CPU.
PERCEPTION_ONNX_FPS = 100.0
ONNX_OVER_TORCH = 1.5
TRIGGER_TO_EXPLANATION_P99_MS = 250.0
PIPELINE_RSS_MB = 1536.0
REPLAY_REAL_TIME_FACTOR = 5.0
REPLAY_RSS_GROWTH = 1.10  # peak RSS of the longest drive over the shortest's: flat in length


@dataclass
class GraphBench:
    """End to end in the ROS graph, as `competency_cf.ros.graph_bench` measures it."""

    domain: str
    sent: int      # degraded frames sent
    fired: int     # triggers the perception node fired
    answered: int  # triggers the counterfactual node answered
    dropped: int   # triggers replaced while waiting for the counterfactual node
    triggers: int  # triggers explained
    to_counterfactual_ms: tuple[float, float]  # p50, p99
    to_explanation_ms: tuple[float, float]
    peak_rss_mb: float
    idle_cpu: float  # CPU time over wall time with no frames: 1.0 is one core busy

    def to_markdown(self) -> str:
        return "\n".join([
            "", f"## End to end in the ROS graph: {self.domain}", "",
            f"Descriptor explainer, nodes in one process. {self.sent} low-competency frames, "
            f"{self.fired} triggers, {self.answered} answered, {self.dropped} replaced while "
            f"the counterfactual node was busy, {self.triggers} explained.", "",
            "| from the trigger frame's stamp to | p50 ms | p99 ms |", "| --- | --- | --- |",
            f"| first counterfactual | {self.to_counterfactual_ms[0]:.1f} | "
            f"{self.to_counterfactual_ms[1]:.1f} |",
            f"| first explanation | {self.to_explanation_ms[0]:.1f} | "
            f"{self.to_explanation_ms[1]:.1f} |", "",
            f"Peak RSS of that process (the nodes and the benchmark's camera, no LLM): "
            f"{self.peak_rss_mb:.0f} MB; its CPU use with the nodes up and no frames: "
            f"{self.idle_cpu:.1%} of one core", ""])


@dataclass
class DomainBench:
    counterfactuals: list[BenchRow]
    explainer: list[ExplainerBenchRow]
    perception: list[PerceptionBenchRow]
    cameras: list[CameraBenchRow] = field(default_factory=list)

    def fps(self, backend: str) -> float:
        return next((row.fps for row in self.perception if row.backend == backend), float("nan"))


@dataclass
class BenchReport:
    domains: dict[str, DomainBench] = field(default_factory=dict)
    graph: GraphBench | None = None
    replay: list[ReplayBenchRow] = field(default_factory=list)
    replay_domain: str = ""

    def checks(self) -> list[tuple[str, str, bool]]:
        """(target, measured, met) for each target that this run measured."""
        rows = []
        for name, bench in self.domains.items():
            onnx, torch_fps = bench.fps("onnx"), bench.fps("torch")
            rows += [(f"{name}: perception with ONNX >= {PERCEPTION_ONNX_FPS:.0f} frames/s "
                      "(640x480 rgb8, batch 1)", f"{onnx:.0f} frames/s",
                      onnx >= PERCEPTION_ONNX_FPS),
                     (f"{name}: ONNX >= {ONNX_OVER_TORCH}x torch",
                      f"{onnx / torch_fps:.2f}x", onnx / torch_fps >= ONNX_OVER_TORCH)]
        if self.graph is not None:
            p99 = self.graph.to_explanation_ms[1]
            rows += [(f"{self.graph.domain}: trigger to explanation p99 <= "
                      f"{TRIGGER_TO_EXPLANATION_P99_MS:.0f} ms", f"{p99:.0f} ms",
                      p99 <= TRIGGER_TO_EXPLANATION_P99_MS),
                     (f"pipeline peak RSS without the LLM <= {PIPELINE_RSS_MB / 1024:.1f} GB",
                      f"{self.graph.peak_rss_mb:.0f} MB",
                      self.graph.peak_rss_mb <= PIPELINE_RSS_MB)]
        rows += self._replay_checks()
        return rows

    def _replay_checks(self) -> list[tuple[str, str, bool]]:
        if not self.replay:
            return []
        name = self.replay_domain
        rows = [(f"{name}: replay of a {r.minutes:.0f}-minute 640x480 drive >= "
                 f"{REPLAY_REAL_TIME_FACTOR:.0f}x real time", f"{r.real_time_factor:.1f}x",
                 r.real_time_factor >= REPLAY_REAL_TIME_FACTOR) for r in self.replay]
        if len(self.replay) > 1:
            short, long = self.replay[0], self.replay[-1]
            for command in ("replay", "report"):
                growth = (getattr(long, f"{command}_rss_mb")
                          / getattr(short, f"{command}_rss_mb"))
                rows.append((f"{name}: {command} peak RSS flat in drive length "
                             f"({long.minutes:.0f} min <= {REPLAY_RSS_GROWTH:.2f}x "
                             f"{short.minutes:.0f} min)", f"{growth:.2f}x",
                             growth <= REPLAY_RSS_GROWTH))
        return rows

    def to_markdown(self) -> str:
        lines = ["# Benchmarks", "",
                 f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch "
                 "threads; every figure from the same run.", "",
                 "| target | measured | met |", "| --- | --- | --- |"]
        lines += [f"| {target} | {measured} | {'yes' if met else '**no**'} |"
                  for target, measured, met in self.checks()]
        text = "\n".join(lines) + "\n"
        if self.graph is not None:
            text += self.graph.to_markdown()
        if self.replay:
            text += format_replay_bench(self.replay, self.replay_domain)
        for name, bench in self.domains.items():
            text += "\n" + format_bench(bench.counterfactuals, name)
            text += format_explainer_bench(bench.explainer)
            text += format_perception_bench(bench.perception)
            if bench.cameras:
                text += format_camera_bench(bench.cameras)
        return text

    def to_dict(self) -> dict:
        return {"checks": [{"target": t, "measured": m, "met": ok} for t, m, ok in self.checks()],
                "graph": asdict(self.graph) if self.graph is not None else None,
                "replay": {"domain": self.replay_domain,
                           "rows": [asdict(row) for row in self.replay]},
                "domains": {name: asdict(bench) for name, bench in self.domains.items()}}

    def save(self, directory: Path) -> str:
        directory.mkdir(parents=True, exist_ok=True)
        text = self.to_markdown()
        (directory / "bench.md").write_text(text)
        (directory / "bench.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return text
