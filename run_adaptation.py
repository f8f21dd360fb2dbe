#!/usr/bin/env python
"""Sense adaptation of a Backpack LM to a new language (Multilinguality as Sense Adaptation).

Aligns source/target sentence pairs at two levels (sense mixtures and context vectors) with InfoNCE
while a target-language LM loss takes over along a three-phase schedule. Runs unchanged under
`torchrun --nproc_per_node N` and SLURM `srun`; resumes exactly from its latest checkpoint.
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import Optional, Sequence

from langadapt.cli import make_parser, run_cli, setup_logging

logger = logging.getLogger("run_adaptation")

SCHEDULE_FIELDS = ("align_pct", "polish_pct", "w_ctx_align", "w_sns_align", "w_lm_align", "w_ctx_mid",
                   "w_sns_mid", "w_lm_mid", "w_ctx_tail", "w_sns_tail", "w_lm_tail", "tau_ctx_start",
                   "tau_ctx_end", "tau_sns_start", "tau_sns_end")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__)
    flag = argparse.BooleanOptionalAction

    data = p.add_argument_group("model and data")
    data.add_argument("--model_id", required=True, help="Backpack model: hub id or save_pretrained folder")
    data.add_argument("--max_length", type=int, default=512, help="truncate each side to this many tokens")
    data.add_argument("--dataset_name", required=True,
                      help="parallel data with a `translation` column: hub id or local path "
                           "(save_to_disk folder, json/jsonl/parquet/csv)")
    data.add_argument("--dataset_config", default=None, help="hub dataset config, e.g. eng-swh-100k")
    data.add_argument("--dataset_split", default="train", help="split (or HF slice) of --dataset_name")
    data.add_argument("--src", required=True, help="source language key of `translation` (eng, en, eng_Latn)")
    data.add_argument("--tgt", required=True, help="target language key of `translation`")
    data.add_argument("--validation_dataset", default="openlanguagedata/flores_plus",
                      help="hub FLORES for evaluation (flores_plus parquet; facebook/flores needs a datasets "
                           "version that still runs loading scripts)")
    data.add_argument("--validation_file", default=None,
                      help="local FLORES-200 folder ({split}/{lang}.{split}, one sentence per line); "
                           "used instead of --validation_dataset")
    data.add_argument("--validation_split", default="devtest", help="FLORES split to evaluate on")
    data.add_argument("--num_workers", type=int, default=0, help="DataLoader worker processes")

    loss = p.add_argument_group("losses")
    loss.add_argument("--normalize_sense_pooling", action=flag, default=True,
                      help="L2-normalise the sentence sense vectors (InfoNCE compares by cosine either way)")
    loss.add_argument("--normalize_last_token_embeds", action=flag, default=True,
                      help="L2-normalise the last-token context vectors")
    loss.add_argument("--add_lm_loss", action=flag, default=True,
                      help="add the target-side LM loss (off: the contrastive weights are renormalised alone)")
    loss.add_argument("--symmetric_infonce", action=flag, default=True,
                      help="InfoNCE in both directions (the paper); --no-symmetric_infonce: src->tgt only "
                           "(the original code)")
    loss.add_argument("--sense_pool_temp", type=float, default=1.0,
                      help="temperature of the softmax over sense contribution norms")
    loss.add_argument("--label_smoothing", type=float, default=0.0, help="label smoothing of the LM loss")
    loss.add_argument("--align_pct", type=float, default=0.20, help="fraction of steps in the align phase")
    loss.add_argument("--polish_pct", type=float, default=0.15,
                      help="fraction of steps in the final LM-dominant polish phase")
    loss.add_argument("--freeze_sense_during_polish", action=flag, default=False,
                      help="freeze the sense network and sense weight network in the polish phase")
    for phase, (ctx, sns, lm) in (("align", (0.45, 0.55, 0.02)), ("mid", (0.40, 0.40, 0.20)),
                                  ("tail", (0.15, 0.15, 0.70))):
        loss.add_argument(f"--w_ctx_{phase}", type=float, default=ctx, help=f"context loss weight ({phase})")
        loss.add_argument(f"--w_sns_{phase}", type=float, default=sns, help=f"sense loss weight ({phase})")
        loss.add_argument(f"--w_lm_{phase}", type=float, default=lm, help=f"LM loss weight ({phase})")
    loss.add_argument("--tau_ctx_start", type=float, default=0.07, help="context InfoNCE temperature at start")
    loss.add_argument("--tau_ctx_end", type=float, default=0.04, help="context InfoNCE temperature from the "
                                                                     "end of the align phase")
    loss.add_argument("--tau_sns_start", type=float, default=0.05, help="sense InfoNCE temperature at start")
    loss.add_argument("--tau_sns_end", type=float, default=0.03, help="sense InfoNCE temperature from the "
                                                                     "end of the align phase")

    opt = p.add_argument_group("optimisation")
    opt.add_argument("--learning_rate", type=float, default=5e-5, help="AdamW peak learning rate")
    opt.add_argument("--train_batch_size", type=int, default=32,
                     help="pairs per process per step (InfoNCE negatives: the global batch)")
    opt.add_argument("--test_batch_size", type=int, default=32, help="pairs per evaluation batch")
    opt.add_argument("--warmup_ratio", type=float, default=0.1, help="linear warm-up share of --max_steps")
    opt.add_argument("--clip_grad_norm", type=float, default=1.0, help="gradient norm clip (0: off)")
    opt.add_argument("--max_steps", type=int, default=40_000, help="optimiser steps (data repeats as needed)")
    opt.add_argument("--use_fp16", action=flag, default=True,
                     help="fp16 autocast with gradient scaling (CUDA only; on CPU runs fp32 with a warning)")
    opt.add_argument("--bf16", action=flag, default=False, help="bf16 autocast (takes precedence over --use_fp16)")
    opt.add_argument("--seed", type=int, default=42, help="seed for data order, dropout and initialisation")

    run = p.add_argument_group("run, checkpoints and logging")
    run.add_argument("--save_dir", required=True,
                     help="output folder: final model, metrics.jsonl, plot, checkpoints/")
    run.add_argument("--overwrite_output_dir", action=flag, default=False, help="delete a non-empty --save_dir first")
    run.add_argument("--resume_from_checkpoint", action=flag, default=False,
                     help="continue from the latest checkpoint in --save_dir (starts fresh when there is none)")
    run.add_argument("--save_every", type=int, default=0, help="checkpoint every N steps (0: off)")
    run.add_argument("--max_checkpoints", type=int, default=3, help="checkpoints kept (0: all)")
    run.add_argument("--eval_every_n_steps", type=int, default=2000, help="evaluate on FLORES every N steps (0: off)")
    run.add_argument("--log_every_n_steps", type=int, default=0, help="log training losses every N steps (0: off)")
    run.add_argument("--use_wandb", action=flag, default=False, help="log to Weights & Biases")
    run.add_argument("--wandb_project", default="backpack-xalign", help="W&B project")
    run.add_argument("--wandb_run_name", default=None, help="W&B run name")
    run.add_argument("--wandb_run_id", default=None, help="W&B run id to resume (a checkpoint's id wins)")
    run.add_argument("--log_level", default="INFO", help="logging level")
    return p


def config_from_args(args: argparse.Namespace):
    """The trainer's config (torch is imported here, after the flags have parsed)."""
    from langadapt.sense_adaptation.losses import LossSchedule
    from langadapt.sense_adaptation.trainer import AdaptationConfig

    values = vars(args).copy()
    values.pop("log_level")
    schedule = LossSchedule(**{name: values.pop(name) for name in SCHEDULE_FIELDS}, use_lm=args.add_lm_loss)
    return AdaptationConfig(schedule=schedule, **values)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    from langadapt.sense_adaptation.trainer import train_adaptation

    summary = train_adaptation(config_from_args(args))
    if summary:
        print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    run_cli(main)
