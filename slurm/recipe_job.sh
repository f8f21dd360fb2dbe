#!/usr/bin/env bash
#SBATCH --requeue
#SBATCH --signal=B:USR1@180
# One stage of a recipe, as `run_recipe.py --slurm` submits it (resources, job name, log file and
# dependencies on the sbatch command line):  sbatch [...] slurm/recipe_job.sh SCRIPT.py ARGS...
# It runs through launch.sh like every job script here: the layout from the allocation (MODE), requeue on
# preemption, and the stage's resume flag continues the requeued job from its last checkpoint. Once the
# script exits 0, the stage's pending record (STAGE_RECORD.pending) becomes its record, so a later
# `run_recipe.py --slurm` skips it (the table and publish stages, which run_recipe.py runs itself, have
# recorded themselves already).
source "${LANGADAPT_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}/slurm/launch.sh"  # submit from the repository root
launch "${MODE:-single}" "$@"
if [[ -n "${STAGE_RECORD:-}" && -f "${STAGE_RECORD}.pending" && "${LANGADAPT_DRY_RUN:-0}" != 1 ]]; then
  mv "$STAGE_RECORD.pending" "$STAGE_RECORD"
fi
