from competency_cf.counterfactual.methods import build_method
from competency_cf.evaluation.bench import BenchRow, format_bench, time_batched, time_method


def test_format_reports_reference_over_default_ratio():
    rows = [BenchRow("LGD", "default", 60, 1.0, 10.0, 20.0, 4.0),
            BenchRow("LGD", "reference", 60, 0.75, 250.0, 300.0, 200.0),
            BenchRow("Reco", "default", 60, 0.5, 2.0, 3.0, 1.0)]
    text = format_bench(rows, "lunar")
    assert ("| LGD | 100.0% | 75.0% | 10.00 | 250.00 | 25.0x | 20.00 | 300.00 | 15.0x | "
            "4.00 | 200.00 | 50.0x |") in text
    assert "| Reco | 50.0% | - | 2.00 | - | - | 3.00 | - | - | 1.00 | - | - |" in text


class _Sleeper:
    """A method that takes at least `ms_per_image` per image and succeeds on odd calls."""

    def __init__(self, ms_per_image: float):
        self.ms_per_image, self.calls = ms_per_image, 0

    def generate(self, images):
        import time
        from types import SimpleNamespace

        import torch

        self.calls += 1
        time.sleep(self.ms_per_image / 1000.0 * len(images))
        return SimpleNamespace(success=torch.full((len(images),), self.calls % 2 == 1))


def test_time_method_times_each_image_alone():
    import torch

    method = _Sleeper(ms_per_image=20.0)
    times, success = time_method(method, torch.zeros((4, 3, 8, 8)))
    # One warm-up call, then one call per image; a sleep is never shorter than asked.
    assert method.calls == 5 and len(times) == 4 and min(times) >= 20.0
    assert success == 0.5  # calls 2 and 4 fail, 3 and 5 succeed


def test_time_batched_is_per_processed_image():
    import torch

    method = _Sleeper(ms_per_image=10.0)
    per_image = time_batched(method, torch.zeros((6, 3, 8, 8)), batch_size=4)
    assert method.calls == 2 and per_image >= 10.0  # batches of 4 and 2


def test_time_method_reports_the_success_of_the_real_method(setup):
    estimator, _, batch = setup
    _, success = time_method(build_method("Reco", estimator), batch)
    assert success == float(build_method("Reco", estimator).generate(batch).success.float().mean())


def test_explainer_bench_times_each_image_alone_and_paired(setup, descriptor_explainer):
    import numpy as np

    from competency_cf.competency.examples import ExampleSet
    from competency_cf.evaluation.bench import bench_explainer, format_explainer_bench

    estimator, calibration, batch = setup
    explainer = descriptor_explainer
    causes = np.array(["spatial", "noise"] * (len(batch) // 2))
    examples = ExampleSet(batch, causes, np.ones(len(batch)), np.arange(len(batch)),
                          np.zeros(len(batch), int), np.ones(len(batch)), np.zeros(len(batch)),
                          ("a", "b", "c"), estimator.threshold)
    rows = bench_explainer(explainer, estimator, examples, calibration, per_cause=2)
    assert [row.counterfactual for row in rows] == ["None", "LNN"]
    assert all(row.images == 4 and 0 < row.median_ms <= row.p90_ms for row in rows)
    assert "| LNN |" in format_explainer_bench(rows)


def test_perception_bench_compares_backends_on_the_same_message(setup, tmp_path):
    from competency_cf.competency.onnx_backend import OnnxCompetency, export_onnx
    from competency_cf.evaluation.bench import bench_perception, format_perception_bench

    estimator = setup[0]
    onnx = OnnxCompetency(export_onnx(estimator, tmp_path / "g.onnx", 64), estimator)
    rows = bench_perception({"torch": estimator, "onnx": onnx}, 64, frames=5, source=(48, 80))
    assert [row.backend for row in rows] == ["torch", "onnx"]
    assert all(row.frames == 5 and row.fps > 0 and row.p50_ms <= row.p99_ms for row in rows)
    assert "onnx / torch frames per second" in format_perception_bench(rows)


def test_bench_report_checks_every_target_and_writes_one_file(tmp_path):
    import json

    from competency_cf.evaluation.bench import ExplainerBenchRow, PerceptionBenchRow
    from competency_cf.evaluation.bench_report import BenchReport, DomainBench, GraphBench

    rows = [BenchRow("LGD", "default", 60, 1.0, 10.0, 20.0, 4.0),
            BenchRow("LGD", "reference", 60, 0.75, 250.0, 300.0, 200.0)]
    perception = [PerceptionBenchRow("torch", 300, 100.0, 9.0, 12.0),
                  PerceptionBenchRow("onnx", 300, 180.0, 5.0, 8.0)]
    graph = GraphBench("lunar", 60, 60, 60, 0, 60, (60.0, 90.0), (80.0, 300.0), 1100.0, 0.02)
    report = BenchReport({"lunar": DomainBench(rows, [ExplainerBenchRow("None", 60, 1.0, 1.5)],
                                               perception)}, graph)
    met = {target.split(": ", 1)[-1]: ok for target, _, ok in report.checks()}
    assert met == {"perception with ONNX >= 100 frames/s (640x480 rgb8, batch 1)": True,
                   "ONNX >= 1.5x torch": True, "trigger to explanation p99 <= 250 ms": False,
                   "pipeline peak RSS without the LLM <= 1.5 GB": True}
    text = report.save(tmp_path)
    assert "| lunar: trigger to explanation p99 <= 250 ms | 300 ms | **no** |" in text
    assert "## Counterfactual methods: lunar" in text and "## End to end" in text
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["graph"]["to_explanation_ms"] == [80.0, 300.0]
    assert saved["domains"]["lunar"]["perception"][1]["fps"] == 180.0
    assert [check["met"] for check in saved["checks"]] == [True, True, False, True]


def test_camera_bench_format_reports_the_ratio_per_backend():
    from competency_cf.evaluation.bench import CameraBenchRow, format_camera_bench

    rows = [CameraBenchRow(1, "onnx", 10, 100.0, 10.0, 12.0),
            CameraBenchRow(4, "onnx", 10, 250.0, 16.0, 20.0),
            CameraBenchRow(1, "torch", 10, 40.0, 25.0, 30.0)]
    text = format_camera_bench(rows)
    assert "| 4 | onnx | 250.0 | 16.00 | 20.00 |" in text
    assert "onnx: 4 cameras / 1 camera frames per second: 2.50x" in text
    assert "torch:" not in text  # one camera count only: no ratio
