"""Process-group set-up for the custom training loops, the same under torchrun, `accelerate launch` and `srun`.

torchrun and accelerate export RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR, which Accelerate reads. `srun`
starting one task per GPU exports only SLURM_* variables; they are translated here so the same command
line works in both.
"""
from __future__ import annotations

import os
import subprocess
from typing import MutableMapping, Optional

DEFAULT_MASTER_PORT = "29500"


def first_slurm_host(nodelist: str) -> Optional[str]:
    """First host of a SLURM node list (`scontrol` expands ranges like node[01-04]); None if unknown."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
        return out[0] if out else None
    except (OSError, subprocess.SubprocessError):
        return nodelist.split(",")[0] if "[" not in nodelist else None


def torch_env_from_slurm(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Fill torch's rendezvous variables from SLURM's when srun (not torchrun) started the processes.

    Returns True when it did. Leaves everything alone when RANK is already set or there is one task.
    """
    if "RANK" in environ or int(environ.get("SLURM_NTASKS", "1")) <= 1 or "SLURM_PROCID" not in environ:
        return False
    environ["RANK"] = environ["SLURM_PROCID"]
    environ["WORLD_SIZE"] = environ["SLURM_NTASKS"]
    environ["LOCAL_RANK"] = environ.get("SLURM_LOCALID", "0")
    tasks_per_node = environ.get("SLURM_NTASKS_PER_NODE", "").split("(")[0]
    if tasks_per_node.isdigit():
        environ["LOCAL_WORLD_SIZE"] = tasks_per_node
    if "MASTER_ADDR" not in environ:
        host = first_slurm_host(environ.get("SLURM_JOB_NODELIST", "")) or environ.get("SLURM_LAUNCH_NODE_IPADDR")
        environ["MASTER_ADDR"] = host or "127.0.0.1"
    environ.setdefault("MASTER_PORT", DEFAULT_MASTER_PORT)
    return True


def build_accelerator(mixed_precision: str = "no", **kwargs):
    """An Accelerator for the custom training loops, the same under python, torchrun and bare `srun`.

    On GPU-less machines it passes cpu=True: only then does Accelerate treat torchrun's CPU processes as
    data parallel (gloo); without it each process silently trains alone.
    """
    import torch
    from accelerate import Accelerator

    torch_env_from_slurm()
    on_cpu = not torch.cuda.is_available() and not (hasattr(torch, "xpu") and torch.xpu.is_available())
    return Accelerator(mixed_precision=mixed_precision, cpu=on_cpu, **kwargs)
