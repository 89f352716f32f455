"""Why competency is low, in one sentence: image descriptors and a fitted descriptor explainer
(default), the LLaMA 3.2 Vision explainer with LoRA fine-tuning, and the automatic grader."""
