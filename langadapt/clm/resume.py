"""Where a run_clm run starts: its run folder's rules (langadapt.run_folder) over the Trainer's checkpoints.

As in transformers 4's run_clm, a rerun of the same command (a preempted SLURM job requeued) continues
from the latest complete checkpoint it finds instead of starting over; --overwrite_output_dir starts over.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path
from typing import Optional

from ..errors import LangAdaptError
from ..run_folder import RunFolder, check_separate
from .arguments import RESUME_LATEST, ClmTrainingArguments, DataTrainingArguments, ModelArguments

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"  # the Trainer writes it last: a folder without it was cut short
# What a step computes: a resume that changes one of these would not continue the same run.
DEFINING = ("model_name_or_path", "model_type", "config_overrides", "config_name", "tokenizer_name", "dtype",
            "freeze_weights", "dataset_name", "dataset_config_name", "train_file", "validation_file",
            "text_column_name", "max_train_samples", "streaming", "block_size", "validation_split_percentage",
            "keep_linebreaks", "per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate",
            "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm", "num_train_epochs",
            "max_steps", "lr_scheduler_type", "warmup_steps", "optim", "label_smoothing_factor", "seed",
            "data_seed", "bf16", "fp16", "world_size")


def latest_complete_checkpoint(output_dir: str | Path) -> Optional[Path]:
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := CHECKPOINT_NAME.match(p.name)) and p.is_dir() and (p / STATE_FILE).is_file()]
    return max(found)[1] if found else None


def checkpoint_step(checkpoint: Path) -> int:
    match = CHECKPOINT_NAME.match(Path(checkpoint).name)
    return int(match.group(1)) if match else 0


def plan_run_folder(model_args: ModelArguments, data_args: DataTrainingArguments,
                    training_args: ClmTrainingArguments) -> RunFolder:
    """The output folder checked against the inputs and the run's start decided; nothing is written yet."""
    check_separate({"--output_dir": training_args.output_dir},
                   {"--model_name_or_path": model_args.model_name_or_path, "--config_name": model_args.config_name,
                    "--tokenizer_name": model_args.tokenizer_name, "--dataset_name": data_args.dataset_name,
                    "--train_file": data_args.train_file, "--validation_file": data_args.validation_file})
    settings = {**dataclasses.asdict(model_args), **dataclasses.asdict(data_args),
                **{field.name: getattr(training_args, field.name) for field in dataclasses.fields(training_args)
                   if field.name not in ("token", "hub_token")},
                "world_size": training_args.world_size}
    settings.pop("token", None)  # never written to disk
    folder = RunFolder(training_args.output_dir, flag="--output_dir", script="run_clm.py", settings=settings,
                       defining=DEFINING)
    requested = training_args.resume_from_checkpoint
    explicit = requested if requested and requested != RESUME_LATEST else None
    if explicit and not (Path(explicit) / STATE_FILE).is_file():
        raise LangAdaptError(f"--resume_from_checkpoint {explicit} is not a complete Trainer checkpoint "
                             f"({STATE_FILE} missing)")
    start = folder.plan(overwrite=training_args.overwrite_output_dir, resume=requested == RESUME_LATEST,
                        explicit=explicit, latest=lambda: latest_complete_checkpoint(training_args.output_dir),
                        checkpoint_step=checkpoint_step, resume_by_default=training_args.do_train)
    if start.action == "resume":
        logger.info("resuming from checkpoint %s (pass --overwrite_output_dir to start over)", start.checkpoint)
    return folder
