"""Fixtures shared by every test folder: a tiny classifier + autoencoder trained in seconds on
tinted ramps, once per test run."""

import dataclasses

import pytest
import torch

from competency_cf.competency.parce import ParceEstimator
from competency_cf.data.dataset import ImageSet
from competency_cf.networks.autoencoder import ConvAutoencoder
from competency_cf.networks.classifier import ConvClassifier
from competency_cf.networks.training import train_autoencoder, train_classifier
from tiny_data import class_images


@pytest.fixture(scope="session")
def trained():
    """Trained once per run: tests only read these networks (each test gets its own estimator
    around them through `setup`)."""
    torch.manual_seed(0)
    classifier = ConvClassifier(3, channels=(4, 8), feature_dim=8)
    autoencoder = ConvAutoencoder(64, channels=(4, 8), latent_dim=6)
    images, labels = class_images(60, seed=0)
    data = ImageSet(images, labels)
    train_classifier(classifier, data, epochs=4, batch_size=20, show_progress=False)
    train_autoencoder(autoencoder, data, epochs=6, batch_size=20, show_progress=False)
    estimator = ParceEstimator(classifier, autoencoder).eval()
    calibration, calibration_labels = class_images(30, seed=1)
    estimator.fit(calibration, calibration_labels)
    return estimator, calibration


@pytest.fixture
def setup(trained):
    """The trained fixture with a threshold at the median calibration competency."""
    estimator, calibration = trained
    competency = estimator.evaluate(calibration).competency
    threshold = float(torch.quantile(competency, 0.5))
    estimator = ParceEstimator(estimator.classifier, estimator.autoencoder,
                               dataclasses.replace(estimator.calibration, threshold=threshold))
    batch = torch.rand((8, 3, 64, 64), generator=torch.Generator().manual_seed(5)) * 0.5 + 0.25
    batch[:4] = class_images(4, seed=7)[0]
    return estimator.eval(), calibration, batch


@pytest.fixture(scope="session")
def descriptor_explainer(trained):
    """A descriptor explainer fitted on the fixture (arbitrary labels: for plumbing, not
    accuracy); fitted once per run, tests only read it."""
    from competency_cf.explain.descriptor_explainer import (LABELS, DescriptorExplainer,
                                                            DescriptorFeatures)

    estimator, calibration = trained
    with torch.no_grad():
        features = DescriptorFeatures().fit(calibration, estimator.autoencoder(calibration))
    labels = torch.arange(len(calibration)) % len(LABELS)
    return DescriptorExplainer(features).fit(calibration, labels, [calibration.flip(-1)])


@pytest.fixture(scope="session")
def small_speed(tmp_path_factory):
    """A small rendering of the speed domain (all splits) with its committed estimator,
    rendered once per run for the tests that need whole splits."""
    from competency_cf.competency.parce import load_estimator
    from competency_cf.data.domains import DOMAINS
    from competency_cf.data.synthesize import render_domain
    from competency_cf.resources import models_dir

    domain = dataclasses.replace(DOMAINS["speed"], images_per_class=12, ood_images=10)
    data = render_domain(domain, cache_dir=tmp_path_factory.mktemp("speed_cache"),
                         show_progress=False)
    return domain, data, load_estimator(models_dir("speed"))
