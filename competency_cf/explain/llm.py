"""The LLM explainer: LLaMA 3.2 Vision (Mllama) asked the paper's prompts, one sentence back.

The model comes from a local directory and is loaded once. On CUDA it loads in 4-bit NF4
(bitsandbytes); on CPU in full precision, and only models small enough for a CPU (an 11B model is
refused with a clear message, so the caller can fall back to the descriptor explainer).
Generation is greedy by default. The cause is read from the sentence by the same grader that
scores explanations; confidence is the mean probability of the generated tokens.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import torch

from competency_cf.data.dataset import check_images
from competency_cf.explain.explanation import HIGH, Explanation
from competency_cf.explain.grading import mentioned_cause, mentioned_direction
from competency_cf.explain.prompts import Prompts, side_by_side, to_pil

MAX_CPU_WEIGHT_BYTES = 4 * 1024 ** 3  # beyond this a CPU would take minutes per sentence


class LlmUnavailable(RuntimeError):
    """The LLM explainer cannot run here (missing weights, no GPU for the model, no memory)."""


def weight_bytes(model_dir: Path) -> int:
    return sum(path.stat().st_size for path in model_dir.glob("*.safetensors"))


def load_mllama(model_dir: str | Path, device: str = "cpu", quantize_4bit: bool | None = None,
                adapter: str | Path | None = None, allow_download: bool = False):
    """(model, processor) from a local directory (or a hub id when `allow_download`).

    quantize_4bit: None means "on CUDA only". Raises LlmUnavailable with the reason.
    """
    try:
        from transformers import AutoProcessor, MllamaForConditionalGeneration
    except ImportError as error:
        raise LlmUnavailable(f"transformers is not installed ({error})") from error
    local = Path(model_dir)
    if not allow_download:
        if not (local / "config.json").is_file():
            raise LlmUnavailable(f"no model at {local} (expected config.json and safetensors "
                                 "weights; nothing is downloaded unless allowed)")
        if not device.startswith("cuda") and weight_bytes(local) > MAX_CPU_WEIGHT_BYTES:
            raise LlmUnavailable(f"{local} holds {weight_bytes(local) / 1024 ** 3:.1f} GiB of "
                                 "weights: this model needs a CUDA GPU")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LlmUnavailable(f"device {device} requested but CUDA is not available")
    quantize_4bit = device.startswith("cuda") if quantize_4bit is None else quantize_4bit
    options = {"local_files_only": not allow_download}
    if quantize_4bit:
        from transformers import BitsAndBytesConfig

        compute = torch.bfloat16 if device.startswith("cuda") else torch.float32
        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=compute)
        options["device_map"] = {"": device}
    try:
        model = MllamaForConditionalGeneration.from_pretrained(str(model_dir), **options)
        processor = AutoProcessor.from_pretrained(str(model_dir),
                                                  local_files_only=not allow_download)
    except torch.cuda.OutOfMemoryError as error:
        raise LlmUnavailable(f"out of GPU memory loading {model_dir}") from error
    except (OSError, ValueError) as error:
        raise LlmUnavailable(f"cannot load a Mllama model from {model_dir}: {error}") from error
    if not quantize_4bit:
        model = model.to(device)
    if adapter is not None:
        model = load_adapter(model, adapter)
    return model.eval(), processor


def load_adapter(model, adapter: str | Path):
    """Apply a LoRA adapter saved by `finetune-explainer`."""
    from peft import PeftModel

    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise LlmUnavailable(f"no LoRA adapter at {adapter} (expected adapter_config.json)")
    return PeftModel.from_pretrained(model, str(adapter))


def chat_text(processor, prompt: str) -> str:
    """The chat-formatted prompt: one user turn holding the image and the text."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True)


def first_sentence(text: str) -> str:
    """The first sentence of a reply (the prompts ask for one), whitespace normalised."""
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


class LlmExplainer:
    """explain(images, counterfactuals) with a Mllama model; same interface as the descriptor
    explainer."""

    backend = "llm"

    def __init__(self, model, processor, prompts: Prompts, max_new_tokens: int = 100,
                 greedy: bool = True):
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be positive, got {max_new_tokens}")
        self.model, self.processor, self.prompts = model, processor, prompts
        self.max_new_tokens, self.greedy = max_new_tokens, greedy

    @torch.no_grad()
    def generate(self, image, with_counterfactual: bool) -> tuple[str, float]:
        """Reply text and mean token probability for one PIL image."""
        text = chat_text(self.processor, self.prompts.text(with_counterfactual))
        device = next(self.model.parameters()).device
        # The chat template already starts with the BOS token.
        inputs = self.processor(images=image, text=text, add_special_tokens=False,
                                return_tensors="pt").to(device)
        output = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens,
                                     do_sample=not self.greedy, output_scores=True,
                                     return_dict_in_generate=True)
        new_tokens = output.sequences[0, inputs["input_ids"].shape[1]:]
        reply = self.processor.decode(new_tokens, skip_special_tokens=True)
        if not len(output.scores):
            return reply, 0.0
        log_probs = torch.stack([torch.log_softmax(step[0].float(), dim=-1)[token]
                                 for step, token in zip(output.scores, new_tokens)])
        return reply, float(log_probs.mean().exp())

    def explain(self, images: torch.Tensor, counterfactuals: torch.Tensor | None = None,
                method: str = "None") -> list[Explanation]:
        check_images(images, "images to explain")
        if counterfactuals is not None and counterfactuals.shape != images.shape:
            raise ValueError(f"counterfactuals {tuple(counterfactuals.shape)} do not match "
                             f"images {tuple(images.shape)}")
        explanations = []
        for row in range(len(images)):
            started = time.perf_counter()
            image = (to_pil(images[row]) if counterfactuals is None
                     else side_by_side(images[row], counterfactuals[row]))
            reply, confidence = self.generate(image, counterfactuals is not None)
            text = first_sentence(reply)
            cause = mentioned_cause(text) or "unknown"
            explanations.append(Explanation(
                cause=cause, direction=mentioned_direction(text, cause) or HIGH,
                confidence=confidence, text=text, counterfactual=method, backend=self.backend,
                seconds=time.perf_counter() - started))
        return explanations
