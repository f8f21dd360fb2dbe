"""`run_clm.py --help` without importing transformers: the seed command's flags first, then the model and
data flags, then the TrainingArguments flags researchers use most. `--help_all` prints transformers' full
list (about 150 more flags, and it takes seconds). A test checks these defaults against TrainingArguments."""
from __future__ import annotations

import argparse
import dataclasses

from ..cli import make_parser
from .model_data_flags import DataTrainingArguments, ModelArguments

# (flag, default, help) of the TrainingArguments flags shown by the quick help.
TRAINING_FLAGS = (
    ("output_dir", None, "run folder: checkpoints, the final model, run.json and the metrics"),
    ("overwrite_output_dir", False, "start over in a non-empty --output_dir, deleting what it holds"),
    ("resume_from_checkpoint", None, "resume from this checkpoint folder; with no value, from the latest one in "
                                     "--output_dir (a fresh start where there is none)"),
    ("do_train", False, "train"),
    ("do_eval", False, "evaluate on the validation split (loss and perplexity)"),
    ("per_device_train_batch_size", 8, "blocks per device per forward pass"),
    ("per_device_eval_batch_size", 8, "blocks per device per evaluation forward pass"),
    ("gradient_accumulation_steps", 1, "forward passes per optimiser step"),
    ("learning_rate", 5e-05, "AdamW peak learning rate"),
    ("weight_decay", 0.0, "AdamW weight decay"),
    ("warmup_ratio", None, "fraction of the steps spent in linear warm-up"),
    ("warmup_steps", 0, "warm-up steps (a value below 1 is a fraction of the steps)"),
    ("lr_scheduler_type", "linear", "learning-rate schedule after warm-up (linear, cosine, constant, ...)"),
    ("num_train_epochs", 3.0, "epochs, when --max_steps is not given"),
    ("max_steps", -1, "optimiser steps (overrides --num_train_epochs)"),
    ("bf16", False, "bf16 mixed precision"),
    ("fp16", False, "fp16 mixed precision (CUDA)"),
    ("gradient_checkpointing", None, "recompute activations in the backward pass to save memory"),
    ("eval_strategy", "no", "when to evaluate: no, steps or epoch (old name: --evaluation_strategy)"),
    ("eval_steps", None, "evaluate every N steps with --eval_strategy steps (default: --logging_steps)"),
    ("logging_steps", 500, "log the training loss every N steps"),
    ("save_steps", 500, "checkpoint every N steps"),
    ("save_total_limit", None, "checkpoints kept (oldest deleted first)"),
    ("report_to", "none", "where to log: none, wandb, tensorboard, all"),
    ("run_name", None, "run name for W&B and the other loggers"),
    ("seed", 42, "seed for initialisation, dropout and data order"),
    ("use_cpu", False, "train on the CPU even where a GPU is present"),
)

SEED_FLAGS = ("model_name_or_path", "config_name", "tokenizer_name", "dataset_name", "per_device_train_batch_size",
              "per_device_eval_batch_size", "bf16", "gradient_accumulation_steps", "warmup_ratio", "weight_decay",
              "do_train", "do_eval", "output_dir", "max_steps", "block_size", "report_to", "run_name",
              "logging_steps", "save_steps", "save_total_limit")


def _flags_of(dataclass) -> list[tuple[str, object, str]]:
    return [(f.name, f.default, f.metadata.get("help", "")) for f in dataclasses.fields(dataclass)]


def quick_help_parser() -> argparse.ArgumentParser:
    """A parser used only to print help: parsing stays with transformers' HfArgumentParser."""
    parser = make_parser(
        "Pretrain or retune a Backpack (or any causal LM) with transformers' run_clm flags.",
        prog="run_clm.py", usage="%(prog)s [flags] | %(prog)s flags.json",
        epilog="Every other transformers TrainingArguments flag is accepted too: --help_all lists them. A single "
               "argument ending in .json is read as the flags.")
    groups = {"seed": parser.add_argument_group("the seed README's pretraining flags"),
              "model": parser.add_argument_group("model"), "data": parser.add_argument_group("data"),
              "training": parser.add_argument_group("training (the common TrainingArguments flags)")}
    sources = [("model", _flags_of(ModelArguments)), ("data", _flags_of(DataTrainingArguments)),
               ("training", TRAINING_FLAGS)]
    for group, flags in sources:
        for name, default, text in flags:
            target = groups["seed" if name in SEED_FLAGS else group]
            shape = {"action": "store_true"} if default is False else {"metavar": name.split("_")[-1].upper()}
            target.add_argument(f"--{name}", default=default, help=text.replace("%%", "%").replace("%", "%%"),
                                **shape)
    return parser
