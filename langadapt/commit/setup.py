"""Build what a COMMIT run trains: the model with its dropouts, the tokenizer, the packed data stream."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import torch

from ..codemix import CodeMixer, load_muse_dictionary
from ..data import load_any_dataset, require_columns
from ..errors import LangAdaptError
from ..models import is_backpack_checkpoint, load_causal_lm, load_tokenizer, max_positions, read_config_dict
from .data import ExampleEncoder, PackedStream, check_dictionary_direction
from .dropout import add_dropout_hooks, dropout_config_overrides

logger = logging.getLogger(__name__)


def load_training_model(args: argparse.Namespace) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model with COMMIT's dropouts; also returns the original values of the config fields changed,
    so the saved model keeps the configuration it came with."""
    config = read_config_dict(args.model_name_or_path)
    context = max_positions(config)
    if context and args.seq_length > context:
        raise LangAdaptError(f"--seq_length {args.seq_length} exceeds the model's context of {context} tokens")
    if args.fcm_max_ratio > 0 and is_backpack_checkpoint(args.model_name_or_path):
        raise LangAdaptError("--fcm_max_ratio: Backpack models take no custom attention mask; pass --fcm_max_ratio 0")
    overrides = dropout_config_overrides(config, args.embd_pdrop, args.attn_pdrop, args.resid_pdrop)
    # fp32 master weights whatever the checkpoint's dtype (transformers 5 loads "auto": a Llama-2 checkpoint
    # would train in fp16, where 2e-5 updates vanish); --bf16 only changes the compute dtype
    model = load_causal_lm(args.model_name_or_path, dtype=torch.float32, attn_implementation=args.attn_implementation,
                           **overrides)
    add_dropout_hooks(model, args.embd_pdrop, args.resid_pdrop)
    return model, {name: config.get(name) for name in overrides}


def load_training_tokenizer(args: argparse.Namespace):
    """`--tokenizer_name` may be EasyLM's `tokenizer.model` file: its folder holds the HF tokenizer files."""
    name = args.tokenizer_name or args.model_name_or_path
    path = Path(name).expanduser()
    if path.is_file():
        if not any((path.parent / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
            raise LangAdaptError(f"--tokenizer_name: {path} is a bare tokenizer file; pass a folder with the HF "
                                 f"tokenizer files (tokenizer.json / tokenizer_config.json), e.g. the model's")
        name = str(path.parent)
    return load_tokenizer(name)


def build_mixer(args: argparse.Namespace):
    if not args.codemix_dict_path:
        return None
    mixer = CodeMixer(load_muse_dictionary(args.codemix_dict_path), args.codemix_ratio)
    check_dictionary_direction(mixer, args.mode)
    logger.info("code-mixing with %s (%d source words), ratio %.3g%s", args.codemix_dict_path,
                len(mixer.dictionary), args.codemix_ratio,
                ", template blocked" if args.mode == "alpaca" and args.block_codemix_in_template else "")
    return mixer


def build_stream(args: argparse.Namespace, tokenizer, rank: int, world_size: int) -> PackedStream:
    dataset = load_any_dataset(args.dataset_name, args.dataset_config_name, split=args.dataset_split)
    source = f"--dataset_name {args.dataset_name}"
    required = ["instruction", "output"] if args.mode == "alpaca" else [args.text_field]
    require_columns(dataset, required, source)
    encoder = ExampleEncoder(tokenizer, args.mode, text_field=args.text_field, mixer=build_mixer(args),
                             block_codemix_in_template=args.block_codemix_in_template,
                             add_bos_token=args.add_bos_token, add_eos_token=args.add_eos_token,
                             seed=args.seed, source=source)
    return PackedStream(dataset, encoder, args.seq_length, seed=args.seed, rank=rank, world_size=world_size)
