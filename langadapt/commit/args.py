"""Command line of commit_train.py: our flags, plus the EasyLM flags of the COMMIT README as aliases.

A pasted EasyLM command runs with only the script name changed: each dotted flag is another spelling of
one of our flags (`--optimizer.adamw_optimizer.lr` is `--lr`), `--load_checkpoint=params::PATH` names the
HF model, `--update_llama_config='{...}'` sets the dropouts and FCM, and flags that only make sense on a
TPU mesh or for EasyLM's own checkpoint format are accepted and ignored with one log line.
Defaults are the COMMIT README's values.
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import Optional, Sequence

from ..errors import LangAdaptError

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
    "bf16_momentum": "optax bf16 moments (use --bf16 for mixed precision)",
}


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
    parser = argparse.ArgumentParser(
        description="COMMIT: code-mixed instruction tuning (and code-mixed alignment) of a causal LM.",
        allow_abbrev=False)
    add = parser.add_argument

    def flag(*names, **kwargs):
        add(*names, type=parse_bool, nargs="?", const=True, metavar="BOOL", **kwargs)

    group = parser.add_argument_group("model and data")
    add = group.add_argument
    add("--model_name_or_path", help="HF model id or save_pretrained folder to start from")
    add("--load_checkpoint", help="EasyLM spelling of the model: params::PATH (PATH = HF model id or folder)")
    add("--tokenizer_name", "--tokenizer.vocab_file",
        help="tokenizer id or folder (default: the model's); a sentencepiece .model file is accepted")
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
    add("--seq_length", "--train_dataset.huggingface_dataset.seq_length", "--train_dataset.json_dataset.seq_length",
        type=int, default=512, help="tokens per packed row")
    flag("--add_bos_token", "--tokenizer.add_bos_token", default=True, help="BOS before each example")
    flag("--add_eos_token", "--tokenizer.add_eos_token", default=True, help="EOS after each example (trained)")

    group = parser.add_argument_group("code-mixing")
    add = group.add_argument
    add("--codemix_dict_path", "--train_dataset.text_processor.codemix_dict_path",
        help="MUSE dictionary (en-xx.txt for instruction tuning, xx-en.txt for alignment); none = no mixing")
    add("--codemix_ratio", "--train_dataset.text_processor.codemix_ratio", type=float, default=0.9,
        help="probability of replacing a dictionary word")
    flag("--block_codemix_in_template", "--train_dataset.text_processor.block_codemix_in_template", default=True,
         help="keep the English Alpaca template unmixed (False: naive code-mixing of the whole prompt)")

    group = parser.add_argument_group("optimisation")
    add = group.add_argument
    add("--batch_size", "--train_dataset.huggingface_dataset.batch_size", "--train_dataset.json_dataset.batch_size",
        type=int, default=16, help="rows per micro-step over all processes")
    add("--gradient_accumulation_steps", "--optimizer.accumulate_gradient_steps", type=int, default=1,
        help="micro-steps per optimiser step (global batch = batch_size x this)")
    add("--total_steps", type=int, default=1210, help="optimiser steps")
    add("--optimizer.type", dest="easylm_optimizer_type", default="adamw", help="only adamw")
    add("--lr", "--optimizer.adamw_optimizer.lr", type=float, default=2e-5, help="peak learning rate")
    add("--init_lr", "--optimizer.adamw_optimizer.init_lr", type=float, default=0.0, help="lr at step 0")
    add("--end_lr", "--optimizer.adamw_optimizer.end_lr", type=float, default=1e-7, help="lr after the decay")
    add("--warmup_steps", "--optimizer.adamw_optimizer.lr_warmup_steps", type=int, default=36)
    add("--lr_decay_steps", "--optimizer.adamw_optimizer.lr_decay_steps", type=int, default=1210,
        help="cosine decay length, counted after the warmup")
    add("--weight_decay", "--optimizer.adamw_optimizer.weight_decay", type=float, default=0.0)
    add("--b1", "--optimizer.adamw_optimizer.b1", type=float, default=0.9)
    add("--b2", "--optimizer.adamw_optimizer.b2", type=float, default=0.999)
    add("--clip_grad_norm", "--optimizer.adamw_optimizer.clip_gradient", type=float, default=1.0,
        help="global gradient-norm clip (0 = off)")
    add("--optimizer.adamw_optimizer.bf16_momentum", dest="bf16_momentum", type=parse_bool, nargs="?", const=True)
    flag("--bf16", default=False, help="bf16 mixed precision")
    flag("--fp16", default=False, help="fp16 mixed precision with loss scaling")
    flag("--fsdp", default=False,
         help="shard weights, gradients and optimiser state over the processes (FSDP2, one unit per decoder "
              "layer) instead of a full replica each: for 7B-class models; with --bf16, not --fp16")

    group = parser.add_argument_group("regularisation")
    add = group.add_argument
    add("--fcm_max_ratio", type=float, default=0.1, help="forgetful causal masking: max share of hidden keys")
    add("--fcm_min_ratio", type=float, default=0.0, help="forgetful causal masking: min share of hidden keys")
    add("--resid_pdrop", type=float, default=0.05, help="dropout on each sub-layer output")
    add("--embd_pdrop", type=float, default=0.05, help="dropout on the input embeddings")
    add("--attn_pdrop", type=float, default=0.05, help="dropout on the attention probabilities")
    add("--update_llama_config", help="EasyLM JSON of model options: dropouts and fcm ratios")

    group = parser.add_argument_group("run")
    add = group.add_argument
    add("--output_dir", "--logger.output_dir", help="run folder: checkpoints/, logs and the final model")
    flag("--overwrite_output_dir", default=False, help="replace a non-empty --output_dir")
    add("--save_steps", "--save_milestone_freq", type=int, default=1210, help="checkpoint every N steps (0 = off)")
    add("--save_total_limit", type=int, help="keep only the newest N checkpoints")
    add("--resume_from_checkpoint", nargs="?", const="latest",
        help="checkpoint folder to resume from, or no value for the latest one in --output_dir")
    add("--log_steps", "--log_freq", type=int, default=5000, help="log metrics every N steps (and at the end)")
    add("--report_to", choices=("none", "wandb"), default="none")
    add("--run_name", help="W&B run name")
    add("--seed", type=int, default=42)
    add("--log_level", default="INFO")
    add("--mesh_dim", dest="mesh_dim", help="ignored (TPU only)")
    add("--load_llama_config", dest="load_llama_config", help="ignored (the checkpoint's config is used)")
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    return resolve_args(build_parser().parse_args(argv))


def _model_path(load_checkpoint: str) -> str:
    if load_checkpoint.startswith("trainstate::"):
        raise LangAdaptError("--load_checkpoint=trainstate::... resumes an EasyLM run; use "
                             "--resume_from_checkpoint with a checkpoint of this script instead")
    for prefix in EASYLM_CHECKPOINT_PREFIXES:
        if load_checkpoint.startswith(prefix):
            return load_checkpoint[len(prefix):]
    return load_checkpoint


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
    args.mode = args.mode or "alpaca"


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fold the EasyLM spellings into our flags and check values; errors name the flag."""
    if args.load_checkpoint:
        args.model_name_or_path = _model_path(args.load_checkpoint)
    if not args.model_name_or_path:
        raise LangAdaptError("--model_name_or_path (or --load_checkpoint=params::PATH) is required")
    if not args.output_dir:
        raise LangAdaptError("--output_dir (or --logger.output_dir) is required")
    if args.update_llama_config:
        _apply_model_config(args)
    _resolve_mode(args)
    if args.easylm_optimizer_type.lower() != "adamw":
        raise LangAdaptError(f"--optimizer.type: only adamw is supported, got {args.easylm_optimizer_type!r}")
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
    if args.lr <= 0:
        raise LangAdaptError(f"--lr must be positive, got {args.lr}")
    if args.bf16 and args.fp16:
        raise LangAdaptError("--bf16 and --fp16 exclude each other")
    if args.fsdp and args.fp16:
        raise LangAdaptError("--fsdp trains in full precision or with --bf16; --fp16 loss scaling is not supported")
    return args
