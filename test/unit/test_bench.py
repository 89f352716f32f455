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
