"""Embedding, attention and residual dropout for COMMIT training on any HF causal LM.

EasyLM's LLaMA drops out the embeddings, the attention probabilities and each sub-layer's output before
the residual add. HF Llama-family models only have attention dropout (`config.attention_dropout`), so the
other two are added with forward hooks: one on the input embedding, one on each decoder layer's
`self_attn` and `mlp` outputs. Hooks leave the weights and their names untouched, so checkpoints stay
plain HF checkpoints. Models whose config has GPT-2-style fields (`embd_pdrop`, `resid_pdrop`,
`attn_pdrop`) get the values through their config instead.
"""
from __future__ import annotations

import logging
from typing import Any

import torch
from torch.nn import functional as F

from ..errors import LangAdaptError

logger = logging.getLogger(__name__)


def dropout_config_overrides(config: dict[str, Any], embd_pdrop: float, attn_pdrop: float,
                             resid_pdrop: float) -> dict[str, Any]:
    """Fields of the raw config dict to set when building the model: the dropouts it implements itself."""
    wanted = {"embd_pdrop": embd_pdrop, "attn_pdrop": attn_pdrop, "resid_pdrop": resid_pdrop}
    overrides = {name: value for name, value in wanted.items() if name in config}
    if "attn_pdrop" not in overrides and "attention_dropout" in config:
        overrides["attention_dropout"] = attn_pdrop
    if "attn_pdrop" not in overrides and "attention_dropout" not in overrides and attn_pdrop > 0:
        raise LangAdaptError(f"--attn_pdrop: model type {config.get('model_type')!r} has no attention dropout setting; "
                             f"pass --attn_pdrop 0")
    return overrides


def _drop_output(p: float):
    def hook(module: torch.nn.Module, args, output):
        if not module.training or p == 0:
            return output
        if isinstance(output, tuple):
            return (F.dropout(output[0], p, training=True),) + output[1:]
        return F.dropout(output, p, training=True)
    return hook


def add_dropout_hooks(model: torch.nn.Module, embd_pdrop: float, resid_pdrop: float) -> list:
    """Hook the dropouts the config could not express; returns the hook handles."""
    config = model.config
    handles = []
    if embd_pdrop > 0 and not hasattr(config, "embd_pdrop"):
        handles.append(model.get_input_embeddings().register_forward_hook(_drop_output(embd_pdrop)))
    if resid_pdrop > 0 and not hasattr(config, "resid_pdrop"):
        layers = [m for m in model.modules() if hasattr(m, "self_attn") and hasattr(m, "mlp")]
        if not layers:
            raise LangAdaptError(f"--resid_pdrop: cannot find decoder layers (self_attn + mlp) in model type "
                                 f"{config.model_type!r}; pass --resid_pdrop 0")
        for layer in layers:
            handles.append(layer.self_attn.register_forward_hook(_drop_output(resid_pdrop)))
            handles.append(layer.mlp.register_forward_hook(_drop_output(resid_pdrop)))
        logger.info("residual dropout %.3g hooked on %d decoder layers", resid_pdrop, len(layers))
    return handles
