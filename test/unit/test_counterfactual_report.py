import numpy as np
import pytest
import torch

from competency_cf.competency.examples import ExampleSet
from competency_cf.data.causes import CAUSES
from competency_cf.evaluation.counterfactual_report import (counterfactual_figure,
                                                            evaluate_counterfactuals)
from competency_cf.evaluation.metrics import InceptionFeatures, fid_kid, mean_cosine_similarity
from tiny_data import class_images


def test_fid_and_kid_of_identical_sets_are_about_zero():
    torch.manual_seed(0)
    features = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 16))
    images = torch.rand((60, 3, 8, 8))
    fid, kid = fid_kid(images, images, features, 16)
    assert abs(fid) < 1e-3 and abs(kid) < 5.0
    shifted_fid, shifted_kid = fid_kid(images, (images * 0.3).clamp(0, 1), features, 16)
    assert shifted_fid > 100 * max(abs(fid), 1e-6) and shifted_kid > abs(kid)


def test_mean_cosine_similarity_hand_computed():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    assert mean_cosine_similarity(a, b) == pytest.approx(0.5)
    assert np.isnan(mean_cosine_similarity(a[:0], b[:0]))


@pytest.fixture
def small_examples(setup):
    estimator, _, _ = setup
    images = class_images(12, seed=9)[0] * 0.6  # darkened: mostly below the threshold
    competency = estimator.evaluate(images).competency.numpy().astype(np.float64)
    causes = np.array([CAUSES[i % 6] for i in range(12)])
    return ExampleSet(images, causes, np.ones(12), np.arange(12), np.zeros(12, int), competency,
                      competency, ("a", "b", "c"), estimator.threshold)


def test_report_rows_agree_with_results(setup, small_examples, tmp_path):
    estimator, calibration, _ = setup
    report, results = evaluate_counterfactuals(estimator, "fixture", small_examples, calibration,
                                               ["Reco", "LNN", "LGD"], batch_size=5,
                                               show_progress=False)
    assert [row.method for row in report.rows] == ["Orig", "Reco", "LNN", "LGD"]
    original = report.rows[0]
    assert original.lpips == pytest.approx(0.0, abs=1e-6)
    assert original.feature_similarity == pytest.approx(1.0, abs=1e-5)
    below = small_examples.competency < small_examples.threshold
    for cause, rate in original.success_by_cause.items():
        assert rate == pytest.approx(1.0 - below[small_examples.causes == cause].mean())
    for row in report.rows[1:]:
        assert row.success_rate == pytest.approx(results[row.method].success_rate)
        assert row.seconds_per_image > 0 and row.median_seconds_per_image > 0
    assert results["LNN"].success.all()
    markdown = report.to_markdown()
    assert "random AlexNet trunk" in markdown and "classifier features" in markdown
    report.save(tmp_path, "counterfactuals")
    assert (tmp_path / "counterfactuals.json").is_file()
    counterfactual_figure(small_examples, results, tmp_path / "grid.png", "fixture")
    assert (tmp_path / "grid.png").stat().st_size > 5_000


def test_kid_is_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(3)
    features = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 16))
    real, fake = torch.rand((70, 3, 8, 8)), torch.rand((60, 3, 8, 8)) * 0.8
    state = torch.get_rng_state()
    first = fid_kid(real, fake, features, 16)
    assert torch.equal(torch.get_rng_state(), state)
    assert fid_kid(real, fake, features, 16) == first


def test_inception_features_load_from_a_local_file_and_refuse_bad_ones(tmp_path):
    from safetensors.torch import save_file
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    network = inception_v3(weights=None, aux_logits=True, init_weights=False)
    path = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, str(path))
    features = InceptionFeatures(path)
    images = torch.rand((2, 3, 16, 16))
    output = features(images)
    assert output.shape == (2, InceptionFeatures.num_features)
    network.fc = torch.nn.Identity()
    network.eval()
    normalised = (torch.nn.functional.interpolate(images, size=(299, 299), mode="bilinear")
                  - features.mean) / features.std
    with torch.no_grad():
        assert torch.allclose(output, network(normalised), atol=1e-4)
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        InceptionFeatures(tmp_path / "missing.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"not weights")
    with pytest.raises(ValueError, match="corrupt.safetensors"):
        InceptionFeatures(corrupt)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"fc.weight": torch.zeros(2, 2)}, str(wrong))
    with pytest.raises(ValueError, match="wrong.safetensors"):
        InceptionFeatures(wrong)
