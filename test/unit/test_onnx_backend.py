"""The ONNX Runtime path: export, parity with torch, provider choice, refusals."""

import pytest
import torch

from competency_cf.competency.onnx_backend import (OnnxCompetency, choose_providers,
                                                   export_onnx)
from competency_cf.data.causes import degrade


def test_tiny_model_parity_and_dynamic_batch(setup, tmp_path):
    estimator, calibration, batch = setup
    path = export_onnx(estimator, tmp_path / "competency.onnx", image_size=64)
    onnx = OnnxCompetency(path, estimator)
    for images in (batch, calibration[:1], calibration):
        expected = estimator.evaluate(images)
        got = onnx.evaluate(images)
        assert torch.allclose(got.competency, expected.competency, atol=1e-4)
        assert torch.equal(got.prediction, expected.prediction)
        assert torch.allclose(got.p_in_distribution, expected.p_in_distribution, atol=1e-4)
    assert onnx.provider in choose_providers()


def test_committed_lunar_models_parity_on_degraded_images(tmp_path):
    from competency_cf.competency.parce import load_estimator
    from competency_cf.data.domains import get_domain
    from competency_cf.data.synthesize import render_sample
    from competency_cf.resources import models_dir

    domain = get_domain("lunar")
    estimator = load_estimator(models_dir("lunar"), "cpu")
    clean = render_sample(domain, per_class=1).images
    images = torch.cat([clean, degrade(clean, "noise", 60.0), degrade(clean, "brightness", 2.0),
                        degrade(clean, "pixelation", 30.0, reference_size=256)])
    onnx = OnnxCompetency(export_onnx(estimator, tmp_path / "lunar.onnx", 64),
                          estimator)
    difference = (onnx.evaluate(images).competency - estimator.evaluate(images).competency)
    assert float(difference.abs().max()) < 1e-4


def test_refusals_name_the_problem(setup, tmp_path):
    estimator = setup[0]
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        OnnxCompetency(tmp_path / "missing.onnx", estimator)
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="corrupt.onnx"):
        OnnxCompetency(corrupt, estimator)
    with pytest.raises(ValueError, match="not available"):
        choose_providers(["NoSuchExecutionProvider"])
