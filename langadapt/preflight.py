"""Checks every script runs on its model, data and precision flags before the first expensive step.

A queued job whose model cannot load, whose dataset cannot be fetched offline or whose precision the
machine lacks must fail in its first seconds, not after an hour of corpus reading; each message reads
"<flag> <value>: what is wrong; the fix". Torch and the hub libraries are imported inside the functions.
"""
from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from .errors import LangAdaptError
from .local_paths import is_path_like, looks_local

logger = logging.getLogger(__name__)

TRUE_VALUES = ("1", "ON", "YES", "TRUE")
MODEL_FILES = ("config.json",)
# A tokenizer folder holds one of these (a fast tokenizer, a sentencepiece model, or GPT-2's vocabulary).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
# ... and one of these is its vocabulary (tokenizer_config.json alone holds none).
VOCABULARY_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model",
                    "sentencepiece.bpe.model", "tokenizer.tiktoken", "tekken.json")
SENTENCEPIECE_FAMILIES = ("llama", "mistral", "gemma", "t5", "xlm", "camembert", "albert", "marian")


def offline_variable(kind: str = "model") -> str:
    """The environment variable that switches the hub off for `kind` (model or dataset); "" when online."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if kind == "model" else ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    return next((name for name in names if os.environ.get(name, "").upper() in TRUE_VALUES), "")


def in_hub_cache(repo_id: str, kind: str = "model", cache_dir: str | None = None) -> bool:
    """Whether an earlier download left `repo_id` in the hub cache (or, for datasets, in datasets' own cache),
    where offline loading finds it."""
    from huggingface_hub import constants

    snapshots = Path(cache_dir or constants.HF_HUB_CACHE) / f"{kind}s--{repo_id.replace('/', '--')}" / "snapshots"
    if snapshots.is_dir() and any(snapshots.iterdir()):
        return True
    if kind != "dataset":
        return False
    datasets_cache = Path(os.environ.get("HF_DATASETS_CACHE") or Path(constants.HF_HOME) / "datasets")
    return datasets_cache.is_dir() and any(datasets_cache.glob(f"{repo_id.replace('/', '___')}*"))


def check_hub_reachable(flag: str, value: str, kind: str = "model", fix: str = "", cache_dir: str | None = None,
                        shown: str = "") -> None:
    """A hub id is refused offline unless it is cached: the load would fail only after the earlier stages ran."""
    variable = offline_variable(kind)
    if variable and not in_hub_cache(value, kind, cache_dir):
        raise LangAdaptError(f"{flag} {shown or value}: not a local path and {variable}=1, and not in the hub cache, "
                             f"so it cannot be downloaded; {fix or 'pass a local folder'} (or unset {variable})")


def check_model_source(flag: str, value: str, files: Sequence[str] = MODEL_FILES, cache_dir: str | None = None,
                       shown: str = "") -> None:
    """A model flag names a local folder holding one of `files`, or a hub id the hub (or its cache) can serve.

    `shown` is the value as the user typed it, where the path came out of it (`params::PATH`)."""
    shown = shown or value
    if not is_path_like(value):
        check_hub_reachable(flag, value, "model", cache_dir=cache_dir, shown=shown)
        return
    path = Path(value).expanduser()
    if not path.exists():
        raise LangAdaptError(f"{flag} {shown}: no such folder; pass a save_pretrained folder or a hub id")
    if not path.is_dir() or not any((path / name).is_file() for name in files):
        raise LangAdaptError(f"{flag} {shown}: not a model folder (it holds no {' or '.join(files)}); pass a "
                             f"save_pretrained folder or a hub id")


def check_tokenizer_files(flag: str, value: str) -> None:
    """A local tokenizer folder holds a vocabulary file. Without one, transformers asks to install
    sentencepiece (which is installed: the file is missing), or builds a 3-token tokenizer from a
    tokenizer_config.json alone without a word."""
    path = Path(value).expanduser()
    if not path.is_dir() or any((path / name).is_file() for name in VOCABULARY_FILES):
        return
    described = " ".join((path / name).read_text(encoding="utf-8", errors="replace").lower()
                         for name in ("tokenizer_config.json", "config.json") if (path / name).is_file())
    missing = "tokenizer.model (the sentencepiece model)" if any(family in described for family in
                                                                 SENTENCEPIECE_FAMILIES) else "tokenizer.json"
    raise LangAdaptError(f"{flag} {value}: {missing} is missing: the folder holds no tokenizer vocabulary; copy the "
                         f"tokenizer files of the model it came from into it, or pass a tokenizer folder")


def check_dataset_source(flag: str, value: str, fix: str = "") -> None:
    """A dataset flag names an existing local file or folder, or a hub id the hub (or its cache) can serve."""
    if looks_local(value):
        check_path_or_hub_id(flag, value, kind=None)
        check_data_file(flag, value)
    else:
        check_hub_reachable(flag, value, "dataset", fix=fix or "pass a local file or folder")


def check_path_or_hub_id(flag: str, value: str, kind: str | None, cache_dir: str | None = None) -> None:
    """A path-like value must exist; anything else is a hub id of `kind` (None: paths only)."""
    if kind is not None and not is_path_like(value):
        check_hub_reachable(flag, value, kind, cache_dir=cache_dir)
    elif not Path(value).expanduser().exists():
        raise LangAdaptError(f"{flag} {value}: no such file or folder; pass an existing path"
                             f"{' or a hub id' if kind else ''}")


def check_data_file(flag: str, value: str) -> None:
    """A local data file has a type `datasets` reads and holds something: found out now, not after the model
    loaded (a folder is left to the loader, which works out what it holds)."""
    from .data import builder_for_file

    path = Path(value).expanduser()
    if not path.is_file():
        return
    try:
        builder_for_file(path)
    except LangAdaptError as err:
        raise LangAdaptError(f"{flag} {err}; rename the file with the suffix of its format") from None
    if path.stat().st_size < (1 << 20) and path.read_bytes().strip() in (b"", b"[]", b"{}"):  # small files only
        raise LangAdaptError(f"{flag} {value}: the file holds no rows; pass a file that holds the data")


def has_accelerator() -> bool:
    """Whether torch sees a GPU (CUDA or XPU) to run half precision on."""
    import torch

    return torch.cuda.is_available() or (hasattr(torch, "xpu") and torch.xpu.is_available())


@lru_cache(maxsize=None)
def warn_once(message: str) -> None:
    logger.warning(message)


def usable_precision(precision: str, flag: str, on_cpu: bool, cpu_bf16: bool = True, fp16_flag: str = "--fp16") -> str:
    """The precision ("fp16", "bf16", "no") this machine runs for one asked for with `flag`.

    The same rule in every script, so no run silently trains in a precision it did not ask for: fp16 on a
    CPU falls back to fp32 with a warning (fp16 needs a GPU); bf16 on a CPU runs as bf16 autocast (or fp32
    where `cpu_bf16` is False, evaluation) with a warning; bf16 on a GPU without bf16 support is refused.
    """
    if precision == "no":
        return "no"
    if on_cpu:
        if precision == "fp16" or not cpu_bf16:
            warn_once(f"{flag}: no GPU in use, so this run falls back to fp32 ({precision} needs a GPU)")
            return "no"
        warn_once(f"{flag}: no GPU in use: bf16 autocast on the CPU (slow; drop {flag} for fp32)")
        return "bf16"
    import torch

    if precision == "bf16" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise LangAdaptError(f"{flag}: this GPU ({torch.cuda.get_device_name()}) has no bf16 support; pass "
                             f"{fp16_flag} instead (or neither, for fp32)")
    return precision
