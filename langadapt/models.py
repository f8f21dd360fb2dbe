"""One way to load "a causal LM from an id or path", used by every script.

`AutoModelForCausalLM`, as registered by `langadapt.backpack`, loads Backpack checkpoints of either
format (our `model_type` backpack-gpt2, or stanfordnlp's gpt2 + Backpack architecture) into our class, and
anything else as transformers does. Remote code is never executed.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

import torch

from .backpack import BackpackGPT2LMHeadModel, is_backpack_config_dict
from .errors import LangAdaptError

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16, "auto": "auto"}


def parse_dtype(name: Optional[str]):
    if name is None or isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise LangAdaptError(f"unknown dtype {name!r}; expected one of {', '.join(DTYPES)}")
    return DTYPES[name]


def read_config_dict(name_or_path: str) -> dict:
    """The raw config.json of a local folder or hub id (no model code involved)."""
    from transformers import PretrainedConfig

    if str(name_or_path).startswith((".", "/", "~")) and not os.path.exists(os.path.expanduser(name_or_path)):
        raise LangAdaptError(f"{name_or_path}: no such folder; pass a save_pretrained folder or a hub id")
    try:
        config_dict, _ = PretrainedConfig.get_config_dict(name_or_path)
    except OSError as err:
        raise LangAdaptError(f"cannot load model {name_or_path!r}: no config.json found locally or on the hub "
                             f"({err})") from err
    return config_dict


POSITION_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx", "max_sequence_length")


def max_positions(config) -> Optional[int]:
    """The longest sequence a model accepts, from its config object or raw config dict (None if unstated)."""
    for name in POSITION_FIELDS:
        value = config.get(name) if isinstance(config, dict) else getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def is_backpack_checkpoint(name_or_path: str) -> bool:
    return is_backpack_config_dict(read_config_dict(name_or_path))


def is_backpack(model) -> bool:
    model = getattr(model, "module", model)  # DDP/Accelerate wrappers
    return isinstance(model, BackpackGPT2LMHeadModel)


def load_causal_lm(name_or_path: str, dtype=None, attn_implementation: Optional[str] = None,
                   device: Optional[str | torch.device] = None, flag: str = "", **kwargs):
    """Load a causal LM (Backpack or any AutoModelForCausalLM) from a hub id or a local folder; an error
    names `flag`, the flag that gave the model."""
    try:
        return _load_causal_lm(name_or_path, dtype, attn_implementation, device, **kwargs)
    except LangAdaptError as err:
        if not flag or str(err).startswith("--"):
            raise
        raise LangAdaptError(f"{flag} {err}") from err


def _load_causal_lm(name_or_path: str, dtype, attn_implementation, device, **kwargs):
    from transformers import AutoModelForCausalLM

    from .backpack.loading import mismatched_shapes, unreadable_weights

    kwargs = dict(kwargs)
    if dtype is not None:
        kwargs["dtype"] = parse_dtype(dtype)
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    read_config_dict(name_or_path)  # a clear error for a missing path or a folder without config.json
    refuse_mismatch = not kwargs.pop("ignore_mismatched_sizes", False)
    try:  # mismatched shapes are let through here only to be named below
        model, info = AutoModelForCausalLM.from_pretrained(name_or_path, trust_remote_code=False,
                                                           output_loading_info=True, ignore_mismatched_sizes=True,
                                                           **kwargs)
    except (OSError, ValueError, RuntimeError) as err:
        unreadable = unreadable_weights(name_or_path, err)
        if unreadable is not None:
            raise unreadable from err
        if isinstance(err, RuntimeError):
            raise
        raise LangAdaptError(f"{name_or_path}: cannot load it as a causal LM ({err})") from err
    if info.get("mismatched_keys") and refuse_mismatch:
        raise mismatched_shapes(name_or_path, info["mismatched_keys"], f"model_type {model.config.model_type}")
    if device is not None:
        model = model.to(device)
    return model


def load_tokenizer(name_or_path: str, flag: str = "tokenizer", **kwargs):
    """AutoTokenizer with a pad token (GPT-2-style tokenizers have none: EOS pads, as in the originals);
    `flag` (the flag that named the folder) is what an error names."""
    from transformers import AutoTokenizer

    from .preflight import check_tokenizer_files

    check_tokenizer_files(flag, name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=False, **kwargs)
    except (OSError, ValueError) as err:
        raise LangAdaptError(f"cannot load tokenizer {name_or_path!r}: {err}") from err
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise LangAdaptError(f"tokenizer {name_or_path!r} has neither a pad nor an EOS token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
