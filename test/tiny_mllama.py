"""A tiny random Mllama (LLaMA 3.2 Vision architecture) saved like a real model directory.

No weights can be downloaded here, so the LLM explainer is tested on this: a byte-level BPE
tokenizer trained on the fly with the Llama 3 special tokens (including <|image|>), a default
Mllama image processor, a chat template in the Llama 3 format, and a model a few hundred
thousand parameters large built from a config.
"""

from pathlib import Path

import torch

SPECIAL_TOKENS = ["<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>",
                  "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|python_tag|>",
                  "<|image|>"]

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}<|start_header_id|>{{ message['role'] }}"
    "<|end_header_id|>\n\n{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}<|image|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant"
    "<|end_header_id|>\n\n{% endif %}")


def build_tiny_mllama(directory: Path, corpus: list[str], seed: int = 0) -> Path:
    """Save a tiny random Mllama model + processor to `directory`; returns it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (MllamaConfig, MllamaForConditionalGeneration,
                              MllamaImageProcessor, MllamaProcessor, PreTrainedTokenizerFast)

    torch.manual_seed(seed)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|begin_of_text|>",
                                   eos_token="<|eot_id|>", pad_token="<|finetune_right_pad_id|>",
                                   extra_special_tokens={"image_token": "<|image|>"})
    fast.chat_template = CHAT_TEMPLATE
    processor = MllamaProcessor(image_processor=MllamaImageProcessor(), tokenizer=fast,
                                chat_template=CHAT_TEMPLATE)
    hidden = 32
    config = MllamaConfig(
        vision_config=dict(hidden_size=hidden, num_hidden_layers=2, num_global_layers=1,
                           attention_heads=2, intermediate_size=64, image_size=224,
                           patch_size=14, max_num_tiles=4, intermediate_layers_indices=[0, 1],
                           vision_output_dim=hidden * 3),
        text_config=dict(vocab_size=len(fast), hidden_size=hidden, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, intermediate_size=64,
                         cross_attention_layers=[1], max_position_embeddings=1024,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id,
                         initializer_range=0.2),  # logits large enough to learn from
        image_token_index=fast.convert_tokens_to_ids("<|image|>"))
    model = MllamaForConditionalGeneration(config).eval()
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
