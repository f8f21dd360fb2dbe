"""Command line of commit_train.py: our flags, plus the EasyLM flags of the COMMIT README as aliases.

A pasted EasyLM command runs with only the script name changed: each dotted flag is another spelling of
one of our flags (`--optimizer.adamw_optimizer.lr` is `--lr`), `--load_checkpoint=params::PATH` names the
HF model, `--update_llama_config='{...}'` sets the dropouts and FCM, and flags that only make sense on a
TPU mesh or for EasyLM's own checkpoint format are accepted and ignored with one log line.
Defaults are the COMMIT README's values; a command written with EasyLM's flags gets EasyLM's defaults for
the flags it leaves out (dropping `--update_llama_config` then trains without dropout or FCM, as there).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..cli import make_parser
from ..data import parse_split
from ..errors import LangAdaptError
from ..preflight import TOKENIZER_FILES, check_dataset_source, check_model_source, check_tokenizer_files
from .codemix import missing_dictionary

logger = logging.getLogger(__name__)

EASYLM_CHECKPOINT_PREFIXES = ("params::", "trainstate_params::")
EASYLM_MODEL_KEYS = ("resid_pdrop", "embd_pdrop", "attn_pdrop", "fcm_max_ratio", "fcm_min_ratio")
# EasyLM model options for JAX memory layout / TPU scans: no meaning for an HF model.
EASYLM_IGNORED_MODEL_KEYS = ("scan_attention", "scan_mlp", "scan_query_chunk_size", "scan_key_chunk_size",
                             "scan_mlp_chunk_size", "remat_block", "remat_attention", "remat_mlp",
                             "scan_layers", "param_scan_axis")
IGNORED_FLAGS = {
    "mesh_dim": "TPU device mesh (use torchrun / accelerate launch for parallelism)",
    "load_llama_config": "model size preset (the configuration is read from the checkpoint)",
}
# Flags whose default differs: the COMMIT README's command, and EasyLM's code (llama_train.py FLAGS,
# AdamWOptimizerFactory, HuggingfaceDataset, TextProcessor, LLaMAConfig, the tokenizer config).
COMMIT_DEFAULTS = dict(total_steps=1210, lr=2e-5, end_lr=1e-7, warmup_steps=36, lr_decay_steps=1210, b2=0.999,
                       weight_decay=0.0, bf16_momentum=True, seq_length=512, batch_size=16, add_bos_token=True,
                       add_eos_token=True, codemix_ratio=0.9, block_codemix_in_template=True, resid_pdrop=0.05,
                       embd_pdrop=0.05, attn_pdrop=0.05, fcm_max_ratio=0.1, save_steps=1210, log_steps=5000)
EASYLM_DEFAULTS = dict(total_steps=10000, lr=0.01, end_lr=0.001, warmup_steps=2000, lr_decay_steps=500000, b2=0.95,
                       weight_decay=1e-4, bf16_momentum=False, seq_length=1024, batch_size=8, add_bos_token=False,
                       add_eos_token=False, codemix_ratio=0.0, block_codemix_in_template=False, resid_pdrop=0.0,
                       embd_pdrop=0.0, attn_pdrop=0.0, fcm_max_ratio=0.0, save_steps=0, log_steps=50)
EASYLM_TOP_LEVEL_FLAGS = ("--load_checkpoint", "--update_llama_config", "--log_freq", "--save_milestone_freq",
                          "--mesh_dim", "--load_llama_config")


def uses_easylm_flags(argv: Sequence[str]) -> bool:
    """Whether a command is written with EasyLM's flags (dotted names such as `--optimizer.type`)."""
    names = [arg.split("=", 1)[0] for arg in argv if arg.startswith("--")]
    return any("." in name or name in EASYLM_TOP_LEVEL_FLAGS for name in names)


def parse_bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser("COMMIT: code-mixed instruction tuning (and code-mixed alignment) of a causal LM.")
    add = parser.add_argument

    def flag(*names, **kwargs):
        """EasyLM's `--name=True/False` (a bare `--name` is True) and `--no-name`."""
        add(*names, type=parse_bool, nargs="?", const=True, metavar="BOOL", **kwargs)
        dest = kwargs.get("dest") or names[0][2:].replace(".", "_")
        add(f"--no-{names[0][2:]}", dest=dest, action="store_const", const=False, help=argparse.SUPPRESS)

    def seeded(adder, *names, dest, help="", **kwargs):
        """A flag defaulting to the COMMIT README's value, or EasyLM's in an EasyLM-style command."""
        adder(*names, dest=dest, default=None, **kwargs,
              help=f"{help} (default {COMMIT_DEFAULTS[dest]}; {EASYLM_DEFAULTS[dest]} in an EasyLM-style command)")

    group = parser.add_argument_group("model and data")
    add = group.add_argument
    add("--model_name_or_path", help="HF model id or save_pretrained folder to start from")
    add("--load_checkpoint", help="EasyLM spelling of the model: params::PATH (PATH = HF model id or folder)")
    add("--tokenizer_name", "--tokenizer.vocab_file",
        help="tokenizer id or folder (default: the model's), or a sentencepiece .model file (EasyLM's "
             "tokenizer.model, converted); a .model path that does not exist falls back to the model's")
    add("--attn_implementation", default="sdpa", help="attention kernel: sdpa (default), eager, flash_attention_2")
    add("--dataset_name", "--train_dataset.huggingface_dataset.path", "--train_dataset.json_dataset.path",
        default="tatsu-lab/alpaca", help="hub id or local json/jsonl/parquet/txt file or save_to_disk folder")
    add("--dataset_config_name", "--train_dataset.huggingface_dataset.name", help="dataset configuration")
    add("--dataset_split", "--train_dataset.huggingface_dataset.split", default="train")
    add("--mode", choices=("alpaca", "text"),
        help="alpaca: instruction tuning, loss on the response; text: causal LM on --text_field (alignment)")
    flag("--train_dataset.text_processor.alpaca", dest="easylm_alpaca", help="EasyLM spelling of --mode alpaca")
    add("--train_dataset.text_processor.fields", dest="easylm_fields",
        help="EasyLM spelling of --mode text --text_field FIELD (a single field)")
    add("--text_field", default="text", help="column trained on in text mode")
    add("--train_dataset.type", dest="easylm_dataset_type", help="EasyLM dataset type: huggingface or json")
    seeded(add, "--seq_length", "--train_dataset.huggingface_dataset.seq_length",
           "--train_dataset.json_dataset.seq_length", dest="seq_length", type=int, help="tokens per packed row")
    seeded(flag, "--add_bos_token", "--tokenizer.add_bos_token", dest="add_bos_token",
           help="the tokenizer puts BOS before each text it encodes")
    seeded(flag, "--add_eos_token", "--tokenizer.add_eos_token", dest="add_eos_token",
           help="the tokenizer puts EOS after each text it encodes (trained)")
    flag("--text_add_bos_token", "--train_dataset.text_processor.add_bos_token", default=True,
         help="text mode: the processor's own untrained BOS before each example, ahead of the tokenizer's")
    flag("--text_add_eos_token", "--train_dataset.text_processor.add_eos_token", default=True,
         help="text mode: the processor's own EOS after each example, behind the tokenizer's")
    flag("--train_first_response_token", default=False,
         help="alpaca mode: train the response's first token too (EasyLM's mask covers the prompt's token "
              "count with BOS and EOS, one past the prompt, leaving it untrained)")
    flag("--shuffle", default=False, help="shuffle the examples each epoch (EasyLM reads them in file order)")

    group = parser.add_argument_group("code-mixing")
    add = group.add_argument
    add("--codemix_dict_path", "--train_dataset.text_processor.codemix_dict_path",
        help="MUSE dictionary (en-xx.txt for instruction tuning, xx-en.txt for alignment); none = no mixing")
    seeded(add, "--codemix_ratio", "--train_dataset.text_processor.codemix_ratio", dest="codemix_ratio",
           type=float, help="probability of replacing a dictionary word")
    seeded(flag, "--block_codemix_in_template", "--train_dataset.text_processor.block_codemix_in_template",
           dest="block_codemix_in_template",
           help="keep the English Alpaca template unmixed (False: naive code-mixing of the whole prompt)")

    group = parser.add_argument_group("optimisation")
    add = group.add_argument
    seeded(add, "--batch_size", "--train_dataset.huggingface_dataset.batch_size",
           "--train_dataset.json_dataset.batch_size", dest="batch_size", type=int,
           help="rows per micro-step over all processes")
    add("--gradient_accumulation_steps", "--optimizer.accumulate_gradient_steps", type=int, default=1,
        help="micro-steps per optimiser step (global batch = batch_size x this)")
    seeded(add, "--total_steps", dest="total_steps", type=int,
           help="micro-steps (batches), as EasyLM: with accumulation k the optimiser steps total_steps / k times")
    add("--optimizer.type", dest="easylm_optimizer_type", default="adamw", help="only adamw")
    seeded(add, "--lr", "--optimizer.adamw_optimizer.lr", dest="lr", type=float, help="peak learning rate")
    add("--init_lr", "--optimizer.adamw_optimizer.init_lr", type=float, default=0.0, help="lr at step 0")
    seeded(add, "--end_lr", "--optimizer.adamw_optimizer.end_lr", dest="end_lr", type=float,
           help="lr at the end of the decay")
    seeded(add, "--warmup_steps", "--optimizer.adamw_optimizer.lr_warmup_steps", dest="warmup_steps", type=int,
           help="optimiser steps of linear warmup")
    seeded(add, "--lr_decay_steps", "--optimizer.adamw_optimizer.lr_decay_steps", dest="lr_decay_steps", type=int,
           help="optimiser step at which the cosine reaches end_lr, warmup included (optax's decay_steps)")
    seeded(add, "--weight_decay", "--optimizer.adamw_optimizer.weight_decay", dest="weight_decay", type=float,
           help="decoupled weight decay, on every parameter as EasyLM's LLaMA mask")
    add("--b1", "--optimizer.adamw_optimizer.b1", type=float, default=0.9)
    seeded(add, "--b2", "--optimizer.adamw_optimizer.b2", dest="b2", type=float, help="Adam's b2")
    add("--clip_grad_norm", "--optimizer.adamw_optimizer.clip_gradient", type=float, default=1.0,
        help="global gradient-norm clip (0 = off)")
    seeded(flag, "--bf16_momentum", "--optimizer.adamw_optimizer.bf16_momentum", dest="bf16_momentum",
           help="keep Adam's first moment rounded to bf16 after each step, as optax's mu_dtype")
    flag("--bf16", default=False, help="bf16 mixed precision")
    flag("--fp16", default=False, help="fp16 mixed precision with loss scaling")
    flag("--fsdp", default=False,
         help="shard weights, gradients and optimiser state over the processes (FSDP2, one unit per decoder "
              "layer) instead of a full replica each: for 7B-class models; with --bf16, not --fp16")

    group = parser.add_argument_group("regularisation")
    add = group.add_argument
    seeded(add, "--fcm_max_ratio", dest="fcm_max_ratio", type=float,
           help="forgetful causal masking: max share of hidden keys")
    add("--fcm_min_ratio", type=float, default=0.0, help="forgetful causal masking: min share of hidden keys")
    seeded(add, "--resid_pdrop", dest="resid_pdrop", type=float, help="dropout on each sub-layer output")
    seeded(add, "--embd_pdrop", dest="embd_pdrop", type=float, help="dropout on the input embeddings")
    seeded(add, "--attn_pdrop", dest="attn_pdrop", type=float, help="dropout on the attention probabilities")
    add("--update_llama_config", help="EasyLM JSON of model options: dropouts and fcm ratios")

    group = parser.add_argument_group("run")
    add = group.add_argument
    add("--output_dir", "--logger.output_dir", help="run folder: checkpoints/, logs and the final model")
    flag("--overwrite_output_dir", default=False, help="replace a non-empty --output_dir")
    seeded(add, "--save_steps", "--save_milestone_freq", dest="save_steps", type=int,
           help="checkpoint every N steps (0 = off)")
    add("--save_total_limit", type=int, help="keep only the newest N checkpoints")
    add("--resume_from_checkpoint", nargs="?", const="latest",
        help="checkpoint folder to resume from, or no value for the latest one in --output_dir")
    seeded(add, "--log_steps", "--log_freq", dest="log_steps", type=int,
           help="log metrics every N steps (and at the end)")
    add("--report_to", choices=("none", "wandb"), default="none")
    add("--run_name", help="W&B run name")
    add("--seed", type=int, default=42)
    add("--log_level", default="INFO")
    add("--mesh_dim", dest="mesh_dim", help="ignored (TPU only)")
    add("--load_llama_config", dest="load_llama_config", help="ignored (the checkpoint's config is used)")
    return parser


def parse_flags(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The parsed command, not yet resolved; remembers whether it is written with EasyLM's flags."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.easylm_command = uses_easylm_flags(argv)
    return args


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    return resolve_args(parse_flags(argv))


def _model_path(load_checkpoint: str) -> str:
    if load_checkpoint.startswith("trainstate::"):
        raise LangAdaptError("--load_checkpoint=trainstate::... resumes an EasyLM run; use "
                             "--resume_from_checkpoint with a checkpoint of this script instead")
    for prefix in EASYLM_CHECKPOINT_PREFIXES:
        if load_checkpoint.startswith(prefix):
            return load_checkpoint[len(prefix):]
    return load_checkpoint


def check_commit_sources(args: argparse.Namespace) -> None:
    """The model, tokenizer, data and dictionary flags name things that exist: the run's first step (not
    `resolve_args`'s, which only reads a command)."""
    flag = "--load_checkpoint" if args.load_checkpoint else "--model_name_or_path"
    check_model_source(flag, args.model_name_or_path, shown=args.load_checkpoint or "")
    tokenizer = args.tokenizer_name
    if tokenizer and not Path(tokenizer).expanduser().is_file() and not tokenizer.endswith(".model"):
        check_model_source("--tokenizer_name", tokenizer, files=TOKENIZER_FILES)  # (a missing .model falls back)
        check_tokenizer_files("--tokenizer_name", tokenizer)
    elif not tokenizer or not Path(tokenizer).expanduser().is_file():
        check_tokenizer_files(flag, args.model_name_or_path)
    check_dataset_source("--dataset_name", args.dataset_name)
    parse_split(args.dataset_split, "--dataset_split")
    if args.codemix_dict_path and not Path(args.codemix_dict_path).expanduser().is_file():
        missing_dictionary(args.codemix_dict_path)


def _apply_model_config(args: argparse.Namespace) -> None:
    try:
        updates = json.loads(args.update_llama_config)
    except json.JSONDecodeError as err:
        raise LangAdaptError(f"--update_llama_config: expected a JSON object, got "
                             f"{args.update_llama_config!r} ({err})") from err
    if not isinstance(updates, dict):
        raise LangAdaptError("--update_llama_config: expected a JSON object such as '{\"fcm_max_ratio\": 0.1}'")
    unknown = [key for key in updates if key not in EASYLM_MODEL_KEYS + EASYLM_IGNORED_MODEL_KEYS]
    if unknown:
        raise LangAdaptError(f"--update_llama_config: unsupported key(s) {', '.join(unknown)}; "
                             f"supported: {', '.join(EASYLM_MODEL_KEYS)}")
    for key in EASYLM_MODEL_KEYS:
        if key in updates:
            setattr(args, key, float(updates[key]))
    ignored = [key for key in updates if key in EASYLM_IGNORED_MODEL_KEYS]
    if ignored:
        logger.info("ignoring EasyLM memory-layout options in --update_llama_config: %s", ", ".join(ignored))


def _resolve_mode(args: argparse.Namespace) -> None:
    if args.easylm_fields is not None:
        field_spec = args.easylm_fields.strip().strip("'\"")
        if not field_spec or any(c in field_spec for c in ",[]+"):
            raise LangAdaptError(f"--train_dataset.text_processor.fields: only a single field name is supported, "
                                 f"got {args.easylm_fields!r}; use --mode alpaca for instruction data")
        args.text_field = field_spec
        if args.mode is None and not args.easylm_alpaca:
            args.mode = "text"
    if args.easylm_alpaca:
        if args.mode == "text":
            raise LangAdaptError("--train_dataset.text_processor.alpaca=True contradicts --mode text")
        args.mode = "alpaca"
    if args.mode is None and getattr(args, "easylm_command", False):
        raise LangAdaptError("--train_dataset.text_processor.alpaca=True or --train_dataset.text_processor.fields"
                             "=FIELD is required (EasyLM asserts one of them)")
    args.mode = args.mode or "alpaca"


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fold the EasyLM spellings into our flags and check values; errors name the flag."""
    defaults = EASYLM_DEFAULTS if getattr(args, "easylm_command", False) else COMMIT_DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.load_checkpoint:
        args.model_name_or_path = _model_path(args.load_checkpoint)
    if not args.model_name_or_path:
        raise LangAdaptError("--model_name_or_path (or --load_checkpoint=params::PATH) is required")
    if not args.output_dir:
        raise LangAdaptError("--output_dir (or --logger.output_dir) is required")
    if args.update_llama_config:
        _apply_model_config(args)
    if args.easylm_optimizer_type.lower() != "adamw":
        raise LangAdaptError(f"--optimizer.type: only adamw is supported, got {args.easylm_optimizer_type!r}")
    _resolve_mode(args)
    if args.easylm_dataset_type is not None and args.easylm_dataset_type.strip("'\"") not in ("huggingface", "json"):
        raise LangAdaptError(f"--train_dataset.type: expected huggingface or json, got {args.easylm_dataset_type!r}")
    ignored = [f"--{name} ({why})" for name, why in IGNORED_FLAGS.items() if getattr(args, name) is not None]
    if ignored:
        logger.info("ignoring EasyLM/TPU-only flags: %s", "; ".join(ignored))
    if not 0.0 <= args.codemix_ratio <= 1.0:
        raise LangAdaptError(f"--codemix_ratio must be within [0, 1], got {args.codemix_ratio}")
    for name in ("seq_length", "batch_size", "gradient_accumulation_steps", "total_steps"):
        if getattr(args, name) <= 0:
            raise LangAdaptError(f"--{name} must be positive, got {getattr(args, name)}")
    for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
        if not 0.0 <= getattr(args, name) < 1.0:
            raise LangAdaptError(f"--{name} must be within [0, 1), got {getattr(args, name)}")
    if args.save_steps > 0 and args.save_steps % args.gradient_accumulation_steps:
        raise LangAdaptError(f"--save_steps {args.save_steps} must be a multiple of --gradient_accumulation_steps "
                             f"{args.gradient_accumulation_steps}: a checkpoint holds no half-accumulated gradient")
    if not 0 <= args.warmup_steps < args.lr_decay_steps:
        raise LangAdaptError(f"--lr_decay_steps {args.lr_decay_steps} must exceed --warmup_steps {args.warmup_steps} "
                             f"(>= 0): optax counts the warmup in the decay length")
    if args.lr <= 0:
        raise LangAdaptError(f"--lr must be positive, got {args.lr}")
    if args.bf16 and args.fp16:
        raise LangAdaptError("--bf16 and --fp16 exclude each other")
    if args.fsdp and args.fp16:
        raise LangAdaptError("--fsdp trains in full precision or with --bf16; --fp16 loss scaling is not supported")
    return args
