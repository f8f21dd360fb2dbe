"""run_clm's flags: transformers' run_clm argument groups plus the flags transformers 5 dropped.

Researchers paste run_clm command lines written for transformers 4 (`--overwrite_output_dir`,
`--evaluation_strategy`, `--warmup_ratio`), so those still parse and mean what they used to mean.
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from transformers import HfArgumentParser, TrainingArguments

from ..cli import DefaultsOnceFormatter
from ..errors import LangAdaptError
from ..preflight import (TOKENIZER_FILES, check_data_file, check_dataset_source, check_model_source,
                         check_path_or_hub_id, check_tokenizer_files, has_accelerator, usable_precision)
from .model_data_flags import RESUME_LATEST, DataTrainingArguments, ModelArguments

logger = logging.getLogger(__name__)
POSITIVE_SIZES = ("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                  "eval_accumulation_steps")

@dataclass
class ClmTrainingArguments(TrainingArguments):
    """TrainingArguments plus the transformers-4 spellings our users still pass."""

    overwrite_output_dir: bool = field(default=False, metadata={
        "help": "Start over in a non-empty --output_dir, deleting what it holds (removed in transformers 5; kept here)."})
    evaluation_strategy: Optional[str] = field(default=None, metadata={
        "help": "Old name of --eval_strategy (no, steps, epoch)."})
    warmup_ratio: Optional[float] = field(default=None, metadata={
        "help": "Fraction of --max_steps used for linear LR warmup (old flag; same as a --warmup_steps < 1)."})
    resume_from_checkpoint: Optional[str] = field(default=None, metadata={
        "nargs": "?", "const": RESUME_LATEST,
        "help": "Resume from this checkpoint folder; with no value, from the latest one in --output_dir."})

    def __post_init__(self):
        if self.evaluation_strategy is not None:
            if str(self.eval_strategy) not in ("no", "IntervalStrategy.NO") and \
                    str(self.eval_strategy) != self.evaluation_strategy:
                raise LangAdaptError(f"conflicting flags: --evaluation_strategy {self.evaluation_strategy} and "
                                     f"--eval_strategy {self.eval_strategy}; pass one")
            self.eval_strategy = self.evaluation_strategy
        if self.warmup_ratio is not None:
            if not 0 <= self.warmup_ratio < 1:
                raise LangAdaptError(f"--warmup_ratio must lie in [0, 1), got {self.warmup_ratio}")
            if self.warmup_steps:
                raise LangAdaptError("conflicting flags: --warmup_ratio and --warmup_steps; pass one")
            self.warmup_steps = self.warmup_ratio
        if self.resume_from_checkpoint is True or str(self.resume_from_checkpoint).lower() == "true":
            self.resume_from_checkpoint = RESUME_LATEST
        elif self.resume_from_checkpoint is False or str(self.resume_from_checkpoint).lower() == "false":
            self.resume_from_checkpoint = None
        self._precision_for_this_machine()
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not self.use_cpu and not has_accelerator():
            # Without use_cpu the Trainer sets up no process group on a GPU-less machine: every torchrun
            # process would train alone, all of them into one --output_dir.
            logger.warning("%s processes and no GPU: training data-parallel on the CPU (gloo)",
                           os.environ["WORLD_SIZE"])
            self.use_cpu = True
        if self.use_cpu and self.ddp_backend is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            self.ddp_backend = "gloo"
        if self.disable_tqdm is None and not sys.stderr.isatty():
            self.disable_tqdm = True  # in a log file: one line per --logging_steps instead of a bar per step
        if self.use_cpu or not has_accelerator():
            self.dataloader_pin_memory = False  # pinning needs an accelerator (else a warning every run)
        super().__post_init__()

    def _precision_for_this_machine(self) -> None:
        """--fp16 / --bf16 as every script treats them (`usable_precision`); the Trainer itself would run
        fp16 on a CPU without a word. bf16 on a GPU-less machine needs use_cpu for its CPU autocast."""
        on_cpu = self.use_cpu or not has_accelerator()
        for name in ("bf16", "bf16_full_eval", "fp16", "fp16_full_eval"):
            if getattr(self, name):
                kept = usable_precision(name[:4], f"--{name}", on_cpu=on_cpu) != "no"
                setattr(self, name, kept)
                self.use_cpu = self.use_cpu or (kept and on_cpu)


def build_parser() -> HfArgumentParser:
    """transformers' parser of the three groups (with its own `--flag-name` aliases and `--no_flag` forms, as
    the original run_clm), refusing abbreviations like every script here."""
    return HfArgumentParser((ModelArguments, DataTrainingArguments, ClmTrainingArguments), allow_abbrev=False,
                            formatter_class=DefaultsOnceFormatter)


def parse_clm_arguments(argv: Optional[Sequence[str]] = None
                        ) -> tuple[ModelArguments, DataTrainingArguments, ClmTrainingArguments]:
    """Parse a command line, or a single `.json` file holding the same flags as keys."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        if len(argv) == 1 and argv[0].endswith(".json"):
            if not Path(argv[0]).is_file():
                raise LangAdaptError(f"argument file {argv[0]} does not exist")
            model_args, data_args, training_args = parser.parse_json_file(os.path.abspath(argv[0]))
        else:
            model_args, data_args, training_args = parser.parse_args_into_dataclasses(argv)
    except ValueError as err:  # HfArgumentParser reports unknown JSON keys and bad values this way
        raise LangAdaptError(" ".join(str(err).split())) from err
    check_flag_combinations(model_args, data_args, training_args)
    return model_args, data_args, training_args


def check_flag_combinations(model_args: ModelArguments, data_args: DataTrainingArguments,
                            training_args: ClmTrainingArguments) -> None:
    """Refuse combinations that cannot mean anything, before any file is touched."""
    if data_args.dataset_name and (data_args.train_file or data_args.validation_file):
        raise LangAdaptError("conflicting flags: pass either --dataset_name or --train_file/--validation_file")
    if training_args.do_train and not (data_args.dataset_name or data_args.train_file):
        raise LangAdaptError("--do_train needs training data: pass --dataset_name or --train_file")
    if training_args.do_eval and not (data_args.dataset_name or data_args.train_file or data_args.validation_file):
        raise LangAdaptError("--do_eval needs data: pass --dataset_name, --validation_file or --train_file")
    if not (model_args.model_name_or_path or model_args.config_name or model_args.model_type):
        raise LangAdaptError("no model: pass --model_name_or_path, --config_name or --model_type")
    if not (model_args.tokenizer_name or model_args.model_name_or_path):
        raise LangAdaptError("no tokenizer: pass --tokenizer_name (or a --model_name_or_path that has one)")
    for name in POSITIVE_SIZES:  # the Trainer would fail on these only at its first batch, with a traceback
        value = getattr(training_args, name)
        if value is not None and value < 1:
            raise LangAdaptError(f"--{name} {value}: must be at least 1")
    if data_args.streaming:
        if training_args.do_train and training_args.max_steps <= 0:
            raise LangAdaptError("--streaming has no length to count epochs in: pass --max_steps")
        if data_args.preprocessing_num_workers:
            raise LangAdaptError("conflicting flags: --preprocessing_num_workers does not apply to --streaming")


def check_sources(model_args: ModelArguments, data_args: DataTrainingArguments) -> None:
    """Every model and dataset flag names something loadable: run first, before the model is built (not at
    parse time, where a command is only read)."""
    if model_args.model_name_or_path:
        check_model_source("--model_name_or_path", model_args.model_name_or_path, cache_dir=model_args.cache_dir)
    if model_args.config_name:  # a folder, a config .json file or a hub id
        check_path_or_hub_id("--config_name", model_args.config_name, "model", cache_dir=model_args.cache_dir)
    if model_args.tokenizer_name:
        check_model_source("--tokenizer_name", model_args.tokenizer_name, files=TOKENIZER_FILES,
                           cache_dir=model_args.cache_dir)
    check_tokenizer_files(*(("--tokenizer_name", model_args.tokenizer_name) if model_args.tokenizer_name
                            else ("--model_name_or_path", model_args.model_name_or_path)))
    if data_args.dataset_name:
        check_dataset_source("--dataset_name", data_args.dataset_name,
                             fix="pass a local folder or file (--train_file / --validation_file)")
    for flag in ("train_file", "validation_file"):
        if getattr(data_args, flag):
            check_path_or_hub_id(f"--{flag}", getattr(data_args, flag), kind=None)
            check_data_file(f"--{flag}", getattr(data_args, flag))
