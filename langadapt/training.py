"""Training-loop plumbing shared by the custom loops (sense adaptation, COMMIT).

Why one module: exact resume after preemption needs every piece of state (weights, optimiser, schedule,
scaler, RNG streams, data position) written atomically together, and that is easy to get subtly wrong
twice. Checkpoints are folders `step-XXXXXXXXXXXX` written under a temporary name and renamed when
complete; pickled state is read back with `weights_only=True`.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch
from torch.utils.data import Sampler

from .errors import LangAdaptError

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step-"
TRAINING_STATE_FILE = "training_state.pt"
COMPLETE_MARKER = "checkpoint_complete.json"
PROCESS_STATE_FILE = "process-{rank:05d}.pt"


# ----------------------------------------------------------------------------------------------- seeding
def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """Every RNG stream a step can draw from, in a form `torch.load(weights_only=True)` accepts."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    python_state = state["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["key"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# -------------------------------------------------------------------------------------------- data order
class ResumableSampler(Sampler[int]):
    """Shuffled, rank-sharded index order that can restart mid-epoch.

    Epoch `e` uses the permutation drawn from `seed + e`, so the order does not depend on any global RNG
    and a resumed run sees exactly the indices an uninterrupted one would. `position` counts the indices
    this rank has already handed out in the current epoch.
    Under data parallelism each rank takes every `world_size`-th index of the (padded) permutation.
    """

    def __init__(self, num_items: int, seed: int = 0, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1):
        if num_items <= 0:
            raise LangAdaptError("the training dataset is empty")
        self.num_items, self.seed, self.shuffle = num_items, seed, shuffle
        self.rank, self.world_size = rank, world_size
        self.epoch, self.position = 0, 0

    def per_rank(self) -> int:
        return math.ceil(self.num_items / self.world_size)

    def _epoch_order(self) -> list[int]:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num_items, generator=generator).tolist()
        else:
            order = list(range(self.num_items))
        padded = order + order[: self.per_rank() * self.world_size - len(order)]
        return padded[self.rank:: self.world_size]

    def __iter__(self) -> Iterator[int]:
        """Endless: yields the rest of the current epoch, then the following epochs."""
        while True:
            order = self._epoch_order()
            while self.position < len(order):
                index = order[self.position]
                self.position += 1
                yield index
            self.epoch, self.position = self.epoch + 1, 0

    def __len__(self) -> int:
        return self.per_rank()

    def state_dict(self, consumed: int) -> dict[str, int]:
        """State after this rank's training loop has consumed `consumed` indices in total.

        The loop passes its own count because a DataLoader prefetches: the sampler's internal position
        runs ahead of what the model has actually seen.
        """
        return {"consumed": int(consumed), "seed": self.seed, "world_size": self.world_size}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state.get("world_size", self.world_size) != self.world_size:
            raise LangAdaptError(
                f"checkpoint was written with {state['world_size']} processes, this run has "
                f"{self.world_size}: the data order cannot be resumed exactly; resume with the same count")
        self.epoch, self.position = divmod(int(state["consumed"]), self.per_rank())


# ----------------------------------------------------------------------------------------- checkpoints
class CheckpointManager:
    """Atomic, rotating checkpoints under `root` (e.g. `save_dir/checkpoints`).

    `save` writes `step-XXXXXXXXXXXX.tmp/`, fills it, writes a completion marker, then renames it: a
    folder without the marker (a job killed mid-write) is never picked up by `latest()`.
    """

    def __init__(self, root: str | os.PathLike, max_keep: Optional[int] = None):
        self.root = Path(root)
        self.max_keep = max_keep

    @staticmethod
    def step_of(path: Path) -> int:
        return int(path.name[len(CHECKPOINT_PREFIX):])

    def complete_checkpoints(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        found = [p for p in self.root.iterdir()
                 if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX) and p.name[len(CHECKPOINT_PREFIX):].isdigit()
                 and (p / COMPLETE_MARKER).is_file()]
        return sorted(found, key=self.step_of)

    def latest(self) -> Optional[Path]:
        found = self.complete_checkpoints()
        return found[-1] if found else None

    def save(self, step: int, model: torch.nn.Module, training_state: dict[str, Any],
             tokenizer=None, state_dict: Optional[dict[str, torch.Tensor]] = None) -> Path:
        """Write weights (`save_pretrained`, safetensors) and `training_state` (a `torch.save`-able dict).

        `state_dict` replaces the model's own weights, e.g. the full weights gathered from a sharded model.
        """
        self.start(step)
        return self.finish(step, model, training_state, tokenizer, state_dict)

    def staging_folder(self, step: int) -> Path:
        """Where `step` is written before it counts; other processes may add their files to it."""
        return self.root / f"{CHECKPOINT_PREFIX}{step:012d}.tmp"

    def start(self, step: int) -> Path:
        """An empty staging folder for `step` (one process creates it before any process writes into it)."""
        tmp = self.staging_folder(step)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        return tmp

    def finish(self, step: int, model: torch.nn.Module, training_state: dict[str, Any], tokenizer=None,
               state_dict: Optional[dict[str, torch.Tensor]] = None) -> Path:
        """Add weights and `training_state` to the staging folder, mark it complete and rename it."""
        tmp = self.staging_folder(step)
        final = tmp.with_name(tmp.name[: -len(".tmp")])
        save_weights(model, tmp, state_dict)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        torch.save(training_state, tmp / TRAINING_STATE_FILE)
        (tmp / COMPLETE_MARKER).write_text(json.dumps({"step": step}))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        self._rotate()
        logger.info("saved checkpoint %s", final)
        return final

    def save_process_state(self, step: int, rank: int, state: dict[str, Any]) -> None:
        """One process's own part of a checkpoint (e.g. its optimiser shard), written into the staging
        folder before the main process finishes it."""
        torch.save(state, self.staging_folder(step) / PROCESS_STATE_FILE.format(rank=rank))

    @staticmethod
    def load_process_state(checkpoint: Path, rank: int) -> dict[str, Any]:
        path = Path(checkpoint) / PROCESS_STATE_FILE.format(rank=rank)
        if not path.is_file():
            raise LangAdaptError(f"{checkpoint} is not a complete checkpoint: {path.name} is missing")
        return torch.load(path, map_location="cpu", weights_only=True)

    def _rotate(self) -> None:
        if not self.max_keep or self.max_keep <= 0:
            return
        for stale in self.complete_checkpoints()[: -self.max_keep]:
            shutil.rmtree(stale, ignore_errors=True)

    @staticmethod
    def load_training_state(checkpoint: Path) -> dict[str, Any]:
        path = Path(checkpoint) / TRAINING_STATE_FILE
        if not path.is_file():
            raise LangAdaptError(f"{checkpoint} is not a complete checkpoint: {TRAINING_STATE_FILE} is missing")
        return torch.load(path, map_location="cpu", weights_only=True)

    @staticmethod
    def load_weights(checkpoint: Path, model: torch.nn.Module) -> None:
        """Load the checkpoint's safetensors into `model`, refusing weights of another model."""
        from safetensors.torch import load_file

        files = sorted(Path(checkpoint).glob("*.safetensors"))
        if not files:
            raise LangAdaptError(f"{checkpoint}: no safetensors weights found")
        state: dict[str, torch.Tensor] = {}
        for file in files:
            state.update(load_file(str(file)))
        own = model.state_dict()
        missing = [k for k in own if k not in state and not _is_tied(model, k)]
        unexpected = [k for k in state if k not in own]
        mismatched = [k for k in state if k in own and state[k].shape != own[k].shape]
        if unexpected or mismatched or missing:
            problems = []
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
                if keys:
                    problems.append(f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}")
            raise LangAdaptError(f"checkpoint {checkpoint} is from another model ({'; '.join(problems)})")
        model.load_state_dict(state, strict=False)


def _is_tied(model: torch.nn.Module, key: str) -> bool:
    """A key absent from safetensors because it shares storage with another saved tensor."""
    tied = getattr(model, "_tied_weights_keys", None) or {}
    keys = tied.keys() if isinstance(tied, dict) else tied
    return any(key == k or key.endswith(k) for k in keys)


def save_weights(model, folder: Path, state_dict: Optional[dict[str, torch.Tensor]] = None) -> None:
    """save_pretrained in safetensors; `state_dict`, when given, replaces the model's own weights."""
    model.save_pretrained(folder, safe_serialization=True, **({} if state_dict is None else {"state_dict": state_dict}))


def save_final_model(model, tokenizer, folder: str | os.PathLike,
                     state_dict: Optional[dict[str, torch.Tensor]] = None) -> None:
    """save_pretrained into a temporary folder, then move the files in, config.json last: a folder with a
    config.json always holds complete weights, even if the job dies mid-save. `state_dict` replaces the
    model's own weights (the full weights gathered from a sharded model)."""
    folder = Path(folder)
    tmp = folder / ".final-model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_weights(model, tmp, state_dict)
    tokenizer.save_pretrained(tmp)
    for name in sorted((p.name for p in tmp.iterdir()), key=lambda n: (n == "config.json", n)):
        os.replace(tmp / name, folder / name)
    tmp.rmdir()


class NonFiniteLossError(LangAdaptError):
    pass


def check_finite(loss: torch.Tensor, step: int, last_checkpoint: Optional[Path] = None) -> None:
    """Stop a run whose loss became NaN/inf, naming the step and the checkpoint to go back to."""
    if not torch.isfinite(loss.detach()).all():
        where = f"; the last good checkpoint is {last_checkpoint}" if last_checkpoint else ""
        raise NonFiniteLossError(f"non-finite loss ({loss.item()}) at step {step}{where}")


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------- W&B
def init_wandb(enabled: bool, project: Optional[str], run_name: Optional[str], config: dict[str, Any],
               resume_id: Optional[str] = None):
    """Start (or resume) a W&B run when asked; returns the run or None. Never required."""
    if not enabled:
        return None
    try:
        import wandb
    except ImportError as err:  # pragma: no cover - wandb is in requirements.txt
        raise LangAdaptError("W&B logging was requested but the `wandb` package is not installed") from err
    return wandb.init(project=project or os.environ.get("WANDB_PROJECT"), name=run_name, config=config,
                      id=resume_id, resume="allow" if resume_id else None)
