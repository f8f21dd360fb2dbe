"""The task registry: `--task` names to task specs."""
from __future__ import annotations

from ...errors import LangAdaptError
from . import belebele, qa, tatoeba, xcopa, xstorycloze
from .base import TaskSpec

TASKS: dict[str, TaskSpec] = {spec.name: spec for spec in (
    xcopa.TASK, xstorycloze.TASK, belebele.TASK, tatoeba.TASK, qa.XQUAD, qa.MLQA)}


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise LangAdaptError(f"--task {name}: unknown task; supported: {', '.join(TASKS)}")
    return TASKS[name]
