"""Pieces the recipe files share: which languages a task's data has, and evaluation stages."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from ..errors import LangAdaptError
from .stage import Measure, Missing, Stage

TASK_NAMES = {"xcopa": "XCOPA", "xstorycloze": "XStoryCloze", "belebele": "Belebele",
              "tatoeba_retrieval": "Tatoeba retrieval", "xquad": "XQuAD", "mlqa": "MLQA"}


def task_has(task: str, lang: str) -> Optional[str]:
    """Why `task`'s data lacks `lang` (None when it has it), as run_eval.py's own language check says."""
    from ..evaluation.tasks import get_task

    spec = get_task(task)
    try:
        spec.check_lang(lang)
    except LangAdaptError:
        return f"no {lang} in {TASK_NAMES[task]} (it has: {spec.supported})"
    return None


def missing_rows(rows: list[str], reason: str) -> list[Missing]:
    return [Missing(row, reason) for row in rows]


def eval_stage(name: str, model_stage: Optional[str], flags: dict[str, Any], measures: list[Measure],
               family: str = "eval", hours: int = 4) -> Stage:
    """One run_eval.py stage (one model, one task, one language); its results go to --output_file."""
    return Stage(name, family, "run_eval.py", flags, output="--output_file", kind="eval",
                 after=(model_stage,) if model_stage else (), measures=tuple(measures),
                 resources={"nodes": 1, "gpus-per-node": 1, "cpus-per-gpu": 8, "time": f"{hours:02d}:00:00"})


def results_file(root: Path, *parts: str) -> Path:
    return root.joinpath("results", *parts)
