#!/usr/bin/env python
"""Pretrain or retune a Backpack (or any causal) LM with transformers' run_clm flags.

    python run_clm.py --model_name_or_path <config folder or checkpoint> --dataset_name <hub id or path> \
        --do_train --do_eval --output_dir <out> --block_size 512 ...

A single argument ending in .json is read as the flags. Runs unchanged under torchrun / accelerate launch;
rerunning into the same --output_dir resumes from its latest checkpoint. `--help` lists the flags most runs
need, at once; `--help_all` every TrainingArguments flag.
"""
from __future__ import annotations

import json
import logging
import sys
from typing import Optional, Sequence

from langadapt.cli import run_cli, setup_logging


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        from langadapt.clm.quick_help import quick_help_parser

        quick_help_parser().print_help()
        return 0
    if "--help_all" in argv:
        argv = ["--help"]
    from langadapt.clm.arguments import parse_clm_arguments
    from langadapt.clm.runner import train_clm

    model_args, data_args, training_args = parse_clm_arguments(argv)
    # The main process says what it does (INFO); transformers' own chatter (config dumps, offline-mode notes,
    # load reports) only with --log_level debug (setup_logging). Other processes: --log_level_replica (warning).
    passive = training_args.log_level == "passive" and training_args.should_log
    level = logging.INFO if passive else training_args.get_process_log_level()
    setup_logging(level)
    metrics = train_clm(model_args, data_args, training_args)
    if training_args.should_log:
        print(json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    run_cli(main)
