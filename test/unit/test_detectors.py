"""OOD / error detectors: the fit/score contract, each formula against a direct recomputation,
and separation of a far-away cluster on a hand-built classifier."""

import numpy as np
import pytest
import torch
from torch import nn

from competency_cf.competency import detectors
from competency_cf.competency.detectors import (DETECTORS, EnergyDetector, KnnDetector,
                                                MahalanobisDetector, MaxSoftmaxDetector,
                                                ParceDetector, VimDetector, build_detector)
from competency_cf.competency.parce import ParceEstimator
from competency_cf.evaluation.metrics import auroc
from competency_cf.networks.autoencoder import ConvAutoencoder
from competency_cf.networks.classifier import ConvClassifier
from tiny_data import class_images

FEATURE_DETECTORS = [MaxSoftmaxDetector, EnergyDetector, MahalanobisDetector, KnnDetector,
                     VimDetector]
NEEDS_FIT = [MahalanobisDetector, KnnDetector, VimDetector]


class HalvesClassifier(nn.Module):
    """Hand-built classifier: features are the channel means of the left and right image halves
    (6-d, no ReLU), the logit of class c is 5 x (left + right mean of channel c)."""

    def __init__(self, bias=(0.0, 0.0, 0.0)):
        super().__init__()
        self.features = nn.Sequential(nn.AdaptiveAvgPool2d((1, 2)), nn.Flatten())
        self.head = nn.Linear(6, 3)
        weight = torch.zeros(3, 6)
        for label in range(3):
            weight[label, 2 * label] = weight[label, 2 * label + 1] = 5.0  # channel c, both halves
        with torch.no_grad():
            self.head.weight.copy_(weight)
            self.head.bias.copy_(torch.tensor(bias))

    def forward(self, images):
        return self.head(self.features(images))


def tinted(count, seed):
    """Class c: channel c bright (0.8) and the others dark (0.1) in both halves, plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 3
    images = torch.full((count, 3, 4, 4), 0.1)
    images[torch.arange(count), labels] = 0.8
    return (images + 0.05 * torch.rand(images.shape, generator=generator)).clamp(0, 1), labels


def far_away(count, seed):
    """Every channel bright on the left, dark on the right: all logits equal (an ambiguous
    prediction) and features far from every class (the halves disagree)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros((count, 3, 4, 4))
    images[..., :2] = 0.9
    return (images + 0.05 * torch.rand(images.shape, generator=generator)).clamp(0, 1)


def small_images(count, seed):
    """The fixture's tinted ramps at 16 x 16 pixels: the classifier takes any size, and small
    images keep the plumbing tests quick."""
    images, labels = class_images(count, seed)
    return images[..., ::4, ::4].contiguous(), labels


def features_of(classifier, images):
    with torch.no_grad():
        features = classifier.features(images)
        return features.double().numpy(), classifier.head(features).double().numpy()


@pytest.fixture(scope="module")
def estimator():
    """An untrained (seeded) tiny classifier and autoencoder, calibrated in a moment: enough for
    the plumbing; the formulas are checked on the hand-built classifier above."""
    torch.manual_seed(0)
    classifier = ConvClassifier(3, channels=(4, 8), feature_dim=8)
    autoencoder = ConvAutoencoder(64, channels=(4, 8), latent_dim=6)
    calibration, labels = class_images(30, seed=1)
    return ParceEstimator(classifier, autoencoder).eval().fit(calibration, labels)


@pytest.fixture
def classifier(estimator):
    return estimator.classifier


@pytest.fixture
def fit_set():
    return small_images(30, seed=11)


@pytest.mark.parametrize("detector_class", FEATURE_DETECTORS)
def test_fit_and_score_give_one_finite_score_per_image(detector_class, classifier, fit_set):
    detector = detector_class(classifier, batch_size=16).fit(*fit_set)
    images = small_images(7, seed=12)[0]
    scores = detector.score(images)
    assert scores.shape == (7,) and scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    assert detector.score(images[:0]).shape == (0,)


@pytest.mark.parametrize("detector_class", FEATURE_DETECTORS)
def test_batch_size_and_classifier_mode_do_not_change_scores(detector_class, classifier,
                                                             fit_set):
    images = small_images(9, seed=13)[0]
    reference = detector_class(classifier).fit(*fit_set).score(images)
    classifier.train()
    try:
        small_batches = detector_class(classifier, batch_size=8).fit(*fit_set).score(images)
        assert classifier.training  # the detector restored the mode it found
    finally:
        classifier.eval()
    # Convolutions batched differently round differently; Mahalanobis amplifies that along
    # directions of tiny variance.
    torch.testing.assert_close(small_batches, reference, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("detector_class", FEATURE_DETECTORS)
def test_in_distribution_scores_higher_than_a_far_away_cluster(detector_class):
    toy = HalvesClassifier()
    images, labels = tinted(60, seed=0)
    options = {"principal_dim": 3} if detector_class is VimDetector else {}
    detector = detector_class(toy, **options).fit(images, labels)
    inside = detector.score(tinted(30, seed=1)[0])
    outside = detector.score(far_away(30, seed=2))
    assert auroc(inside, outside) > 0.9


def test_msp_is_the_largest_softmax_probability(classifier):
    images = small_images(6, seed=14)[0]
    with torch.no_grad():
        expected = torch.softmax(classifier(images), dim=1).max(dim=1).values
    torch.testing.assert_close(MaxSoftmaxDetector(classifier).score(images), expected)


def test_energy_is_the_logsumexp_of_the_logits(classifier):
    images = small_images(6, seed=14)[0]
    with torch.no_grad():
        logits = classifier(images)
    torch.testing.assert_close(EnergyDetector(classifier).score(images),
                               torch.logsumexp(logits, dim=1))
    torch.testing.assert_close(EnergyDetector(classifier, temperature=2.0).score(images),
                               2.0 * torch.logsumexp(logits / 2.0, dim=1))


def test_mahalanobis_matches_a_brute_force_computation():
    classifier = HalvesClassifier()
    images, labels = tinted(30, seed=3)
    queries = torch.cat([tinted(4, seed=4)[0], far_away(2, seed=5)])
    fit_features, _ = features_of(classifier, images)
    query_features, _ = features_of(classifier, queries)
    labels_np = labels.numpy()
    means = [fit_features[labels_np == label].mean(axis=0) for label in range(3)]
    covariance = sum(np.outer(feature - means[label], feature - means[label])
                     for feature, label in zip(fit_features, labels_np)) / len(fit_features)
    precision = np.linalg.pinv(covariance, hermitian=True)
    expected = [-min((query - mean) @ precision @ (query - mean) for mean in means)
                for query in query_features]
    scores = MahalanobisDetector(classifier).fit(images, labels).score(queries)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 3])
def test_knn_matches_a_brute_force_computation(k, monkeypatch):
    classifier = HalvesClassifier()
    images, labels = tinted(30, seed=3)
    queries = torch.cat([tinted(4, seed=4)[0], far_away(2, seed=5)])
    bank, _ = features_of(classifier, images)
    query_features, _ = features_of(classifier, queries)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    query_features /= np.linalg.norm(query_features, axis=1, keepdims=True)
    expected = [-np.sort(np.linalg.norm(bank - query, axis=1))[k - 1] for query in query_features]
    detector = KnnDetector(classifier, k=k).fit(images, labels)
    np.testing.assert_allclose(detector.score(queries).numpy(), expected, rtol=1e-6)
    # A distance budget of one row at a time gives the same scores.
    monkeypatch.setattr(detectors, "KNN_DISTANCE_ENTRIES", 1)
    np.testing.assert_allclose(detector.score(queries).numpy(), expected, rtol=1e-6)


def test_vim_on_a_hand_built_case():
    # Fit features of the halves classifier: both halves agree, so with principal_dim = 3 the
    # residual of an image is its left-right disagreement. The bias moves the origin, the point
    # where every logit is 0.
    toy = HalvesClassifier(bias=(1.0, -2.0, 0.5))
    images, labels = tinted(60, seed=0)
    vim = VimDetector(toy, principal_dim=3).fit(images, labels)
    with torch.no_grad():
        torch.testing.assert_close(toy.head(vim.origin.float()), torch.zeros(3), atol=1e-5,
                                   rtol=0)
    fit_features, fit_logits = features_of(toy, images)
    shifted = fit_features - vim.origin.numpy()
    # Principal subspace from an SVD of the shifted features (same subspace as the eigenvectors
    # of their uncentred covariance, computed another way).
    _, _, right = np.linalg.svd(shifted, full_matrices=False)
    principal = right[:3].T

    def residual_norm(shifted_features):
        return np.linalg.norm(shifted_features - shifted_features @ principal @ principal.T,
                              axis=1)

    alpha = fit_logits.max(axis=1).sum() / residual_norm(shifted).sum()
    assert vim.alpha == pytest.approx(alpha, rel=1e-6)
    queries = torch.cat([tinted(3, seed=1)[0], far_away(3, seed=2)])
    features, logits = features_of(toy, queries)
    expected = np.log(np.exp(logits).sum(axis=1)) - alpha * residual_norm(
        features - vim.origin.numpy())
    np.testing.assert_allclose(vim.score(queries).numpy(), expected, rtol=1e-5, atol=1e-5)
    # The far-away images disagree between halves by about 0.9 per channel.
    assert (residual_norm(features - vim.origin.numpy())[3:] > 1.0).all()


def test_mahalanobis_and_vim_agree_with_pytorch_ood():
    # pytorch-ood 0.4.0 as an outside reference, on features without dead directions (where
    # they differ by design: see the detectors' docstrings). Its Mahalanobis outlier score is
    # half the smallest distance under the summed (not averaged) scatter matrix plus a 1e-6
    # ridge, so -2 N x its score is ours; its ViM outlier score is minus ours, in float32.
    ood = pytest.importorskip("pytorch_ood.detector")
    toy = HalvesClassifier(bias=(1.0, -2.0, 0.5))
    images, labels = tinted(60, seed=0)
    queries = torch.cat([tinted(6, seed=1)[0], far_away(3, seed=2)])
    fit_features, features = toy.features(images).detach(), toy.features(queries).detach()
    reference = ood.Mahalanobis(None).fit_features(fit_features, labels)
    ours = MahalanobisDetector(toy).fit(images, labels).score(queries)
    torch.testing.assert_close(ours, -2.0 * len(images) * reference.predict_features(features),
                               rtol=2e-3, atol=0)
    reference = ood.ViM(None, d=3, w=toy.head.weight, b=toy.head.bias)
    reference.fit_features(fit_features, labels)
    ours = VimDetector(toy, principal_dim=3).fit(images, labels).score(queries)
    torch.testing.assert_close(ours, -reference.predict_features(features), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("detector_class", NEEDS_FIT)
def test_score_before_fit_raises(detector_class, classifier):
    with pytest.raises(RuntimeError, match="fit"):
        detector_class(classifier).score(small_images(2, seed=0)[0])


def test_detectors_without_statistics_score_before_fit(classifier):
    images = small_images(2, seed=0)[0]
    assert MaxSoftmaxDetector(classifier).score(images).shape == (2,)
    assert EnergyDetector(classifier).score(images).shape == (2,)


@pytest.mark.parametrize("detector_class", FEATURE_DETECTORS)
def test_bad_shapes_and_labels_raise(detector_class, classifier, fit_set):
    images, labels = fit_set
    detector = detector_class(classifier)
    with pytest.raises(ValueError, match="shape"):
        detector.fit(images, labels[:-1])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        detector.fit(images[0], labels[:1])
    with pytest.raises(ValueError, match="at least one image"):
        detector.fit(images[:0], labels[:0])
    with pytest.raises(ValueError, match="lie in"):
        detector.fit(images, labels + 1)
    with pytest.raises(TypeError, match="integer"):
        detector.fit(images, labels.float())
    detector.fit(images, labels)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        detector.score(images[0])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        detector.score(images * 2.0 + 0.5)


def test_bad_options_raise(classifier, fit_set):
    images, labels = fit_set
    with pytest.raises(ValueError, match="k = 100"):
        KnnDetector(classifier, k=100).fit(images, labels)
    with pytest.raises(ValueError, match="principal_dim"):
        VimDetector(classifier, principal_dim=8)
    with pytest.raises(ValueError, match="every class"):
        MahalanobisDetector(classifier).fit(images[labels < 2], labels[labels < 2])
    with pytest.raises(TypeError, match="features"):
        MaxSoftmaxDetector(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="unknown detector"):
        build_detector("odin", None)


def test_parce_detector_scores_competency(estimator):
    calibration = class_images(30, seed=1)[0]
    images = class_images(5, seed=18)[0]
    detector = build_detector("parce", estimator)
    assert isinstance(detector, ParceDetector)
    calibration_before = estimator.calibration
    detector.fit(calibration, torch.arange(len(calibration)) % 3)
    assert estimator.calibration is calibration_before  # a calibrated estimator stays as it is
    torch.testing.assert_close(detector.score(images), estimator.evaluate(images).competency)


def test_parce_detector_calibrates_an_uncalibrated_estimator(estimator):
    calibration = class_images(30, seed=1)[0]
    fresh = ParceEstimator(estimator.classifier, estimator.autoencoder).eval()
    detector = ParceDetector(fresh)
    with pytest.raises(RuntimeError, match="not calibrated"):
        detector.score(calibration[:2])
    labels = torch.arange(len(calibration)) % 3
    detector.fit(calibration, labels)
    assert fresh.calibration.z_star == estimator.calibration.z_star
    assert detector.score(calibration[:2]).shape == (2,)


def test_registry_builds_every_detector(estimator):
    assert set(DETECTORS) == {"msp", "energy", "mahalanobis", "knn", "vim", "parce"}
    images, labels = class_images(12, seed=19)
    for name in DETECTORS:
        detector = build_detector(name, estimator, batch_size=32).fit(images, labels)
        assert detector.name == name
        assert detector.score(images[:3]).shape == (3,)
    with pytest.raises(TypeError):
        DETECTORS["mine"] = MaxSoftmaxDetector  # the registry is read-only
