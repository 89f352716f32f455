"""Shared fixtures: a tiny classifier + autoencoder trained in seconds on tinted ramps, and
node processes started and cleaned up for multi-process tests."""

import dataclasses
import os
import signal
import subprocess
import sys

import pytest
import torch

from competency_cf.competency.parce import ParceEstimator
from competency_cf.data.dataset import ImageSet
from competency_cf.networks.autoencoder import ConvAutoencoder
from competency_cf.networks.classifier import ConvClassifier
from competency_cf.networks.training import train_autoencoder, train_classifier
from tiny_data import class_images


@pytest.fixture(scope="module")
def trained():
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


@pytest.fixture
def descriptor_explainer(setup):
    """A descriptor explainer fitted on the fixture (arbitrary labels: for plumbing, not
    accuracy)."""
    from competency_cf.explain.descriptor_explainer import (LABELS, DescriptorExplainer,
                                                            DescriptorFeatures)

    estimator, calibration, _ = setup
    with torch.no_grad():
        features = DescriptorFeatures().fit(calibration, estimator.autoencoder(calibration))
    labels = torch.arange(len(calibration)) % len(LABELS)
    return DescriptorExplainer(features).fit(calibration, labels, [calibration.flip(-1)])


class Processes:
    """Python child processes with this environment (loopback DDS, domain id)."""

    PERCEPTION = ("-c", "from competency_cf.ros.pipeline import perception_main; "
                  "raise SystemExit(perception_main())", "--ros-args")

    def __init__(self):
        self.started = []

    def python(self, *args) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
        self.started.append(process)
        return process

    def perception(self, *parameters: str) -> subprocess.Popen:
        """The perception node alone; `parameters` as NAME:=VALUE."""
        return self.python(*self.PERCEPTION, *[arg for p in parameters for arg in ("-p", p)])

    @staticmethod
    def interrupt(process, timeout: float = 30.0) -> str:
        """Ctrl-C, as a user would; killed when it does not end in `timeout`. Its output."""
        process.send_signal(signal.SIGINT)
        try:
            return process.communicate(timeout=timeout)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            return process.communicate()[0]


@pytest.fixture
def processes():
    started = Processes()
    yield started
    for process in started.started:
        if process.poll() is None:
            process.kill()
            process.communicate()
