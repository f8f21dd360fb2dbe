"""The model and tokenizer run_clm trains: a checkpoint, or a fresh model built from a config.

The seed command points --model_name_or_path at a folder holding only a config.json; such a folder (or
--config_name / --model_type without weights) means "pretrain from scratch", and the log says so.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from ..errors import LangAdaptError
from ..models import load_causal_lm, load_tokenizer, max_positions, parse_dtype, read_config_dict
from .arguments import ModelArguments

logger = logging.getLogger(__name__)

FLASH_ATTENTION = "flash_attention_2"
WEIGHT_FILE_PATTERNS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "*.bin.index.json")


def has_weights(name_or_path: Optional[str]) -> bool:
    """A local folder without weight files is a config to build from; a hub id is taken to have weights."""
    if not name_or_path:
        return False
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return any(any(path.glob(pattern)) for pattern in WEIGHT_FILE_PATTERNS)
    return not os.path.exists(name_or_path)


def hub_kwargs(model_args: ModelArguments, name_or_path: str) -> dict:
    if os.path.exists(os.path.expanduser(name_or_path)):
        return {}
    return {k: v for k, v in (("cache_dir", model_args.cache_dir), ("revision", model_args.model_revision),
                              ("token", model_args.token)) if v is not None}


def build_tokenizer(model_args: ModelArguments):
    source = model_args.tokenizer_name or model_args.model_name_or_path
    flag = "--tokenizer_name" if model_args.tokenizer_name else "--model_name_or_path"
    return load_tokenizer(source, flag, use_fast=model_args.use_fast_tokenizer, **hub_kwargs(model_args, source))


def attention_implementation(model_args: ModelArguments) -> Optional[str]:
    """--attn_implementation, or flash_attention_2 for the original's --use_flash_attn (which, unlike the
    original, does not quietly fall back to sdpa where flash-attn is missing)."""
    if not model_args.use_flash_attn:
        return model_args.attn_implementation
    if model_args.attn_implementation not in (None, FLASH_ATTENTION):
        raise LangAdaptError(f"conflicting flags: --use_flash_attn and --attn_implementation "
                             f"{model_args.attn_implementation}; pass one")
    from transformers.utils import is_flash_attn_2_available

    if not is_flash_attn_2_available():
        raise LangAdaptError("--use_flash_attn needs the flash-attn package and a CUDA GPU, which this machine "
                             "lacks; drop the flag (sdpa is the default) or install flash-attn")
    return FLASH_ATTENTION


def build_config(model_args: ModelArguments):
    """The config of a model built from scratch, with --config_overrides applied."""
    from transformers import AutoConfig, CONFIG_MAPPING

    source = model_args.config_name or model_args.model_name_or_path
    if source:
        read_config_dict(source)  # a clear error for a missing path or a folder without config.json
        config = AutoConfig.from_pretrained(source, trust_remote_code=False, **hub_kwargs(model_args, source))
    else:
        if model_args.model_type not in CONFIG_MAPPING:
            raise LangAdaptError(f"--model_type {model_args.model_type!r} is unknown; expected one of "
                                 f"{', '.join(sorted(CONFIG_MAPPING.keys()))}")
        config = CONFIG_MAPPING[model_args.model_type]()
    if model_args.config_overrides:
        try:
            config.update_from_string(model_args.config_overrides)
        except ValueError as err:
            raise LangAdaptError(f"--config_overrides {model_args.config_overrides!r}: {err}") from err
        logger.info("config overridden with %s", model_args.config_overrides)
    return config


def build_model(model_args: ModelArguments):
    """Load the checkpoint, or initialise a model from its config (seeded by the caller)."""
    from transformers import AutoModelForCausalLM

    if model_args.trust_remote_code:
        logger.warning("--trust_remote_code: accepted, but no code from the hub is executed; models load with "
                       "langadapt's and transformers' own code")
    attn_implementation = attention_implementation(model_args)
    if has_weights(model_args.model_name_or_path):
        if model_args.config_overrides:
            raise LangAdaptError("--config_overrides only applies to a model built from a config; "
                                 f"{model_args.model_name_or_path} holds trained weights")
        kwargs = hub_kwargs(model_args, model_args.model_name_or_path)
        if model_args.config_name and model_args.config_name != model_args.model_name_or_path:
            kwargs["config"] = build_config(model_args)  # as the original: its config, these weights
            logger.info("loading the weights of %s into the config of --config_name %s",
                        model_args.model_name_or_path, model_args.config_name)
        return _with_clear_attention_error(model_args, lambda: load_causal_lm(
            model_args.model_name_or_path, dtype=model_args.dtype, attn_implementation=attn_implementation,
            flag="--model_name_or_path", **kwargs))
    config = build_config(model_args)
    kwargs = {}
    if model_args.dtype not in (None, "auto"):
        kwargs["dtype"] = parse_dtype(model_args.dtype)
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = _with_clear_attention_error(
        model_args, lambda: AutoModelForCausalLM.from_config(config, trust_remote_code=False, **kwargs))
    logger.info("no weights at %s: initialised a new %s from its config (%s parameters)",
                model_args.model_name_or_path or model_args.config_name or model_args.model_type,
                type(model).__name__, f"{model.num_parameters():,}")
    return model


def _with_clear_attention_error(model_args: ModelArguments, make):
    try:
        return make()
    except (ImportError, ValueError) as err:
        if model_args.attn_implementation and ("attn" in str(err).lower() or "attention" in str(err).lower()):
            raise LangAdaptError(f"--attn_implementation {model_args.attn_implementation} is not usable here: "
                                 f"{' '.join(str(err).split())}") from err
        raise


def choose_block_size(requested: Optional[int], tokenizer, config) -> int:
    """--block_size, checked against the model's positions; by default as run_clm picks it."""
    positions = max_positions(config)
    if requested is not None:
        if positions is not None and requested > positions:
            raise LangAdaptError(f"--block_size {requested} exceeds the model's {positions} positions; pass "
                                 f"--block_size {positions} or less")
        return requested
    block_size = min(tokenizer.model_max_length, 1024)
    if positions is not None:
        block_size = min(block_size, positions)
    logger.info("--block_size not given: using %d", block_size)
    return block_size


def check_vocabulary(tokenizer, model) -> None:
    """Token ids past the embedding table would crash (or silently wrap on some kernels) mid-run."""
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        raise LangAdaptError(f"the tokenizer has {len(tokenizer)} tokens but the model embeds only {rows}; use "
                             f"the model's tokenizer or a config with vocab_size >= {len(tokenizer)} "
                             f"(--config_overrides vocab_size={len(tokenizer)} when training from scratch)")


def freeze_all_but_head(model) -> int:
    """Train only the output embedding (as the original --freeze_weights). With tied embeddings the head
    IS the input embedding, which therefore trains too. Returns the number of trainable parameters."""
    head = {id(p) for p in model.get_output_embeddings().parameters()}
    for parameter in model.parameters():
        parameter.requires_grad = id(parameter) in head
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    logger.info("--freeze_weights: training only the LM head (%s parameters)", f"{trainable:,}")
    return trainable


def count_shifted_labels(model) -> None:
    """The Trainer divides a loss by labels[..., 1:] (the L-1 next-token targets of a row) only for models
    whose `loss_type` is ForCausalLM; stock GPT-2 has none, so its losses were divided by L (31/32 low at
    block 32). Every model run_clm trains is a causal LM."""
    if getattr(model, "loss_type", None) is None:
        model.loss_type = "ForCausalLM"


def causal_label_smoother(model, factor: float):
    """A Trainer `compute_loss_func` for `--label_smoothing_factor` on a model transformers does not list as
    a causal LM (the Backpack): the Trainer shifts labels for smoothing only for the classes it lists, and
    would score every position against its own token (then divide by the L-1 shifted label count). None
    where the Trainer already shifts, or without smoothing."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    from transformers.trainer_pt_utils import LabelSmoother

    if not factor or type(model).__name__ in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values():
        return None
    smoother = LabelSmoother(epsilon=factor)

    def loss(outputs, labels, num_items_in_batch=None):
        return smoother(outputs, labels, shift_labels=True, num_items_in_batch=num_items_in_batch)
    return loss
