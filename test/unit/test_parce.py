import numpy as np
import pytest
import torch

from competency_cf.competency.parce import (Z_STAR_GRID, ParceCalibration, ParceEstimator,
                                            competency_numpy, load_estimator, PARCE_JSON)
from competency_cf.networks.autoencoder import ConvAutoencoder
from competency_cf.networks.classifier import ConvClassifier
from competency_cf.networks.store import DomainModels, save_models


@pytest.fixture
def estimator():
    torch.manual_seed(0)
    classifier = ConvClassifier(3, channels=(4, 8), feature_dim=8)
    autoencoder = ConvAutoencoder(16, channels=(4, 8), latent_dim=6)
    return ParceEstimator(classifier, autoencoder).eval()


@pytest.fixture
def calibration_data():
    generator = torch.Generator().manual_seed(1)
    return torch.rand((30, 3, 16, 16), generator=generator), torch.arange(30) % 3


def test_formula_against_hand_computation():
    calibration = ParceCalibration(mu=[1.0, 2.0], sigma=[0.5, 1.0], z_star=0.5)
    probabilities = np.array([[0.8, 0.2]])
    loss = 2.5
    from scipy.stats import norm
    p_id = (0.8 * (1 - norm.cdf((loss - 2.0) / 0.5 - 0.5))
            + 0.2 * (1 - norm.cdf((loss - 4.0) / 1.0 - 0.5)))
    expected = 0.8 * p_id
    computed = competency_numpy(probabilities, [loss], calibration)[0]
    assert computed == pytest.approx(expected, rel=1e-12)


def test_fit_chooses_grid_z_star_matching_accuracy(estimator, calibration_data):
    images, labels = calibration_data
    estimator.fit(images, labels)
    calibration = estimator.calibration
    assert calibration.z_star in Z_STAR_GRID
    probabilities, losses = estimator.network_outputs(images)
    probabilities, losses = probabilities.detach().numpy(), losses.detach().numpy()
    accuracy = (probabilities.argmax(1) == labels.numpy()).mean()
    assert calibration.calibration_accuracy == pytest.approx(accuracy)
    gaps = [abs(competency_numpy(probabilities, losses, calibration, z).mean() - accuracy)
            for z in Z_STAR_GRID]
    assert abs(calibration.calibration_mean_competency - accuracy) == pytest.approx(min(gaps))
    for label in range(3):
        own = losses[labels.numpy() == label]
        assert calibration.mu[label] == pytest.approx(own.mean(), rel=1e-5)
        assert calibration.sigma[label] == pytest.approx(own.std(ddof=1), rel=1e-4)


def test_numpy_and_torch_paths_agree(estimator, calibration_data):
    images, labels = calibration_data
    estimator.fit(images, labels)
    probabilities, losses = estimator.network_outputs(images)
    via_numpy = estimator.score_numpy(probabilities.detach().numpy(), losses.detach().numpy())
    via_torch = estimator.score(images).detach().numpy()
    assert np.allclose(via_numpy, via_torch, atol=1e-5)
    result = estimator.evaluate(images, batch_size=7)
    assert np.allclose(result.competency.numpy(), via_torch, atol=1e-6)
    assert torch.equal(result.prediction, probabilities.argmax(1))


def test_gradient_flows_to_pixels_and_latents(estimator, calibration_data):
    images, labels = calibration_data
    estimator.fit(images, labels)
    x = images[:4].clone().requires_grad_(True)
    estimator.score(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    z = estimator.autoencoder.encode(images[:4]).detach().requires_grad_(True)
    estimator.score(estimator.autoencoder.decode(z)).sum().backward()
    assert z.grad.abs().sum() > 0


def test_competency_falls_with_reconstruction_loss():
    calibration = ParceCalibration(mu=[0.01, 0.01], sigma=[0.002, 0.002], z_star=1.0)
    probabilities = np.array([[0.99, 0.01]] * 3)
    values = competency_numpy(probabilities, [0.01, 0.03, 0.1], calibration)
    assert values[0] > 0.97 and values[0] > values[1] > values[2] and values[2] < 0.01


def test_unfitted_and_bad_inputs_raise(estimator, calibration_data):
    images, labels = calibration_data
    with pytest.raises(RuntimeError, match="not calibrated"):
        estimator.score(images)
    estimator.fit(images, labels)
    with pytest.raises(ValueError, match="shape"):
        estimator.evaluate(images[0])
    with pytest.raises(ValueError, match="NaN"):
        estimator.evaluate(torch.full((1, 3, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="at least 2"):
        ParceEstimator(estimator.classifier, estimator.autoencoder).fit(images[:4], labels[:4])
    with pytest.raises(ValueError, match="threshold"):
        ParceCalibration(mu=[1.0], sigma=[1.0], z_star=0.0, threshold=1.5)


def test_calibration_file_round_trip_and_errors(tmp_path, estimator, calibration_data):
    images, labels = calibration_data
    estimator.fit(images, labels, threshold=0.8)
    save_models(tmp_path, DomainModels(estimator.classifier, estimator.autoencoder,
                                       ("a", "b", "c"), 16, {}), {})
    estimator.calibration.save(tmp_path / PARCE_JSON)
    loaded = load_estimator(tmp_path)
    assert loaded.threshold == 0.8
    assert torch.allclose(loaded.score(images), estimator.score(images), atol=1e-6)
    (tmp_path / PARCE_JSON).write_text('{"mu": [1.0]}')
    with pytest.raises(ValueError, match="parce.json: invalid"):
        load_estimator(tmp_path)
    # Statistics for a classifier with another number of classes: refused, file named.
    ParceCalibration(mu=[1.0] * 4, sigma=[1.0] * 4, z_star=1.0).save(tmp_path / PARCE_JSON)
    with pytest.raises(ValueError, match="parce.json: calibration has 4 classes"):
        load_estimator(tmp_path)
