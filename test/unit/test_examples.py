import numpy as np
import torch

from competency_cf.competency.examples import (ExampleSet, build_examples, degraded,
                                               first_factor_below)


def test_first_factor_in_list_order():
    competency = np.array([
        [0.95, 0.5, 0.2],   # second factor is the first below
        [0.3, 0.95, 0.1],   # first factor already below
        [0.95, 0.92, 0.91],  # never below
    ])
    assert first_factor_below(competency, 0.9).tolist() == [1, 0, -1]


def test_example_set_on_committed_speed_model(small_speed, tmp_path):
    """Every example is below threshold at its factor, and at no earlier factor of the table."""
    domain, data, estimator = small_speed
    examples = build_examples(estimator, domain, data, per_cause=3, show_progress=False)
    assert set(examples.causes) <= {"spatial", "brightness", "contrast", "saturation", "noise",
                                    "pixelation"}
    assert (examples.counts()["noise"]) == 3
    assert (examples.competency < examples.threshold).all()
    rescored = estimator.evaluate(examples.images).competency.numpy()
    assert np.allclose(rescored, examples.competency, atol=1e-5)
    for row in np.flatnonzero(examples.causes != "spatial"):
        cause, source = str(examples.causes[row]), examples.source_index[row]
        table = domain.factors[cause]
        assert examples.original_competency[row] >= examples.threshold
        for index in range(table.index(examples.factors[row])):
            earlier = degraded(data.test.images, domain, cause, index)[source:source + 1]
            assert estimator.evaluate(earlier).competency.item() >= examples.threshold
    path = tmp_path / "examples.npz"
    examples.save(path)
    loaded = ExampleSet.load(path)
    assert torch.equal(loaded.images, examples.images)
    assert list(loaded.causes) == list(examples.causes)
