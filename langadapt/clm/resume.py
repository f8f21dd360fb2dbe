"""Where a run starts: a fresh output folder, or the latest complete Trainer checkpoint in it.

As in transformers 4's run_clm, a rerun of the same command (a preempted SLURM job requeued) continues
from the latest checkpoint it finds instead of starting over; --overwrite_output_dir starts over.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Optional

from ..errors import LangAdaptError
from .arguments import RESUME_LATEST, ClmTrainingArguments

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"  # the Trainer writes it last: a folder without it was cut short


def latest_complete_checkpoint(output_dir: str | Path) -> Optional[Path]:
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir()
             if (m := CHECKPOINT_NAME.match(p.name)) and p.is_dir() and (p / STATE_FILE).is_file()]
    return max(found)[1] if found else None


def resolve_resume(training_args: ClmTrainingArguments) -> Optional[str]:
    """The checkpoint to resume from (None: a fresh run), refusing to mix a new run into an old folder."""
    output_dir = Path(training_args.output_dir)
    requested = training_args.resume_from_checkpoint
    if requested == RESUME_LATEST:
        checkpoint = latest_complete_checkpoint(output_dir)
        if checkpoint is None:
            raise LangAdaptError(f"--resume_from_checkpoint: no complete checkpoint-* folder in --output_dir "
                                 f"{output_dir}")
        return str(checkpoint)
    if requested:
        if not (Path(requested) / STATE_FILE).is_file():
            raise LangAdaptError(f"--resume_from_checkpoint {requested} is not a complete Trainer checkpoint "
                                 f"({STATE_FILE} missing)")
        return requested
    if training_args.overwrite_output_dir or not output_dir.is_dir() or not any(output_dir.iterdir()):
        return None
    checkpoint = latest_complete_checkpoint(output_dir) if training_args.do_train else None
    if checkpoint is None:
        raise LangAdaptError(f"--output_dir {output_dir} is not empty and holds no checkpoint to resume; pass "
                             f"--overwrite_output_dir to replace it")
    logger.info("found checkpoint %s: resuming from it (pass --overwrite_output_dir to start over)", checkpoint)
    return str(checkpoint)
