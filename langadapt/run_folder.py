"""One owner for a run's output folder, shared by run_adaptation, commit_train, run_clm and the corpus builder.

Why one module: each script used to treat its folder its own way, and the differences lost data or mixed
runs. The rules, once:
- an output folder never contains, nor lies inside, an input (checked before anything is deleted);
- `--overwrite_output_dir` deletes only after every input has loaded (`prepare` runs after loading);
- `run.json` records the run's identity; a resume compares the settings that define the run and refuses a
  mismatch, naming each; settings that may change (logging, evaluation frequency, workers) are logged;
- a bare `--resume_from_checkpoint` continues from the latest complete checkpoint, starts fresh in an empty
  folder or one holding only this run's identity, and a finished run resumed again is a no-op;
- metric logs are cut back to the checkpoint's step on resume (atomically);
- Ctrl-C and SIGTERM end with one line and exit 130 / 143; the custom loops save a checkpoint on SIGTERM.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from .errors import LangAdaptError

logger = logging.getLogger(__name__)

IDENTITY_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
PathLike = Union[str, os.PathLike]


# ------------------------------------------------------------------------------------------ inputs
def _resolved(path: PathLike) -> Path:
    return Path(path).expanduser().resolve()


def check_separate(outputs: Mapping[str, Optional[PathLike]],
                   inputs: Mapping[str, Union[None, PathLike, Sequence[PathLike]]]) -> None:
    """Refuse an output folder that contains, or lies inside, an input or another output.

    Inputs are checked only where they exist on disk (a hub id is not a folder this run could delete);
    outputs are compared with each other whether or not they exist yet.
    """
    outs = [(flag, path, _resolved(path)) for flag, path in outputs.items() if path]
    for flag, path, out in outs:
        check_folder_path(flag, path, out)
    for index, (flag, path, out) in enumerate(outs):
        for other_flag, other_path, other in outs[index + 1:]:
            _refuse_nesting(flag, path, out, other_flag, other_path, other)
        for in_flag, values in inputs.items():
            for value in ([values] if isinstance(values, (str, os.PathLike)) else values or []):
                if value and Path(value).expanduser().exists():
                    _refuse_nesting(flag, path, out, in_flag, value, _resolved(value))


def check_folder_path(flag: str, path: PathLike, resolved: Optional[Path] = None) -> None:
    """An output folder must be creatable: neither it nor a folder above it may be a file (else every input
    would load first and the run fail at its first write, with a traceback)."""
    resolved = resolved or _resolved(path)
    for folder in (resolved, *resolved.parents):
        if folder.exists() and not folder.is_dir():
            where = "it is a file" if folder == resolved else f"{folder} is a file"
            raise LangAdaptError(f"{flag} {path}: {where}, not a folder; choose another {flag}")


def _refuse_nesting(out_flag: str, out_path, out: Path, flag: str, path, other: Path) -> None:
    if other == out or out in other.parents:
        raise LangAdaptError(f"{flag} {path} lies inside {out_flag} {out_path}, which this run writes (and "
                             f"--overwrite_output_dir or a clean-up would delete): choose another {out_flag}")
    if other in out.parents:
        raise LangAdaptError(f"{out_flag} {out_path} lies inside {flag} {path}: choose an {out_flag} outside it")


# --------------------------------------------------------------------------------------- run folder
@dataclass(frozen=True)
class Start:
    """How a run begins: `fresh`, `resume` from `checkpoint`, or `complete` (nothing left to do)."""
    action: str
    checkpoint: Optional[Path] = None
    step: int = 0


def _jsonable(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as they read back from run.json (tuples become lists, paths strings)."""
    return json.loads(json.dumps(dict(settings), sort_keys=True, default=str))


class RunFolder:
    """A training run's output folder: identity, start/resume decision, log trimming, completion."""

    def __init__(self, path: PathLike, *, flag: str, script: str, settings: Mapping[str, Any],
                 defining: Iterable[str], logs: Sequence[str] = (METRICS_FILE,)):
        self.path, self.flag, self.script = Path(path), flag, script
        self.settings, self.defining = _jsonable(settings), tuple(defining)
        self.logs = tuple(logs)
        self.step = 0
        self.last_checkpoint: Optional[Path] = None
        self.start: Optional[Start] = None
        self.rerun_resumes = True  # whether the same command line continues the run (see `plan`)

    # ----------------------------------------------------------------------------------- identity
    def identity(self) -> Optional[dict[str, Any]]:
        path = self.path / IDENTITY_FILE
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise LangAdaptError(f"{path} is not valid JSON ({err}); it is not a run this script can continue") \
                from err

    def _write_identity(self, completed: Optional[dict[str, Any]] = None) -> None:
        from . import __version__
        from .training import write_json_atomic

        record = {"script": self.script, "langadapt_version": __version__, "settings": self.settings,
                  "defining": list(self.defining), "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
        if completed is not None:
            record["completed"] = completed
        write_json_atomic(self.path / IDENTITY_FILE, record)

    def _compare(self, saved: dict[str, Any]) -> None:
        """Refuse another run's folder, naming every defining setting that differs; log the others."""
        if saved.get("script") != self.script:
            raise LangAdaptError(f"{self.flag} {self.path} holds a run of {saved.get('script')}, not of "
                                 f"{self.script}: choose another {self.flag} or pass --overwrite_output_dir")
        before = saved.get("settings", {})
        differ = [key for key in sorted(set(before) | set(self.settings)) if before.get(key) != self.settings.get(key)]
        defining = [key for key in differ if key in self.defining]
        if defining:
            listed = "; ".join(f"{key}: {before.get(key)!r} there, {self.settings.get(key)!r} now" for key in defining)
            raise LangAdaptError(f"{self.flag} {self.path} holds another run ({listed}): resume with its "
                                 f"settings, choose another {self.flag}, or pass --overwrite_output_dir")
        for key in differ:
            logger.info("resuming with %s changed: %r -> %r", key, before.get(key), self.settings.get(key))

    # ------------------------------------------------------------------------------- the decision
    def plan(self, *, overwrite: bool, resume: bool, latest: Callable[[], Optional[Path]],
             checkpoint_step: Callable[[Path], int], explicit: Optional[PathLike] = None,
             resume_by_default: bool = False) -> Start:
        """Decide how the run starts; touches nothing (deleting waits for `prepare`, after the inputs load).

        `resume_by_default`: continue a matching run even without the resume flag (run_clm, as
        transformers 4's run_clm did on a rerun into the same folder).
        """
        if overwrite and (resume or explicit):
            raise LangAdaptError("conflicting flags: --overwrite_output_dir would delete the checkpoint that "
                                 "--resume_from_checkpoint continues from; pass one")
        self.start = self._decide(overwrite, resume, latest, checkpoint_step, explicit, resume_by_default)
        self.rerun_resumes = bool(resume or explicit or resume_by_default)
        if self.start.action == "complete":
            logger.info("the run in %s %s is complete (step %d): nothing to do; pass --overwrite_output_dir to "
                        "train it again", self.flag, self.path, self.start.step)
        return self.start

    def _decide(self, overwrite, resume, latest, checkpoint_step, explicit, resume_by_default) -> Start:
        holds_files = self.path.is_dir() and any(self.path.iterdir())
        if explicit:
            explicit = Path(explicit)
            if self.path.resolve() not in explicit.resolve().parents:
                logger.info("resuming from %s, a checkpoint outside %s %s", explicit, self.flag, self.path)
        if overwrite or not holds_files:
            if resume and not explicit:
                logger.info("--resume_from_checkpoint: %s %s holds no checkpoint yet: starting fresh",
                            self.flag, self.path)
            return Start("resume", explicit, checkpoint_step(explicit)) if explicit else Start("fresh")
        saved = self.identity()
        if saved is None:
            raise LangAdaptError(f"{self.flag} {self.path} is not empty and holds no {IDENTITY_FILE} (not a run of "
                                 f"this toolkit): choose another {self.flag} or pass --overwrite_output_dir to "
                                 f"replace its contents")
        self._compare(saved)
        if not (resume or explicit or resume_by_default):
            raise LangAdaptError(f"{self.flag} {self.path} is not empty; pass --resume_from_checkpoint to "
                                 f"continue the run in it or --overwrite_output_dir to replace it")
        if saved.get("completed") and not explicit:
            return Start("complete", step=int(saved["completed"]["step"]))
        checkpoint = Path(explicit) if explicit else latest()
        if checkpoint is not None:
            return Start("resume", checkpoint, checkpoint_step(checkpoint))
        logger.info("%s %s holds this run's identity but no complete checkpoint: starting fresh",
                    self.flag, self.path)
        return Start("fresh")

    # ------------------------------------------------------------------------------------ writing
    def prepare(self, overwrite: bool) -> None:
        """After every input loaded: delete on overwrite, record the identity, cut the logs back."""
        if self.start is None:
            raise RuntimeError("RunFolder.prepare before plan")
        if overwrite and self.path.is_dir():
            logger.info("--overwrite_output_dir: deleting %s", self.path)
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._write_identity()
        for name in self.logs:
            trim_jsonl(self.path / name, self.start.step if self.start.action == "resume" else None)

    def complete(self, step: int) -> None:
        """Mark the run finished (after its final model is written): a rerun is then a no-op."""
        self._write_identity({"step": int(step), "at": time.strftime("%Y-%m-%dT%H:%M:%S")})


def trim_jsonl(path: Path, step: Optional[int]) -> None:
    """Keep the records up to `step` (none when `step` is None), dropping `final` ones; atomic."""
    if not path.is_file():
        return
    kept = []
    if step is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                if record.get("kind") != "final" and int(record.get("step", 0)) <= step:
                    kept.append(line + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(kept), encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------------------------ interruption
class RunInterrupted(BaseException):
    """Ctrl-C or SIGTERM: not an error of the run, so not an Exception a handler could swallow."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Interruption:
    """The run the process is busy with, so that an interruption can say where it stopped."""

    def __init__(self):
        self.folder: Optional[RunFolder] = None
        self.stop_requested = False
        self.hint = ""

    def message(self) -> str:
        folder = self.folder
        if folder is None:
            return f"interrupted{'; ' + self.hint if self.hint else ''}"
        checkpoint = folder.last_checkpoint or "none"
        rerun = "rerun the same command" if folder.rerun_resumes else \
            "rerun the command with --resume_from_checkpoint"
        return f"interrupted at step {folder.step}; last checkpoint: {checkpoint}; {rerun} to resume"


current = _Interruption()


def watch(folder: RunFolder, saves_on_sigterm: bool) -> None:
    """Make `folder` the run an interruption reports; with `saves_on_sigterm`, SIGTERM only asks the loop to
    stop at the end of its step (it then saves a checkpoint and raises RunInterrupted itself)."""
    current.folder = folder
    current.stop_requested = False
    if saves_on_sigterm and _can_install_handlers():
        signal.signal(signal.SIGTERM, _request_stop)


def trainer_callback(folder: RunFolder):
    """For the HF Trainer: keeps `folder` told of the step and checkpoints; on SIGTERM, saves and stops."""
    from transformers import TrainerCallback

    class RunFolderCallback(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            folder.step = state.global_step
            if stop_requested():
                control.should_save = control.should_training_stop = True

        def on_save(self, args, state, control, **kwargs):
            folder.last_checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"

    return RunFolderCallback()


def set_hint(text: str) -> None:
    """What to tell the user on an interruption outside a training loop (e.g. the corpus builder's stages)."""
    current.hint = text


def stop_requested() -> bool:
    """True on every process once any process got SIGTERM (the checkpoint a loop then saves is collective)."""
    flag = current.stop_requested
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        import torch

        value = torch.tensor([1.0 if flag else 0.0])
        if dist.get_backend() == "nccl":
            value = value.cuda()
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        flag = bool(value.item())
    return flag


def _request_stop(signum, frame) -> None:
    if current.stop_requested:  # a second SIGTERM: stop now
        raise RunInterrupted(signum)
    current.stop_requested = True
    logger.warning("SIGTERM: saving a checkpoint at the end of this step, then stopping")


def _raise_interrupted(signum, frame) -> None:
    raise RunInterrupted(signum)


def _can_install_handlers() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def install_signal_handlers() -> None:
    """SIGTERM (SLURM preemption, `kill`) becomes RunInterrupted, like Ctrl-C's KeyboardInterrupt."""
    if _can_install_handlers():
        signal.signal(signal.SIGTERM, _raise_interrupted)


def exit_interrupted(signum: int) -> None:
    """The one line, on a line of its own (open progress bars end theirs first), and the shell's exit status."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        for bar in list(getattr(tqdm, "_instances", ())):
            bar.close()
    print(current.message(), file=sys.stderr)
    sys.exit(128 + signum)
