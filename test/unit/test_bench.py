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


def test_time_method_measures_every_image(setup):
    estimator, _, batch = setup
    times, success = time_method(build_method("Reco", estimator), batch)
    assert len(times) == len(batch) and all(t > 0 for t in times)
    assert success == float(build_method("Reco", estimator).generate(batch).success.float().mean())


def test_time_batched_is_per_processed_image(setup):
    estimator, _, batch = setup
    assert time_batched(build_method("Reco", estimator), batch, batch_size=3) > 0


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
    onnx = OnnxCompetency(export_onnx(estimator, tmp_path / "g.onnx", 64), estimator.calibration)
    rows = bench_perception({"torch": estimator, "onnx": onnx}, 64, frames=5, source=(48, 80))
    assert [row.backend for row in rows] == ["torch", "onnx"]
    assert all(row.frames == 5 and row.fps > 0 and row.p50_ms <= row.p99_ms for row in rows)
    assert "onnx / torch frames per second" in format_perception_bench(rows)
