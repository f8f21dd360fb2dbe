#!/usr/bin/env bash
# Shared launcher for the job scripts: picks the process layout and requeues on preemption.
#
#   source slurm/launch.sh; launch MODE SCRIPT.py [ARGS...]
# MODE: auto       from the allocation: multinode if SLURM_NNODES > 1, node if this node has > 1 GPU,
#                  else single (so one job script serves all three layouts; see slurm/README.md)
#       single     one process (one GPU, or CPU)
#       node       torchrun, one process per GPU of this node
#       multinode  srun starts one torchrun per node; they meet at a c10d rendezvous on the first node
#
# Preemption: submit with `#SBATCH --signal=B:USR1@180` and `#SBATCH --requeue`; on USR1 the job requeues
# itself, and the requeued job runs the same command, whose resume flag continues from the last checkpoint.
# LANGADAPT_DRY_RUN=1 prints the command instead of running it (used by the tests).
set -euo pipefail

LANGADAPT_ROOT=${LANGADAPT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PYTHON=${PYTHON:-$LANGADAPT_ROOT/.venv/bin/python}

requeue_on_preemption() {
  if [[ -n "${SLURM_JOB_ID:-}" ]]; then
    trap 'echo "preempted: requeueing job $SLURM_JOB_ID"; scontrol requeue "$SLURM_JOB_ID"; exit 0' USR1
  fi
}

gpus_on_node() {
  if [[ -n "${SLURM_GPUS_ON_NODE:-}" ]]; then echo "$SLURM_GPUS_ON_NODE"
  elif command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L | wc -l
  else echo 1; fi
}

launch() {
  local mode=$1 script=$2; shift 2
  local cmd
  if [[ "$mode" == auto ]]; then
    if (( ${SLURM_NNODES:-1} > 1 )); then mode=multinode
    elif (( $(gpus_on_node) > 1 )); then mode=node
    else mode=single; fi
  fi
  case "$mode" in
    single) cmd=("$PYTHON" "$LANGADAPT_ROOT/$script" "$@") ;;
    node) cmd=("$PYTHON" -m torch.distributed.run --standalone --nproc_per_node "$(gpus_on_node)"
               "$LANGADAPT_ROOT/$script" "$@") ;;
    multinode)
      local head_node
      head_node=$(scontrol show hostnames "${SLURM_JOB_NODELIST:-localhost}" 2>/dev/null | head -n 1 || echo localhost)
      cmd=(srun --ntasks-per-node=1 "$PYTHON" -m torch.distributed.run --nnodes "${SLURM_NNODES:-1}"
           --nproc_per_node "$(gpus_on_node)" --rdzv_id "${SLURM_JOB_ID:-0}" --rdzv_backend c10d
           --rdzv_endpoint "$head_node:${RDZV_PORT:-29500}" "$LANGADAPT_ROOT/$script" "$@") ;;
    *) echo "launch: unknown mode $mode (auto, single, node, multinode)" >&2; return 2 ;;
  esac
  if [[ "${LANGADAPT_DRY_RUN:-0}" == 1 ]]; then
    printf '%q ' "${cmd[@]}"; echo
    return 0
  fi
  requeue_on_preemption
  # Run in the background and wait, so the USR1 trap fires while the training runs.
  "${cmd[@]}" &
  wait $!
}
