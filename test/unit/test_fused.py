"""The fused competency estimator: formula, gradients, torch/numpy/ONNX parity, fit, files."""

import dataclasses
import json
import re
import shutil

import numpy as np
import pytest
import torch
from scipy.special import softmax
from scipy.stats import norm

from competency_cf.competency.fused import (FUSED_JSON, Z_STAR_GRID, FusedCalibration,
                                            FusedEstimator, competency_from_outputs_numpy)
from competency_cf.competency.onnx_backend import CompetencyGraph, OnnxCompetency, export_onnx
from competency_cf.competency.parce import ParceEstimator, load_estimator
from competency_cf.data.corruptions import corrupt
from competency_cf.data.domains import get_domain
from competency_cf.data.synthesize import render_sample
from competency_cf.networks.store import read_model_json
from competency_cf.resources import models_dir

PER_CLASS = 4  # rendered speed images per class: half for the fit's training split, half for
# its calibration split (few: the speed networks take tens of ms per image on a CPU)


@pytest.fixture(scope="module")
def speed():
    """The committed speed models with their committed fused calibration."""
    return load_estimator(models_dir("speed"), kind="fused")


@pytest.fixture(scope="module")
def renders():
    return render_sample(get_domain("speed"), per_class=PER_CLASS)


@pytest.fixture(scope="module")
def clean(renders):
    """One clean speed image per class."""
    return renders.images[::PER_CLASS]


@pytest.fixture(scope="module")
def mixed(clean):
    """Clean and degraded speed images."""
    few = clean[:4]
    return torch.cat([few, corrupt(few, "contrast", 4), corrupt(few, "gaussian_noise", 5)])


@pytest.fixture(scope="module")
def splits(renders):
    """(training images, labels), (calibration images, labels): alternate renders per class."""
    index = torch.arange(len(renders.images))
    train, calibration = index[index % 2 == 0], index[index % 2 == 1]
    return ((renders.images[train], renders.labels[train]),
            (renders.images[calibration], renders.labels[calibration]))


@pytest.fixture(scope="module")
def fitted(speed, splits):
    """A fused estimator fitted on the small splits, with a budget large enough to matter on
    14 calibration images."""
    (train_images, train_labels), (images, labels) = splits
    sha = read_model_json(models_dir("speed"))["sha256"]["classifier.safetensors"]
    estimator = FusedEstimator(speed.classifier, speed.autoencoder).eval()
    return estimator.fit(images, labels, train_images, train_labels, false_alarm_budget=0.1,
                         classifier_sha256=sha)


@pytest.fixture
def speed_copy(tmp_path):
    """A writable copy of the committed speed models directory."""
    return shutil.copytree(models_dir("speed"), tmp_path / "speed")


def network_outputs(estimator, images):
    """logits, reconstruction losses and features as numpy, through the exported graph's
    module."""
    with torch.no_grad():
        logits, losses, features, _ = CompetencyGraph(estimator).eval()(images)
    return logits.numpy(), losses.numpy(), features.numpy()


def edit_fused_json(directory, **changes):
    path = directory / FUSED_JSON
    content = json.loads(path.read_text())
    content.update(changes)
    path.write_text(json.dumps(content))
    return path


def test_formula_against_hand_computation():
    calibration = FusedCalibration(feature_means=[[0.0], [1.0]], feature_precision=[[1.0]],
                                   mu=[[0.0, 0.5], [0.0, 0.0]], sigma=[[1.0, 2.0], [1.0, 0.5]],
                                   z_star=1.0, floor=0.5)
    logits, loss, feature = np.array([[2.0, 0.5]]), 0.8, 3.0
    p = softmax(logits[0])
    z_reconstruction = [(np.log(loss) - 0.0) / 1.0, (np.log(loss) - 0.5) / 2.0]
    z_features = [np.log((feature - 0.0) ** 2) / 1.0, np.log((feature - 1.0) ** 2) / 0.5]
    familiar = sum(p[c] * norm.cdf(1.0 - max(z_reconstruction[c], z_features[c]))
                   for c in range(2))
    p_id = 0.5 + 0.5 * familiar
    competency, in_distribution = competency_from_outputs_numpy(logits, [loss], [[feature]],
                                                                calibration)
    assert in_distribution[0] == pytest.approx(p_id, rel=1e-9)
    assert competency[0] == pytest.approx(p.max() * p_id, rel=1e-9)
    with pytest.raises(ValueError, match="logits"):
        competency_from_outputs_numpy(np.zeros((1, 3)), [loss], [[feature]], calibration)
    with pytest.raises(ValueError, match="features"):
        competency_from_outputs_numpy(logits, [loss], [[feature, 0.0]], calibration)


def test_score_is_differentiable_with_respect_to_the_images(speed, mixed):
    images = mixed[[0, 5, 10]].clone().requires_grad_(True)  # clean, low contrast, noisy
    competency = speed.score(images)
    assert ((competency >= 0) & (competency <= 1)).all()
    competency.sum().backward()
    assert torch.isfinite(images.grad).all()
    assert (images.grad.flatten(1).abs().sum(dim=1) > 0).all()  # every image, not just one


def test_onnx_parity_on_clean_and_degraded_images(speed, mixed, tmp_path):
    onnx = OnnxCompetency(export_onnx(speed, tmp_path / "g.onnx", 64), speed)
    for images in (mixed, mixed[:1]):  # clean and degraded; a batch of one
        expected, got = speed.evaluate(images), onnx.evaluate(images)
        assert torch.allclose(got.competency, expected.competency, atol=1e-4)
        assert torch.allclose(got.p_in_distribution, expected.p_in_distribution, atol=1e-4)
        assert torch.equal(got.prediction, expected.prediction)
    assert onnx.threshold == speed.threshold


def test_torch_and_numpy_paths_agree(speed, mixed):
    competency, in_distribution = speed.competency_from_outputs(*network_outputs(speed, mixed))
    with torch.no_grad():
        scored = speed.score(mixed).numpy()
    result = speed.evaluate(mixed, batch_size=8)  # in two chunks
    assert np.allclose(competency, scored, atol=1e-5)
    assert np.allclose(result.competency.numpy(), competency, atol=1e-5)
    assert np.allclose(result.p_in_distribution.numpy(), in_distribution, atol=1e-5)
    assert torch.allclose(result.p_max * result.p_in_distribution,
                          result.competency, atol=1e-6)
    # The degraded images span the scale, so agreement is not agreement on a constant.
    assert competency.max() - competency.min() > 0.3


def test_evaluate_empty_batch_and_unfitted_estimator(speed):
    empty = speed.evaluate(torch.empty(0, 3, 64, 64))
    assert empty.competency.shape == (0,) and empty.probabilities.shape == (0, 7)
    with pytest.raises(RuntimeError, match="not calibrated"):
        FusedEstimator(speed.classifier, speed.autoencoder).score(torch.rand(1, 3, 64, 64))


def test_calibration_round_trip(fitted, speed_copy, mixed, tmp_path):
    path = tmp_path / "saved.json"
    fitted.calibration.save(path)
    loaded = FusedCalibration.load(path)
    assert dataclasses.asdict(loaded) == dataclasses.asdict(fitted.calibration)
    again = FusedEstimator(fitted.classifier, fitted.autoencoder, loaded).eval()
    with torch.no_grad():
        assert torch.equal(again.score(mixed), fitted.score(mixed))
    # Through the models directory, as the nodes load it (the fit recorded the weights' hash).
    shutil.copy(path, speed_copy / FUSED_JSON)
    from_directory = load_estimator(speed_copy, kind="fused")
    assert isinstance(from_directory, FusedEstimator)
    assert dataclasses.asdict(from_directory.calibration) == dataclasses.asdict(loaded)


def test_mismatched_or_broken_fused_json_refused_with_path(speed_copy):
    path = speed_copy / FUSED_JSON
    original = path.read_text()
    edit_fused_json(speed_copy, classifier_sha256="0" * 64)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*refit"):
        load_estimator(speed_copy, kind="fused")

    path.write_text(original)
    content = json.loads(original)
    edit_fused_json(speed_copy, feature_means=content["feature_means"][:-1])  # 6 of 7 classes
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*shape"):
        load_estimator(speed_copy, kind="fused")

    # Consistent with itself, but for 6 classes where the classifier has 7.
    path.write_text(original)
    edit_fused_json(speed_copy, feature_means=content["feature_means"][:-1],
                    mu=[row[:-1] for row in content["mu"]],
                    sigma=[row[:-1] for row in content["sigma"]])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*6 classes"):
        load_estimator(speed_copy, kind="fused")

    path.write_text(original[:-20])
    with pytest.raises(ValueError, match=re.escape(str(path)) + ": invalid"):
        load_estimator(speed_copy, kind="fused")

    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        load_estimator(speed_copy, kind="fused")


def test_calibration_for_other_class_count_refused(speed):
    calibration = speed.calibration
    wider = dataclasses.replace(calibration,
                                feature_means=calibration.feature_means * 2,
                                mu=[row * 2 for row in calibration.mu],
                                sigma=[row * 2 for row in calibration.sigma])
    with pytest.raises(ValueError, match="14 classes"):
        FusedEstimator(speed.classifier, speed.autoencoder, wider)
    with pytest.raises(ValueError, match="sigma"):
        dataclasses.replace(calibration, sigma=[[0.0] * 7, [1.0] * 7])
    for floor in (1.0, calibration.threshold):  # a file must not keep unfamiliar views above it
        with pytest.raises(ValueError, match="floor"):
            dataclasses.replace(calibration, floor=floor)
    with pytest.raises(ValueError, match="finite"):
        dataclasses.replace(calibration, z_star=float("nan"))


def test_auto_picks_fused_only_when_it_is_the_default(speed_copy):
    edit_fused_json(speed_copy, default=False)
    assert json.loads((speed_copy / FUSED_JSON).read_text())["default"] is False
    assert type(load_estimator(speed_copy, kind="auto")) is ParceEstimator
    edit_fused_json(speed_copy, default=True)
    assert type(load_estimator(speed_copy, kind="auto")) is FusedEstimator
    assert type(load_estimator(speed_copy)) is ParceEstimator  # `parce` stays the default kind
    assert type(load_estimator(speed_copy, kind="parce")) is ParceEstimator
    (speed_copy / FUSED_JSON).unlink()
    assert type(load_estimator(speed_copy, kind="auto")) is ParceEstimator
    with pytest.raises(ValueError, match="unknown estimator 'fusion'"):
        load_estimator(speed_copy, kind="fusion")


def test_fit_keeps_false_alarms_within_budget(fitted, splits):
    _, (images, labels) = splits
    calibration = fitted.calibration
    logits, losses, features = network_outputs(fitted, images)
    correct = logits.argmax(axis=1) == labels.numpy()
    assert correct.sum() >= len(images) - 1  # the committed classifier on its own domain
    p_max = softmax(logits, axis=1).max(axis=1)
    competency, _ = fitted.competency_from_outputs(logits, losses, features)
    softmax_share = (p_max[correct] < calibration.threshold).mean()
    allowed = softmax_share + calibration.false_alarm_budget + 1e-9
    assert (competency[correct] < calibration.threshold).mean() <= allowed
    assert calibration.z_star in Z_STAR_GRID
    # z* is the smallest such grid value: one step lower flags too many.
    assert calibration.z_star > 0
    lower, _ = competency_from_outputs_numpy(logits, losses, features, calibration,
                                             calibration.z_star - 0.05)
    assert (lower[correct] < calibration.threshold).mean() > allowed
    assert calibration.calibration_accuracy == pytest.approx(correct.mean())
    assert calibration.calibration_mean_competency == pytest.approx(competency.mean())
    assert calibration.calibration_images == len(images)
    for c in range(7):
        own = np.log(losses[labels.numpy() == c].astype(np.float64))
        assert calibration.mu[0][c] == pytest.approx(own.mean(), rel=1e-5, abs=1e-6)
        assert calibration.sigma[0][c] == pytest.approx(own.std(ddof=1), rel=1e-3)


def test_fitted_competency_bounds(fitted, splits, mixed):
    images = torch.cat([splits[1][0], mixed])
    result = fitted.evaluate(images)
    floor = fitted.calibration.floor
    assert ((result.competency >= 0) & (result.competency <= 1)).all()
    assert (result.competency >= floor * result.p_max - 1e-6).all()
    assert (result.competency <= result.p_max + 1e-6).all()
    assert ((result.p_in_distribution >= floor - 1e-6) & (result.p_in_distribution <= 1)).all()


def test_fit_takes_a_floor_below_the_threshold(speed, splits, mixed):
    (train_images, train_labels), (images, labels) = splits
    estimator = FusedEstimator(speed.classifier, speed.autoencoder).eval()
    for floor in (0.9, 0.95, -0.1):
        with pytest.raises(ValueError, match=r"floor must lie in \[0, threshold = 0.9\)"):
            estimator.fit(images, labels, train_images, train_labels, floor=floor)
    assert estimator.calibration is None
    estimator.fit(images, labels, train_images, train_labels, false_alarm_budget=0.1, floor=0.85)
    assert estimator.calibration.floor == 0.85
    result = estimator.evaluate(mixed)
    assert (result.p_in_distribution >= 0.85 - 1e-6).all()
    assert (result.competency >= 0.85 * result.p_max - 1e-6).all()


def test_fit_refuses_bad_labels(speed, splits):
    (train_images, train_labels), (images, labels) = splits
    estimator = FusedEstimator(speed.classifier, speed.autoencoder)
    bad = {"calibration labels: expected": (labels[:-1], train_labels),
           "calibration labels: expected .*float": (labels.float(), train_labels),
           r"calibration labels must lie in \[0, 6\]": (labels + 1, train_labels),
           "training labels must lie": (labels, train_labels - 1),
           "training labels: expected": (labels, train_labels[:, None])}
    for message, (calibration_labels, training_labels) in bad.items():
        with pytest.raises(ValueError, match=message):
            estimator.fit(images, calibration_labels, train_images, training_labels)
    with pytest.raises(ValueError, match="false_alarm_budget"):
        estimator.fit(images, labels, train_images, train_labels, false_alarm_budget=1.0)
    assert estimator.calibration is None


def test_fit_refuses_classes_with_too_few_images(speed, splits):
    (train_images, train_labels), (images, labels) = splits
    estimator = FusedEstimator(speed.classifier, speed.autoencoder)
    one_of_class_3 = (labels != 3) | (torch.arange(len(labels)) == int((labels == 3).nonzero()[0]))
    with pytest.raises(ValueError, match="class 3 has 1 calibration images"):
        estimator.fit(images[one_of_class_3], labels[one_of_class_3], train_images,
                      train_labels)
    none_of_class_5 = train_labels != 5
    with pytest.raises(ValueError, match="class 5 has no training images"):
        estimator.fit(images, labels, train_images[none_of_class_5],
                      train_labels[none_of_class_5])
    assert estimator.calibration is None


def test_unfamiliar_images_score_lower(speed, clean):
    result = speed.evaluate(torch.cat([clean, corrupt(clean, "impulse_noise", 5)]))
    p_id, competency, count = result.p_in_distribution, result.competency, len(clean)
    floor = speed.calibration.floor
    familiar = (p_id - floor) / (1.0 - floor)  # the familiarity term above the floor, in [0, 1]
    assert familiar[count:].mean() < familiar[:count].mean() - 0.4
    assert competency[count:].mean() < competency[:count].mean()
    # The floor keeps even unfamiliar images ranked by the classifier's confidence.
    assert (p_id[count:] >= floor - 1e-6).all()
