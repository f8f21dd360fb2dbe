"""Process-group set-up for the custom training loops, the same under torchrun, `accelerate launch` and `srun`.

torchrun and accelerate export RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR, which Accelerate reads. `srun`
starting one task per GPU exports only SLURM_* variables; they are translated here so the same command
line works in both.
"""
from __future__ import annotations

import os
import subprocess
from typing import Any, MutableMapping, Optional

from .errors import LangAdaptError
from .preflight import has_accelerator

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
    from accelerate import Accelerator

    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        raise LangAdaptError("Accelerate's FSDP configuration (accelerate launch --use_fsdp / an fsdp config file) "
                             "is not used by these loops, whose saving would miss the sharded weights; launch "
                             "with torchrun or plain `accelerate launch` and pass --fsdp to commit_train.py")
    torch_env_from_slurm()
    return Accelerator(mixed_precision=mixed_precision, cpu=not has_accelerator(), **kwargs)


# ----------------------------------------------------------------------------------------------- FSDP
def layers_to_shard(model) -> list:
    """The model's repeated blocks (`_no_split_modules`, e.g. LlamaDecoderLayer): FSDP's units, so that
    only one block's full weights exist on a GPU at a time."""
    names = set(getattr(model, "_no_split_modules", None) or ())
    layers = [module for module in model.modules() if type(module).__name__ in names]
    if not layers:
        raise LangAdaptError(f"--fsdp: {type(model).__name__} names no decoder layer class "
                             f"(_no_split_modules) to shard by")
    return layers


def shard_model(model, device_type: str, compute_dtype=None):
    """FSDP2 full sharding (torch's `fully_shard`): each decoder layer, then the rest at the root.

    Why not Accelerate's FSDP plugin: Accelerate 1.15 enables FSDP only on GPU-type process groups, so on
    CPU (gloo) the same command would silently run DDP; `fully_shard` behaves the same on gloo and NCCL.
    Parameters stay in their own dtype (fp32 master weights); with a `compute_dtype` (bf16) the gathered
    weights are cast to it for forward and backward and gradients are reduced in fp32.
    """
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    policy = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32 if compute_dtype else None)
    mesh = init_device_mesh(device_type, (dist.get_world_size(),))
    for layer in layers_to_shard(model):
        fully_shard(layer, mesh=mesh, mp_policy=policy)
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


def full_model_state_dict(model) -> dict[str, Any]:
    """The unsharded weights, on CPU, in the main process (other processes get {}).

    A collective: every process must call it, or the job hangs.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def local_optimizer_state(optimizer) -> dict[str, Any]:
    """This process's shard of the optimiser state as plain CPU tensors (loadable with weights_only=True)."""
    from torch.distributed.tensor import DTensor

    state = optimizer.state_dict()
    local = {index: {key: value.to_local().cpu() if isinstance(value, DTensor) else value
                     for key, value in values.items()} for index, values in state["state"].items()}
    return {"state": local, "param_groups": state["param_groups"]}


def load_local_optimizer_state(optimizer, state: dict[str, Any]) -> None:
    """Inverse of `local_optimizer_state` on the same sharding (same process count): each per-parameter
    tensor shaped like its parameter's shard becomes a DTensor laid out as the parameter."""
    from torch.distributed.tensor import DTensor

    params = [param for group in optimizer.param_groups for param in group["params"]]
    restored = {}
    for index, values in state["state"].items():
        param = params[int(index)]
        restored[index] = {
            key: DTensor.from_local(value.to(param.device), param.device_mesh, param.placements,
                                    shape=param.shape, stride=param.stride(), run_check=False)
            if isinstance(param, DTensor) and value.shape == param.to_local().shape and value.ndim > 0 else value
            for key, value in values.items()}
    optimizer.load_state_dict({"state": restored, "param_groups": state["param_groups"]})
