"""Submit a recipe as one SLURM chain: a job per incomplete stage, each waiting (`afterok`) for the jobs of
the stages it needs, each through slurm/recipe_job.sh (launch.sh's layouts and requeue on preemption).

A complete stage is not submitted, and nothing waits for it. Resources are the stage's own (`resources`,
sbatch long options without the dashes); the job's log is <out>/logs/<stage>-<job id>.out.
"""
from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Sequence

from ..errors import LangAdaptError
from . import state
from .stage import ROOT, Recipe, Stage

logger = logging.getLogger(__name__)
JOB_SCRIPT = ROOT / "slurm" / "recipe_job.sh"


def sbatch_command(recipe: Recipe, stage: Stage, root: Path, waits_for: Sequence[str]) -> list[str]:
    options = [f"--job-name={recipe.name}-{stage.name}", f"--output={root / 'logs'}/{stage.name}-%j.out",
               "--parsable", "--requeue", "--signal=B:USR1@180", "--kill-on-invalid-dep=yes"]
    options += [f"--{key}={value}" for key, value in stage.resources.items()]
    if waits_for:
        options.append(f"--dependency={stage.wait}:" + ":".join(waits_for))
    return ["sbatch", *options, str(JOB_SCRIPT), stage.script, *stage.argv()]


def submit_chain(recipe: Recipe, root: Path, only: Sequence[str] = ()) -> dict[str, str]:
    """Submit every incomplete stage (or those in `only`); returns stage name -> job id or "skipped"."""
    (root / "logs").mkdir(parents=True, exist_ok=True)
    jobs: dict[str, str] = {}
    for stage in state.to_do(recipe, root, only, jobs, "not submitted"):
        waits_for = [jobs[name] for name in stage.after if jobs.get(name, "skipped") != "skipped"]
        pending = state.write_pending(root, stage)
        env = {**os.environ, **stage.env, "LANGADAPT_ROOT": str(ROOT), "MODE": stage.launch,
               "STAGE_RECORD": str(pending.with_suffix(""))}
        command = sbatch_command(recipe, stage, root, waits_for)
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise LangAdaptError(f"sbatch refused stage {stage.name} (exit {result.returncode}): "
                                 f"{result.stderr.strip()[-500:]}; jobs submitted so far: {jobs}")
        jobs[stage.name] = result.stdout.strip().split(";")[0]
        logger.info("[%s] job %s%s", stage.name, jobs[stage.name],
                    f" after {', '.join(waits_for)}" if waits_for else "")
    return jobs
