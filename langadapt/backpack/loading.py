"""Checkpoint loading with hard errors instead of transformers' silent random re-initialisation.

transformers warns and initialises any weight it cannot find or whose shape differs, and drops weights the
model has no place for; for a research toolkit that silently turns a typo into a random (or truncated)
model, so missing, mis-shaped and unexpected weights are errors naming the keys, and an unreadable
weight file is a one-line error naming the folder.
"""
from __future__ import annotations

import os
import pickle

from safetensors import SafetensorError
from transformers import PreTrainedModel

from .configuration import BackpackGPT2Config
from .errors import LangAdaptError

CORRUPT_FILE_SIGNS = ("PytorchStreamReader", "deserializ", "unpickl", "truncated")


def _listed(keys) -> str:
    keys = sorted(str(k[0] if isinstance(k, (tuple, list)) else k) for k in keys)
    return ", ".join(keys[:6]) + (f" ... ({len(keys)} in all)" if len(keys) > 6 else "")


def _is_corrupt_file_error(err: Exception) -> bool:
    if isinstance(err, (SafetensorError, EOFError, pickle.UnpicklingError)):
        return True
    return isinstance(err, RuntimeError) and any(sign in str(err) for sign in CORRUPT_FILE_SIGNS)


def load_backpack(cls, name_or_path, *args, **kwargs):
    if os.path.isdir(str(name_or_path)) is False and str(name_or_path).startswith((".", "/")):
        raise LangAdaptError(f"model path {name_or_path} does not exist")
    config = kwargs.pop("config", None)
    if not isinstance(config, BackpackGPT2Config):
        config_kwargs = {k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
        try:
            config = BackpackGPT2Config.from_pretrained(name_or_path, **config_kwargs)
        except OSError as err:
            raise LangAdaptError(f"cannot read a config from {name_or_path}: {err}") from err
    want_info = kwargs.pop("output_loading_info", False)
    try:
        model, info = PreTrainedModel.from_pretrained.__func__(
            cls, name_or_path, *args, config=config, output_loading_info=True, **kwargs)
    except OSError as err:
        raise LangAdaptError(f"{name_or_path}: no model weights found ({err})") from err
    except (RuntimeError, SafetensorError, EOFError, pickle.UnpicklingError) as err:
        if "mismatch" in str(err).lower():
            raise LangAdaptError(f"{name_or_path}: weights do not fit the config "
                                 f"(num_senses={config.num_senses}, n_embd={config.n_embd}): {err}") from err
        if _is_corrupt_file_error(err):
            first_line = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0]
            raise LangAdaptError(f"{name_or_path}: the weight file cannot be read, it is truncated or corrupt "
                                 f"({first_line}); re-download or re-save the checkpoint") from err
        raise
    tied = set(getattr(cls, "_tied_weights_keys", {}) or {})
    missing = [k for k in info.get("missing_keys", []) if k not in tied]
    shape = f"num_senses={config.num_senses}, n_embd={config.n_embd}, n_layer={config.n_layer}"
    if missing:
        raise LangAdaptError(f"{name_or_path}: checkpoint lacks weights for {_listed(missing)} "
                             f"(is it a Backpack checkpoint of this shape: {shape}?)")
    if info.get("mismatched_keys"):
        raise LangAdaptError(f"{name_or_path}: weight shapes do not fit the config ({shape}): "
                             f"{_listed(info['mismatched_keys'])}")
    if info.get("unexpected_keys"):
        raise LangAdaptError(f"{name_or_path}: checkpoint holds weights the config ({shape}) has no place for: "
                             f"{_listed(info['unexpected_keys'])}")
    return (model, info) if want_info else model
