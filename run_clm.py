#!/usr/bin/env python
"""Pretrain or retune a Backpack (or any causal) LM with transformers' run_clm flags.

    python run_clm.py --model_name_or_path <config folder or checkpoint> --dataset_name <hub id or path> \
        --do_train --do_eval --output_dir <out> --block_size 512 ...

A single argument ending in .json is read as the flags. Runs unchanged under torchrun / accelerate launch;
rerunning into the same --output_dir resumes from its latest checkpoint.
"""
from __future__ import annotations

import json
from typing import Optional, Sequence

import transformers

from langadapt.cli import run_cli, setup_logging
from langadapt.clm import parse_clm_arguments, train_clm


def main(argv: Optional[Sequence[str]] = None) -> int:
    model_args, data_args, training_args = parse_clm_arguments(argv)
    if training_args.should_log:
        transformers.utils.logging.set_verbosity_info()  # as transformers' run_clm: the main process says what it does
    level = training_args.get_process_log_level()
    setup_logging(level)
    transformers.utils.logging.set_verbosity(level)
    metrics = train_clm(model_args, data_args, training_args)
    if training_args.should_log:
        print(json.dumps(metrics, sort_keys=True))
    return 0


if __name__ == "__main__":
    run_cli(main)
