"""The LLM explainer's real code path on a tiny random Mllama loaded from a directory."""

import pytest
import torch

from competency_cf.data.causes import CAUSES
from competency_cf.explain.descriptor_explainer import FILE_NAME, DescriptorExplainer
from competency_cf.explain.explanation import HIGH, LOW, sentence
from competency_cf.explain.factory import FallbackExplainer, build_explainer
from competency_cf.explain.llm import LlmExplainer, LlmUnavailable, first_sentence, load_mllama
from competency_cf.explain.prompts import PADDING, Prompts, load_prompts, side_by_side
from tiny_mllama import build_tiny_mllama


def _corpus():
    prompts = load_prompts("lunar")
    texts = [prompts.text(True), prompts.text(False)]
    texts += [sentence(c, d) for c in CAUSES for d in (HIGH, LOW)
              if c in ("brightness", "contrast", "saturation") or d == HIGH]
    return texts * 4


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    return build_tiny_mllama(tmp_path_factory.mktemp("tiny_mllama"), _corpus())


@pytest.fixture(scope="module")
def loaded(tiny_model_dir):
    return load_mllama(tiny_model_dir, "cpu")


def test_prompts_of_both_domains_load_with_every_entry():
    for domain in ("lunar", "speed"):
        prompts = load_prompts(domain)
        assert "single sentence" in prompts.text(False)
        assert "side-by-side" in prompts.text(True)
    assert "120 km/hr" in load_prompts("speed").dataset


def test_camera_prompt_names_the_field_causes_and_is_optional(tmp_path):
    prompts = load_prompts("lunar")
    for words in ("blurred", "haze", "dirt", "glare"):
        assert words in prompts.camera
    message = prompts.text(False)
    assert message.index(prompts.estimator) < message.index(prompts.camera) \
        < message.index(prompts.instructions)
    paper = tmp_path / "paper.yaml"
    paper.write_text("dataset: D.\nestimator: E.\ninstructions: I.\n"
                     "instructions_counterfactual: C.\n")
    assert Prompts.load(paper).text(False) == "D. E. I."
    assert Prompts.load(paper).text(True) == "D. E. C."


def test_prompt_file_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        Prompts.load(tmp_path / "nope.yaml")
    partial = tmp_path / "partial.yaml"
    partial.write_text("dataset: something\n")
    with pytest.raises(ValueError, match="partial.yaml.*estimator"):
        Prompts.load(partial)


def test_side_by_side_layout():
    original = torch.zeros((3, 20, 30))
    counterfactual = torch.ones((3, 20, 30))
    image = side_by_side(original, counterfactual)
    assert image.size == (2 * 30 + 3 * PADDING, 20 + 2 * PADDING)
    pixels = image.load()
    assert pixels[0, 0] == (255, 255, 255)                      # padding
    assert pixels[PADDING, PADDING] == (0, 0, 0)                # original, left
    assert pixels[2 * PADDING + 30, PADDING] == (255, 255, 255)  # counterfactual, right
    assert pixels[PADDING + 30 + 1, PADDING + 5] == (255, 255, 255)  # gap between them


def test_first_sentence():
    assert first_sentence("  The image is dark.  It also has noise. ") == "The image is dark."
    assert first_sentence("no full stop") == "no full stop"


def test_tiny_mllama_explains_through_the_user_loader(loaded):
    model, processor = loaded
    explainer = LlmExplainer(model, processor, load_prompts("lunar"), max_new_tokens=8)
    images = torch.rand((2, 3, 64, 64), generator=torch.Generator().manual_seed(0))
    for counterfactuals in (None, images.flip(-1)):
        explanations = explainer.explain(images, counterfactuals,
                                         "None" if counterfactuals is None else "LNN")
        assert len(explanations) == 2
        for explanation in explanations:
            assert explanation.backend == "llm" and explanation.seconds > 0
            assert 0.0 < explanation.confidence <= 1.0
            assert explanation.cause in (*CAUSES, "unknown")
    # Greedy decoding is deterministic: the same input gives the same sentence.
    again = explainer.explain(images[:1])
    assert again[0].text == explainer.explain(images[:1])[0].text


def test_missing_or_oversized_models_are_refused_with_the_path(tmp_path, tiny_model_dir):
    with pytest.raises(LlmUnavailable, match="empty_dir"):
        load_mllama(tmp_path / "empty_dir", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(LlmUnavailable, match="CUDA"):
            load_mllama(tiny_model_dir, "cuda:0")


def test_factory_falls_back_to_descriptor_with_a_warning(tmp_path, descriptor_explainer):
    descriptor_explainer.save(tmp_path / FILE_NAME)
    assert build_explainer("descriptor", "lunar", tmp_path).backend == "descriptor"
    with pytest.warns(RuntimeWarning, match="missing_model"):
        explainer = build_explainer("llm", "lunar", tmp_path,
                                    llm_model=tmp_path / "missing_model")
    assert isinstance(explainer, DescriptorExplainer)
    with pytest.raises(ValueError, match="backend"):
        build_explainer("gpt", "lunar", tmp_path)


def test_out_of_memory_switches_to_the_fallback_for_good(setup, descriptor_explainer):
    batch = setup[2]

    class OutOfMemory:
        backend = "llm"
        calls = 0

        def explain(self, *args):
            OutOfMemory.calls += 1
            raise torch.cuda.OutOfMemoryError("simulated")

    explainer = FallbackExplainer(OutOfMemory(), descriptor_explainer)
    with pytest.warns(RuntimeWarning, match="out of GPU memory"):
        first = explainer.explain(batch)
    second = explainer.explain(batch)
    assert OutOfMemory.calls == 1
    assert [e.backend for e in first + second] == ["descriptor"] * (2 * len(batch))
