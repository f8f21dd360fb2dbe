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
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")


def _listed(keys) -> str:
    keys = sorted(str(k[0] if isinstance(k, (tuple, list)) else k) for k in keys)
    return ", ".join(keys[:6]) + (f" ... ({len(keys)} in all)" if len(keys) > 6 else "")


def _is_corrupt_file_error(err: Exception) -> bool:
    if isinstance(err, (SafetensorError, EOFError, pickle.UnpicklingError)):
        return True
    return isinstance(err, RuntimeError) and any(sign in str(err) for sign in CORRUPT_FILE_SIGNS)


def unreadable_weights(name_or_path, err: Exception):
    """The one-line error for a weight file that is there but cannot be read (a download or copy cut short),
    or None where `err` is about something else. A file cut short can fail as an OSError (the archive's
    directory is missing), which transformers reports as if there were no weights at all."""
    present = [name for name in WEIGHT_FILES if os.path.isfile(os.path.join(str(name_or_path), name))]
    if not _is_corrupt_file_error(err) and not (isinstance(err, OSError) and present):
        return None
    first_line = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0]
    shown = os.path.join(str(name_or_path), present[0]) if present else f"the weight file of {name_or_path}"
    return LangAdaptError(f"{name_or_path}: {shown} cannot be read: it is truncated or corrupt ({first_line}); "
                          f"re-download or re-save the checkpoint")


def mismatched_shapes(name_or_path, mismatched, shape: str) -> LangAdaptError:
    """Each weight whose shape differs from the config's, with both shapes (transformers' own error says only
    "look at the above report")."""
    def described(entry) -> str:
        if isinstance(entry, (tuple, list)) and len(entry) == 3:
            key, found, wanted = entry
            return f"{key} {tuple(found)} in the checkpoint, {tuple(wanted)} in the config"
        return str(entry[0] if isinstance(entry, (tuple, list)) else entry)

    entries = sorted(mismatched, key=str)
    listed = "; ".join(described(entry) for entry in entries[:6]) + (
        f" ... ({len(entries)} in all)" if len(entries) > 6 else "")
    return LangAdaptError(f"{name_or_path}: weight shapes do not fit the config ({shape}): {listed}; pass the "
                          f"config the checkpoint was saved with")


def load_backpack(cls, name_or_path, *args, **kwargs):
    if os.path.isdir(str(name_or_path)) is False and str(name_or_path).startswith((".", "/")):
        raise LangAdaptError(f"{name_or_path}: no such folder; pass a save_pretrained folder or a hub id")
    config = kwargs.pop("config", None)
    if not isinstance(config, BackpackGPT2Config):
        config_kwargs = {k: kwargs[k] for k in ("revision", "token", "cache_dir", "local_files_only") if k in kwargs}
        try:
            config = BackpackGPT2Config.from_pretrained(name_or_path, **config_kwargs)
        except OSError as err:
            raise LangAdaptError(f"cannot read a config from {name_or_path}: {err}") from err
    want_info = kwargs.pop("output_loading_info", False)
    refuse_mismatch = not kwargs.pop("ignore_mismatched_sizes", False)
    try:  # mismatched shapes are let through here only to be named below
        model, info = PreTrainedModel.from_pretrained.__func__(
            cls, name_or_path, *args, config=config, output_loading_info=True, ignore_mismatched_sizes=True,
            **kwargs)
    except (OSError, RuntimeError, SafetensorError, EOFError, pickle.UnpicklingError) as err:
        unreadable = unreadable_weights(name_or_path, err)
        if unreadable is not None:
            raise unreadable from err
        if isinstance(err, OSError):
            raise LangAdaptError(f"{name_or_path}: no model weights found ({err})") from err
        raise
    tied = set(getattr(cls, "_tied_weights_keys", {}) or {})
    missing = [k for k in info.get("missing_keys", []) if k not in tied]
    shape = f"num_senses={config.num_senses}, n_embd={config.n_embd}, n_layer={config.n_layer}"
    if info.get("mismatched_keys") and refuse_mismatch:
        raise mismatched_shapes(name_or_path, info["mismatched_keys"], shape)
    if missing:
        raise LangAdaptError(f"{name_or_path}: checkpoint lacks weights for {_listed(missing)} "
                             f"(is it a Backpack checkpoint of this shape: {shape}?)")
    if info.get("unexpected_keys"):
        raise LangAdaptError(f"{name_or_path}: checkpoint holds weights the config ({shape}) has no place for: "
                             f"{_listed(info['unexpected_keys'])}")
    return (model, info) if want_info else model
