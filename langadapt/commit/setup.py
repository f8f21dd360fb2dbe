"""Build what a COMMIT run trains: the model with its dropouts, the tokenizer, the packed data stream."""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from ..data import load_any_dataset, require_columns
from ..errors import LangAdaptError
from ..models import is_backpack_checkpoint, load_causal_lm, load_tokenizer, max_positions, read_config_dict
from .codemix import CodeMixer, load_muse_dictionary
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
                           flag="--load_checkpoint" if args.load_checkpoint else "--model_name_or_path", **overrides)
    add_dropout_hooks(model, args.embd_pdrop, args.resid_pdrop)
    return model, {name: config.get(name) for name in overrides}


def load_training_tokenizer(args: argparse.Namespace):
    """`--tokenizer.vocab_file` may be EasyLM's sentencepiece `tokenizer.model`: converted to an HF
    tokenizer; when no such file is there, the checkpoint's own tokenizer is used (with a log line)."""
    name = args.tokenizer_name or args.model_name_or_path
    path = Path(name).expanduser()
    if path.is_file():
        return sentencepiece_tokenizer(path)
    if path.suffix == ".model" and not path.exists():
        logger.info("--tokenizer.vocab_file %s not found: using the tokenizer of %s", name, args.model_name_or_path)
        name = args.model_name_or_path
    return load_tokenizer(name, "--tokenizer_name" if name == args.tokenizer_name else "--model_name_or_path")


def sentencepiece_tokenizer(path: Path):
    """An HF tokenizer that encodes as the sentencepiece model does (EasyLM's LLaMATokenizer): a "▁" is
    always prepended, as sentencepiece's dummy prefix, even to a text that starts with a space. It is a
    plain `TokenizersBackend`, which saves and reloads its tokenizer.json as is: a `LlamaTokenizer`
    rebuilds its normaliser and pre-tokeniser on loading (Metaspace, one "▁" for a leading space)."""
    try:
        import sentencepiece
        from tokenizers import AddedToken, normalizers
        from transformers import LlamaTokenizer, PreTrainedTokenizerFast
    except ImportError as err:  # without it transformers silently builds a 3-token tokenizer
        raise LangAdaptError(f"--tokenizer.vocab_file {path}: reading a sentencepiece model needs the "
                             f"`sentencepiece` package (pip install sentencepiece)") from err
    model = sentencepiece.SentencePieceProcessor()
    try:
        model.Load(str(path))
    except (OSError, RuntimeError) as err:
        raise LangAdaptError(f"--tokenizer.vocab_file: {path} is not a sentencepiece model ({err}); pass "
                             f"a tokenizer.model, a tokenizer folder or a hub id") from err
    specials = {f"{kind}_token": model.id_to_piece(index) for kind, index in
                (("bos", model.bos_id()), ("eos", model.eos_id()), ("unk", model.unk_id())) if index >= 0}
    with tempfile.TemporaryDirectory() as folder:
        shutil.copyfile(path, Path(folder) / "tokenizer.model")
        tokenizer = LlamaTokenizer.from_pretrained(folder, **specials)
    backend = tokenizer.backend_tokenizer
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    backend.pre_tokenizer = None
    # EasyLM's (slow) tokenizer reads a special token's literal in a text as that token, strips the whitespace
    # on both sides of it, and encodes each text piece between them with its own dummy prefix (the Prepend)
    backend.add_special_tokens([AddedToken(token, special=True, lstrip=True, rstrip=True, normalized=False)
                                for token in specials.values()])
    # EasyLM pads with <unk>
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token=tokenizer.unk_token, **specials)
    if len(tokenizer) != model.get_piece_size():
        raise LangAdaptError(f"--tokenizer.vocab_file {path}: converted to {len(tokenizer)} tokens, the model "
                             f"has {model.get_piece_size()}")
    return tokenizer


def build_mixer(args: argparse.Namespace):
    if not args.codemix_dict_path:
        return None
    mixer = CodeMixer(load_muse_dictionary(args.codemix_dict_path), args.codemix_ratio)
    check_dictionary_direction(mixer, args.mode)
    logger.info("code-mixing with %s (%d source words), ratio %.3g%s", args.codemix_dict_path,
                len(mixer.dictionary), args.codemix_ratio,
                ", template blocked" if args.mode == "alpaca" and args.block_codemix_in_template else "")
    return mixer


def build_stream(args: argparse.Namespace, tokenizer, rank: int, world_size: int, mixer=None) -> PackedStream:
    dataset = load_any_dataset(args.dataset_name, args.dataset_config_name, split=args.dataset_split,
                               flags=("--dataset_name", "--dataset_config_name", "--dataset_split"))
    source = f"--dataset_name {args.dataset_name}"
    required = ["instruction", "output"] if args.mode == "alpaca" else [args.text_field]
    require_columns(dataset, required, source)
    encoder = ExampleEncoder(tokenizer, args.mode, text_field=args.text_field, mixer=mixer,
                             block_codemix_in_template=args.block_codemix_in_template,
                             add_bos_token=args.add_bos_token, add_eos_token=args.add_eos_token,
                             text_bos=args.text_add_bos_token, text_eos=args.text_add_eos_token,
                             train_first_response_token=args.train_first_response_token,
                             seed=args.seed, source=source)
    return PackedStream(dataset, encoder, args.seq_length, seed=args.seed, rank=rank, world_size=world_size,
                        shuffle=args.shuffle)
