"""Checkpoint loading with hard errors instead of transformers' silent random re-initialisation.

transformers warns and initialises any weight it cannot find or whose shape differs; for a research
toolkit that silently turns a typo into a random model, so missing or mis-shaped weights are errors.
"""
from __future__ import annotations

import os

from transformers import PreTrainedModel

from ..errors import LangAdaptError
from .configuration import BackpackGPT2Config


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
    except RuntimeError as err:
        if "mismatch" in str(err).lower():
            raise LangAdaptError(f"{name_or_path}: weights do not fit the config "
                                 f"(num_senses={config.num_senses}, n_embd={config.n_embd}): {err}") from err
        raise
    tied = set(getattr(cls, "_tied_weights_keys", {}) or {})
    missing = [k for k in info.get("missing_keys", []) if k not in tied]
    mismatched = info.get("mismatched_keys", [])
    if missing:
        raise LangAdaptError(f"{name_or_path}: checkpoint lacks weights for {', '.join(sorted(missing)[:6])}"
                             f"{' ...' if len(missing) > 6 else ''} (is it a Backpack checkpoint of this shape?)")
    if mismatched:
        names = ", ".join(str(m[0] if isinstance(m, (tuple, list)) else m) for m in list(mismatched)[:6])
        raise LangAdaptError(f"{name_or_path}: weight shapes do not fit the config "
                             f"(num_senses={config.num_senses}, n_embd={config.n_embd}): {names}")
    return (model, info) if want_info else model
