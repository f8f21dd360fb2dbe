"""Run a recipe's stages one after another on this machine, each script in its own process.

A complete stage is skipped (state.py); any other runs its command, which resumes an interrupted run from
its last checkpoint. SIGTERM or Ctrl-C reaches the running script (which saves a checkpoint and stops) and
then stops the recipe with the script's status, so the same command later continues where it stopped.
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from ..errors import LangAdaptError
from . import state
from .stage import ROOT, Recipe, Stage

logger = logging.getLogger(__name__)


class StageFailed(LangAdaptError):
    def __init__(self, stage: Stage, status: int, log: Path):
        self.status = status
        tail = "".join(log.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)[-15:])
        super().__init__(f"stage {stage.name} ({stage.script}) exited {status}; its log {log} ends:\n{tail}"
                         f"fix the cause and rerun the same command: complete stages are skipped")


def run_script(stage: Stage, log: Path) -> int:
    """The stage's command with this Python, output to `log`; signals to the runner are passed on."""
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, *stage.command()[1:]]
    env = {**os.environ, **stage.env, "PYTHONUNBUFFERED": "1"}
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ {stage.shell()}\n")
        handle.flush()
        child = subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env)
        forward = lambda signum, frame: child.send_signal(signum)  # noqa: E731
        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            return child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def run_locally(recipe: Recipe, root: Path, only: Sequence[str] = (),
                in_process: dict[str, Callable[[Stage], None]] | None = None) -> dict[str, str]:
    """Run every stage (or those in `only`) in order; returns what happened to each: ran, skipped."""
    done: dict[str, str] = {}
    for stage in state.to_do(recipe, root, only, done, "skipped"):
        logger.info("[%s] %s", stage.name, stage.shell())
        start = time.perf_counter()
        state.write_pending(root, stage)
        if in_process and stage.kind in in_process:
            in_process[stage.kind](stage)
            status = 0
        else:
            log = root / "logs" / f"{stage.name}.log"
            status = run_script(stage, log)
            if status in (143, -signal.SIGTERM, 130, -signal.SIGINT):
                signum = signal.SIGTERM if status in (143, -signal.SIGTERM) else signal.SIGINT
                print(f"interrupted in stage {stage.name}; rerun the same command to resume", file=sys.stderr)
                sys.exit(128 + signum)
            if status != 0:
                raise StageFailed(stage, status, log)
        state.finish(root, stage)
        done[stage.name] = "ran"
        logger.info("[%s] done in %.1fs", stage.name, time.perf_counter() - start)
    return done
