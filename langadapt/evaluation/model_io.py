"""Load any causal LM for evaluation, with the dtype and device the user asked for."""
from __future__ import annotations

import argparse
import logging
from typing import Optional

from ..errors import LangAdaptError

logger = logging.getLogger(__name__)


def add_model_arguments(parser) -> None:
    """The model flags every evaluation script shares."""
    parser.add_argument("--model_path", required=True,
                        help="hub id or local folder of the model (Backpack or any HF causal LM)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    parser.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=False, help="evaluate in float16 (on GPU)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=False, help="evaluate in bfloat16 (on GPU)")


def resolve_dtype(fp16: bool, bf16: bool) -> Optional["torch.dtype"]:
    import torch

    if fp16 and bf16:
        raise LangAdaptError("--fp16 and --bf16 are exclusive; pass one of them")
    return torch.float16 if fp16 else torch.bfloat16 if bf16 else None


def resolve_device(device: Optional[str]) -> "torch.device":
    import torch

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        target = torch.device(device)
    except RuntimeError:
        raise LangAdaptError(f"--device {device}: not a device; use cpu, cuda or cuda:N") from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise LangAdaptError(f"--device {device}: CUDA is not available on this machine; use --device cpu")
    if target.type == "cuda" and target.index is not None and target.index >= torch.cuda.device_count():
        raise LangAdaptError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                             f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return target


def check_analysis_model(flag: str, value: str, tokenizer: tuple[str, Optional[str]] = ("", None)) -> None:
    """An analysis script's model (and tokenizer) flag, checked before its output folder and data."""
    from ..preflight import TOKENIZER_FILES, check_model_source, check_tokenizer_files

    check_model_source(flag, value)
    tokenizer_flag, tokenizer_path = tokenizer
    if tokenizer_path:
        check_model_source(tokenizer_flag, tokenizer_path, files=TOKENIZER_FILES)
    check_tokenizer_files(tokenizer_flag if tokenizer_path else flag, tokenizer_path or value)


def check_model_arguments(args: argparse.Namespace) -> "torch.device":
    """The flags of `add_model_arguments` checked before any data loads; returns the device to use."""
    from ..preflight import check_model_source, check_tokenizer_files

    check_model_source("--model_path", args.model_path)
    check_tokenizer_files("--model_path", args.model_path)
    resolve_dtype(args.fp16, args.bf16)
    return resolve_device(args.device)


def load_model_for_eval(model_path: str, device: Optional[str] = None, fp16: bool = False, bf16: bool = False,
                        flag: str = "--model_path", tokenizer: tuple[str, Optional[str]] = ("", None)):
    """(model in eval mode on `device`, tokenizer) through the library loader (Backpack or any HF LM).

    Half precision on CPU is slow and partly unsupported, so it is only applied on an accelerator. The
    tokenizer is the model's unless `tokenizer` names (flag, folder) of another.
    """
    from ..models import load_causal_lm, load_tokenizer
    from ..preflight import usable_precision

    target = resolve_device(str(device) if device is not None else None)
    dtype = resolve_dtype(fp16, bf16)
    if dtype is not None:
        asked = "bf16" if bf16 else "fp16"
        if usable_precision(asked, f"--{asked}", on_cpu=target.type == "cpu", cpu_bf16=False) == "no":
            dtype = None
    model = load_causal_lm(model_path, dtype=dtype, device=str(target), flag=flag)
    model.eval()
    tokenizer_flag, tokenizer_path = tokenizer
    return model, load_tokenizer(tokenizer_path or model_path, tokenizer_flag if tokenizer_path else flag)


def context_length(model, tokenizer) -> int:
    """The longest sequence the model accepts (positions table, else the tokenizer's limit)."""
    from ..models import max_positions

    positions = max_positions(model.config)
    if positions is not None:
        return positions
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 10**8 else 2048


def prefix_token_id(tokenizer) -> int:
    """Token that stands for "nothing before": BOS, else EOS (GPT-2's document separator)."""
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token is None:
        raise LangAdaptError("the tokenizer has neither a BOS nor an EOS token to start an empty context")
    return token
