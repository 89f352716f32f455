"""LoRA fine-tuning of the LLM explainer on template explanations (the paper's appendix C).

Each training example becomes a chat turn: the paper's prompt with the original image (B.4) or
with the original and a counterfactual side by side (B.5), alternating, and the template sentence
of its known cause as the answer; only the answer tokens are scored. Beyond the paper, the fit
group of cause implementations adds frames of every cause the descriptor explainer names, the
field causes included. LoRA (rank 16, alpha 16) adapts the attention and MLP projections of both
the vision and the language towers; with CUDA the base model is loaded in 4-bit, as in the paper.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from competency_cf.explain.explanation import sentence
from competency_cf.explain.llm import chat_text
from competency_cf.explain.prompts import Prompts, side_by_side, to_pil

# Attention (self and cross) and MLP projections of the vision and language towers.
LORA_TARGETS = (r".*(self_attn|cross_attn)\.(q_proj|k_proj|v_proj|o_proj)"
                r"|.*mlp\.(fc1|fc2|gate_proj|up_proj|down_proj)")


@dataclass(frozen=True)
class FinetuneConfig:
    rank: int = 16
    alpha: int = 16
    dropout: float = 0.05
    lr: float = 2e-4
    epochs: int = 10
    batch_size: int = 4
    accumulation: int = 4
    seed: int = 0

    def __post_init__(self):
        if min(self.rank, self.alpha, self.epochs, self.batch_size, self.accumulation) < 1 \
                or self.lr <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"invalid fine-tuning settings: {self}")


@dataclass
class Sample:
    image: object  # PIL image: the original, or original | counterfactual
    prompt: str
    answer: str


def build_samples(images: torch.Tensor, labels: list[tuple[str, str]], prompts: Prompts,
                  counterfactual_sets: dict[str, torch.Tensor]) -> list[Sample]:
    """One sample per image, answered with the template sentence of its (cause, direction);
    alternate between the original alone and paired with each counterfactual set in turn."""
    if len(labels) != len(images):
        raise ValueError(f"{len(labels)} labels for {len(images)} training images")
    names = list(counterfactual_sets)
    samples = []
    for row, (cause, direction) in enumerate(labels):
        answer = sentence(str(cause), str(direction))
        if not names or row % 2 == 0:
            samples.append(Sample(to_pil(images[row]), prompts.text(False), answer))
        else:
            counterfactuals = counterfactual_sets[names[(row // 2) % len(names)]]
            samples.append(Sample(side_by_side(images[row], counterfactuals[row]),
                                  prompts.text(True), answer))
    return samples


def encode(processor, sample: Sample) -> dict[str, torch.Tensor]:
    """Model inputs for prompt + answer, with labels on the answer tokens only."""
    prompt = chat_text(processor, sample.prompt)
    full = prompt + sample.answer + processor.tokenizer.eos_token
    inputs = processor(images=sample.image, text=full, add_special_tokens=False,
                       return_tensors="pt")
    prompt_ids = processor.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = inputs["input_ids"][0]
    shared = 0  # tokens shared with the prompt alone (BPE may merge across the boundary)
    while shared < min(len(prompt_ids), len(ids)) and int(ids[shared]) == prompt_ids[shared]:
        shared += 1
    labels = ids.clone()
    labels[:shared] = -100
    inputs["labels"] = labels.unsqueeze(0)
    return dict(inputs)


def add_lora(model, config: FinetuneConfig, quantized: bool = False):
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model)
    lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=LORA_TARGETS)
    return get_peft_model(model, lora)


def finetune(model, processor, samples: list[Sample], config: FinetuneConfig,
             quantized: bool = False, show_progress: bool = True):
    """Train LoRA weights; returns the peft model and the mean loss of each epoch."""
    if not samples:
        raise ValueError("no training samples")
    random.Random(config.seed).shuffle(samples := list(samples))
    torch.manual_seed(config.seed)
    model = add_lora(model, config, quantized)
    model.train()
    device = next(model.parameters()).device
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr)
    per_step = config.batch_size * config.accumulation
    epoch_losses = []
    for epoch in tqdm(range(config.epochs), desc="LoRA fine-tuning", unit="epoch",
                      disable=not show_progress):
        total = 0.0
        optimizer.zero_grad(set_to_none=True)
        for index, sample in enumerate(samples):
            inputs = {k: v.to(device) for k, v in encode(processor, sample).items()}
            loss = model(**inputs).loss
            (loss / per_step).backward()
            total += float(loss.detach())
            if (index + 1) % per_step == 0 or index + 1 == len(samples):
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        epoch_losses.append(total / len(samples))
    return model.eval(), epoch_losses


def save_adapter(model, directory: str | Path, config: FinetuneConfig,
                 epoch_losses: list[float], samples: int) -> Path:
    """LoRA weights (safetensors) + adapter config, and a summary of the run."""
    directory = Path(directory)
    model.save_pretrained(str(directory), safe_serialization=True)
    (directory / "finetune.json").write_text(json.dumps(
        {"config": asdict(config), "samples": samples, "epoch_losses": epoch_losses},
        indent=2) + "\n")
    return directory
