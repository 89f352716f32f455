"""Counterfactual methods on a tiny trained model whose threshold splits the batch."""

import pytest
import torch

from competency_cf.counterfactual.config import REFERENCE, DescentConfig, named_config
from competency_cf.counterfactual.distances import vector_distance
from competency_cf.counterfactual.methods import (METHODS, LatentNearestNeighbor, build_method)
from competency_cf.counterfactual.result import CounterfactualResult


FAST = {"max_iterations": 15, "lr": 0.05}


@pytest.mark.parametrize("name", METHODS)
def test_every_method_shape_range_and_success_flags(setup, name):
    estimator, calibration, batch = setup
    overrides = {} if name in ("Reco", "LNN") else FAST
    method = build_method(name, estimator, calibration_images=calibration, **overrides)
    result = method.generate(batch)
    assert result.method == name
    assert result.images.shape == batch.shape
    assert result.images.min() >= 0.0 and result.images.max() <= 1.0
    recomputed = estimator.evaluate(result.images).competency
    assert torch.allclose(recomputed, result.competency, atol=1e-5)
    assert torch.equal(result.success, result.competency >= estimator.threshold)
    assert result.seconds > 0 and result.iterations.shape == (len(batch),)


def test_per_image_stopping_freezes_finished_images(setup):
    estimator, _, batch = setup
    before = estimator.evaluate(batch).competency
    already_valid = before >= estimator.threshold
    assert already_valid.any() and (~already_valid).any()
    result = build_method("FGD", estimator, **FAST).generate(batch)
    assert torch.equal(result.images[already_valid], batch[already_valid])
    assert (result.iterations[already_valid] == 0).all()
    assert (result.iterations[~already_valid] > 0).all()


def test_gradient_methods_raise_competency(setup):
    estimator, _, batch = setup
    before = estimator.evaluate(batch).competency
    for name in ("IGD", "FGD", "LGD", "Attack"):
        result = build_method(name, estimator, max_iterations=40, lr=0.05).generate(batch)
        low = before < estimator.threshold
        assert (result.competency[low] > before[low]).float().mean() >= 0.5, name


def test_best_iterate_is_never_worse_than_the_start(setup):
    estimator, _, batch = setup
    start = estimator.evaluate(batch).competency
    result = build_method("IGD", estimator, max_iterations=10, lr=0.5).generate(batch)
    assert (result.competency >= start - 1e-6).all()


def test_reference_configuration_matches_its_definition(setup):
    assert REFERENCE == DescentConfig(lr=1e-3, gamma=0.1, max_iterations=100, batch_size=50,
                                      per_image_stopping=False, return_best=False, clamp=False)
    estimator, _, batch = setup
    result = build_method("FGD", estimator, config="reference", max_iterations=7).generate(batch)
    # The whole batch runs together: every image, valid or not, counts the same iterations.
    assert len(set(result.iterations.tolist())) == 1
    assert result.iterations[0] in (0, 7)


def test_lnn_bank_holds_only_high_competency_calibration_images(setup):
    estimator, calibration, batch = setup
    lnn = LatentNearestNeighbor(estimator).fit(calibration)
    threshold = estimator.threshold
    source_competency = estimator.evaluate(calibration).competency[lnn.bank_source_index]
    assert (source_competency >= threshold).all()
    assert len(lnn.bank_source_index) < len(calibration)
    assert (lnn.bank_competency >= threshold).all()
    # A bank member's own source image maps back to itself (distance zero under L1).
    member = calibration[lnn.bank_source_index[:1]]
    assert torch.allclose(lnn.generate(member).images, lnn.bank_images[:1], atol=1e-6)
    assert lnn.generate(batch).success.all()


def test_lnn_needs_a_bank(setup):
    estimator, _, batch = setup
    with pytest.raises(RuntimeError, match="fit"):
        LatentNearestNeighbor(estimator).generate(batch)
    with pytest.raises(ValueError, match="metric"):
        LatentNearestNeighbor(estimator, metric="hamming")


def test_vector_distances_hand_computed():
    a = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    assert torch.allclose(vector_distance(a, b, "cosine"), torch.tensor([0.0, -1.0]), atol=1e-6)
    assert torch.allclose(vector_distance(a, b, "l1"), torch.tensor([2.0, 2.0]))
    assert torch.allclose(vector_distance(a, b, "l2"), torch.tensor([2 ** 0.5, 2 ** 0.5]))
    with pytest.raises(ValueError, match="unknown distance"):
        vector_distance(a, b, "chebyshev")


def test_named_configs_and_bad_input(setup):
    assert named_config("default", "pixel").per_image_stopping
    assert named_config("default", "latent").return_best
    with pytest.raises(ValueError, match="unknown configuration"):
        named_config("fast", "pixel")
    with pytest.raises(ValueError, match="unknown method"):
        build_method("GAN", setup[0])
    with pytest.raises(ValueError, match="shape"):
        build_method("Reco", setup[0]).generate(torch.rand(3, 64, 64))


def test_gradient_methods_work_inside_no_grad(setup):
    estimator, _, batch = setup
    with torch.no_grad():
        result = build_method("LGD", estimator, **FAST).generate(batch)
    assert torch.allclose(estimator.evaluate(result.images).competency, result.competency,
                          atol=1e-5)


def test_concatenated_results_keep_order_and_add_times(setup):
    estimator, _, batch = setup
    method = build_method("Reco", estimator)
    parts = [method.generate(batch[:3]), method.generate(batch[3:])]
    whole = CounterfactualResult.concatenate(parts)
    assert len(whole) == len(batch)
    assert torch.equal(whole.images[3:], parts[1].images)
    assert whole.seconds == pytest.approx(parts[0].seconds + parts[1].seconds)
    with pytest.raises(ValueError):
        CounterfactualResult.concatenate([])


def test_time_budget_stops_descent_early_with_the_best_iterate(setup):
    estimator, _, batch = setup
    slow = {"max_iterations": 15, "lr": 1e-5}  # tiny steps: unfinished rows use every iteration
    unlimited = build_method("FGD", estimator, **slow).generate(batch)
    limited = build_method("FGD", estimator, **slow, time_budget_s=1e-6).generate(batch)
    assert int(limited.iterations.max()) <= 1 < int(unlimited.iterations.max())
    assert torch.allclose(estimator.evaluate(limited.images).competency, limited.competency,
                          atol=1e-5)
    with pytest.raises(ValueError):
        DescentConfig(time_budget_s=0.0)
