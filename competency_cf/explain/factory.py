"""Build an explainer by backend name, falling back to the descriptor explainer when the LLM
cannot run (missing weights, no GPU for the model, out of memory)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from competency_cf.explain.descriptor_explainer import FILE_NAME, DescriptorExplainer
from competency_cf.explain.explanation import Explanation

BACKENDS = ("descriptor", "llm")
logger = logging.getLogger(__name__)


def load_descriptor_explainer(models: str | Path) -> DescriptorExplainer:
    return DescriptorExplainer.load(Path(models) / FILE_NAME)


def _warn(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


class FallbackExplainer:
    """The LLM explainer, switching to the descriptor explainer for good after running out of
    memory."""

    def __init__(self, primary, fallback: DescriptorExplainer):
        self.primary, self.fallback = primary, fallback

    @property
    def backend(self) -> str:
        return self.primary.backend if self.primary is not None else self.fallback.backend

    def explain(self, images: torch.Tensor, counterfactuals: torch.Tensor | None = None,
                method: str = "None") -> list[Explanation]:
        if self.primary is not None:
            try:
                return self.primary.explain(images, counterfactuals, method)
            except torch.cuda.OutOfMemoryError:
                _warn("the LLM explainer ran out of GPU memory; using the descriptor explainer "
                      "from now on")
                self.primary = None
                torch.cuda.empty_cache()
        return self.fallback.explain(images, counterfactuals, method)


def build_explainer(backend: str, domain: str, models: str | Path, *,
                    llm_model: str | Path | None = None, adapter: str | Path | None = None,
                    device: str = "cpu", allow_download: bool = False,
                    max_new_tokens: int = 100):
    """A ready explainer: "descriptor", or "llm" (with the descriptor explainer as fallback)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown explainer backend {backend!r}; expected one of "
                         f"{', '.join(BACKENDS)}")
    descriptor = load_descriptor_explainer(models)
    if backend == "descriptor":
        return descriptor
    from competency_cf.explain.llm import LlmExplainer, LlmUnavailable, load_mllama
    from competency_cf.explain.prompts import load_prompts

    if llm_model is None:
        _warn("no LLM model directory given; using the descriptor explainer")
        return descriptor
    try:
        model, processor = load_mllama(llm_model, device, adapter=adapter,
                                       allow_download=allow_download)
    except LlmUnavailable as error:
        _warn(f"LLM explainer unavailable ({error}); using the descriptor explainer")
        return descriptor
    return FallbackExplainer(LlmExplainer(model, processor, load_prompts(domain),
                                          max_new_tokens=max_new_tokens), descriptor)
