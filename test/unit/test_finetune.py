"""LoRA fine-tuning on the tiny random Mllama: loss falls, the adapter reloads identically."""

import numpy as np
import pytest
import torch

from competency_cf.competency.examples import ExampleSet
from competency_cf.explain.explanation import HIGH, LOW, sentence
from competency_cf.explain.finetune import (FinetuneConfig, build_samples, encode, finetune,
                                            save_adapter)
from competency_cf.explain.llm import LlmExplainer, load_mllama
from competency_cf.explain.prompts import load_prompts
from competency_cf.explain.training_set import example_labels
from tiny_mllama import build_tiny_mllama

CAUSES = np.array(["brightness", "noise", "pixelation", "brightness"])
FACTORS = np.array([2.0, 60.0, 16.0, 0.5])


def _training():
    images = torch.rand((4, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    return ExampleSet(images, CAUSES, FACTORS, np.arange(4), np.zeros(4, int), np.ones(4),
                      np.zeros(4), ("a",), 0.9)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    prompts = load_prompts("speed")
    corpus = [prompts.text(True), prompts.text(False), sentence("brightness", HIGH),
              sentence("brightness", LOW), sentence("noise", HIGH),
              sentence("pixelation", HIGH)] * 4
    return build_tiny_mllama(tmp_path_factory.mktemp("mllama"), corpus)


def test_samples_alternate_modes_and_label_only_the_answer(model_dir):
    _, processor = load_mllama(model_dir)
    training = _training()
    samples = build_samples(training.images, example_labels(training), load_prompts("speed"),
                            {"Reco": training.images})
    assert [("side-by-side" in s.prompt) for s in samples] == [False, True, False, True]
    assert samples[3].answer == sentence("brightness", LOW)
    # Field causes are answered with their own sentence; labels and images must pair up.
    field = build_samples(training.images[:2], [("haze", HIGH), ("glare", HIGH)],
                          load_prompts("speed"), {})
    assert [s.answer for s in field] == [sentence("haze", HIGH), sentence("glare", HIGH)]
    with pytest.raises(ValueError, match="3 labels for 4 training images"):
        build_samples(training.images, example_labels(training)[:3], load_prompts("speed"), {})
    inputs = encode(processor, samples[0])
    labels = inputs["labels"][0]
    answer_ids = labels[labels != -100]
    decoded = processor.tokenizer.decode(answer_ids, skip_special_tokens=True)
    assert decoded.strip() == samples[0].answer


def test_lora_loss_falls_and_adapter_reloads_with_identical_outputs(model_dir, tmp_path):
    model, processor = load_mllama(model_dir)
    training = _training()
    samples = build_samples(training.images, example_labels(training), load_prompts("speed"),
                            {"Reco": training.images})
    config = FinetuneConfig(lr=3e-2, epochs=8, batch_size=1, accumulation=2, dropout=0.0)
    tuned, losses = finetune(model, processor, samples, config, show_progress=False)
    assert losses[-1] < 0.8 * losses[0], losses
    trainable = [n for n, p in tuned.named_parameters() if p.requires_grad]
    assert any("vision_model" in n for n in trainable)
    assert any("language_model" in n for n in trainable)
    assert all("lora_" in n for n in trainable)
    adapter = save_adapter(tuned, tmp_path / "adapter", config, losses, len(samples))
    assert (adapter / "adapter_model.safetensors").is_file()
    reloaded, _ = load_mllama(model_dir, adapter=adapter)
    inputs = {k: v for k, v in encode(processor, samples[1]).items() if k != "labels"}
    with torch.no_grad():
        assert torch.allclose(tuned(**inputs).logits, reloaded(**inputs).logits, atol=1e-5)
    prompts = load_prompts("speed")
    first = LlmExplainer(tuned, processor, prompts, max_new_tokens=6).explain(training.images)
    second = LlmExplainer(reloaded, processor, prompts, max_new_tokens=6).explain(training.images)
    assert [e.text for e in first] == [e.text for e in second]


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError):
        FinetuneConfig(rank=0)
    with pytest.raises(ValueError):
        FinetuneConfig(lr=-1.0)
