"""The CUDA paths: scoring, counterfactual search and the 4-bit LLM explainer on a GPU."""

import pytest
import torch

from competency_cf.competency.parce import load_estimator
from competency_cf.counterfactual.methods import METHODS, build_method
from competency_cf.data.causes import degrade
from competency_cf.data.domains import get_domain
from competency_cf.data.synthesize import render_sample
from competency_cf.resources import models_dir

pytestmark = pytest.mark.gpu

DEVICE = "cuda:0"


@pytest.fixture(scope="module")
def images():
    clean = render_sample(get_domain("lunar"), per_class=2, offset=900_000).images
    return torch.cat([clean, degrade(clean, "noise", 80.0,
                                     generator=torch.Generator().manual_seed(0))])


@pytest.mark.parametrize("kind", ["parce", "fused"])
def test_competency_on_cuda_matches_cpu(images, kind):
    cpu = load_estimator(models_dir("lunar"), "cpu", kind=kind).evaluate(images)
    estimator = load_estimator(models_dir("lunar"), DEVICE, kind=kind)
    assert next(estimator.classifier.parameters()).device.type == "cuda"
    gpu = estimator.evaluate(images)  # results come back on the CPU
    assert torch.allclose(gpu.competency.cpu(), cpu.competency, atol=1e-4)
    assert torch.equal(gpu.prediction.cpu(), cpu.prediction)


@pytest.mark.parametrize("name", METHODS)
def test_every_counterfactual_method_runs_on_cuda(images, name):
    estimator = load_estimator(models_dir("lunar"), DEVICE)
    calibration = render_sample(get_domain("lunar"), per_class=4, offset=910_000).images
    low = images[estimator.evaluate(images).competency < estimator.threshold]
    assert len(low), "the degraded images should have low competency"
    method = build_method(name, estimator, device=DEVICE, calibration_images=calibration)
    result = method.generate(low)  # moved to the method's device, results back on the CPU
    assert result.images.shape == low.shape
    assert 0.0 <= float(result.images.min()) and float(result.images.max()) <= 1.0
    assert torch.allclose(estimator.evaluate(result.images).competency, result.competency,
                          atol=1e-3)
    assert float(result.competency.mean()) > float(estimator.evaluate(low).competency.mean())


def test_llm_explainer_loads_in_4bit_and_generates_on_cuda(tmp_path):
    import bitsandbytes

    from competency_cf.explain.llm import LlmExplainer, load_mllama
    from competency_cf.explain.prompts import load_prompts
    from tiny_mllama import build_tiny_mllama

    prompts = load_prompts("lunar")
    directory = build_tiny_mllama(tmp_path / "tiny", [prompts.text(True), prompts.text(False)] * 4)
    model, processor = load_mllama(directory, DEVICE)  # 4-bit NF4 by default on CUDA
    quantized = [m for m in model.modules() if isinstance(m, bitsandbytes.nn.Linear4bit)]
    assert quantized and all(m.weight.quant_type == "nf4" for m in quantized)
    assert next(model.parameters()).device.type == "cuda"
    explainer = LlmExplainer(model, processor, prompts, max_new_tokens=8)
    image = torch.rand((1, 3, 64, 64), generator=torch.Generator().manual_seed(0))
    first = explainer.explain(image, image.flip(-1), "LNN")[0]
    assert first.backend == "llm" and 0.0 < first.confidence <= 1.0
    assert explainer.explain(image, image.flip(-1), "LNN")[0].text == first.text  # greedy
