"""Is a stage done? Its own output says so, and the command that wrote it is the recipe's command now.

The output decides as each script does: a training run folder's run.json marks it `completed`, the corpus
builder renames its dataset (with stats.json) into place only when complete, an evaluation writes its
results file last. The runner also keeps, per stage, the command that last finished (`stages/<name>.json`
under the recipe's folder): a complete output written by another command is not skipped but run again with
the stage's resume flag, so that the script itself refuses a changed defining setting (listing it) or, for
a setting that may change, says "complete: nothing to do".
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Iterator, Optional, Sequence

from .stage import Recipe, Stage

RECORDS = "stages"
logger = logging.getLogger(__name__)


def output_complete(stage: Stage) -> bool:
    path = stage.output_path
    if stage.kind == "train":
        try:
            return bool(json.loads((path / "run.json").read_text(encoding="utf-8")).get("completed"))
        except (OSError, ValueError):
            return False
    if stage.kind == "corpus":
        return (path / "dataset_dict.json").is_file() and (path / "stats.json").is_file()
    if stage.kind == "analysis" and stage.output == "--out_dir":
        return (path / "metrics.json").is_file()  # written last
    if stage.kind == "table":
        return False  # cheap, and it must see every result
    return path.is_file()


def record_path(root: Path, stage: Stage) -> Path:
    return root / RECORDS / f"{stage.name}.json"


def _record(stage: Stage) -> dict:
    return json.loads(json.dumps({"command": stage.command(), "params": stage.params}, default=str))


def recorded(root: Path, stage: Stage) -> Optional[dict]:
    try:
        return json.loads(record_path(root, stage).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_complete(root: Path, stage: Stage) -> bool:
    return output_complete(stage) and recorded(root, stage) == _record(stage)


def write_pending(root: Path, stage: Stage) -> Path:
    """The command about to run, as `<name>.json.pending`; `finish` (or the SLURM job, by `mv`) makes it the
    record once the script exits 0."""
    pending = record_path(root, stage).with_name(f"{stage.name}.json.pending")
    pending.parent.mkdir(parents=True, exist_ok=True)
    tmp = pending.with_name(pending.name + ".tmp")
    tmp.write_text(json.dumps(_record(stage)), encoding="utf-8")
    os.replace(tmp, pending)
    return pending


def finish(root: Path, stage: Stage) -> None:
    pending = record_path(root, stage).with_name(f"{stage.name}.json.pending")
    os.replace(pending, record_path(root, stage))


def selected(recipe: Recipe, root: Path, only: Sequence[str] = ()) -> Iterator[tuple[Stage, bool]]:
    """(stage, complete) for every stage, or those named in `only`, in recipe order."""
    for stage in recipe.stages:
        if not only or stage.name in only:
            yield stage, is_complete(root, stage)


def to_do(recipe: Recipe, root: Path, only: Sequence[str], outcome: dict[str, str], skip: str) -> Iterator[Stage]:
    """The selected stages that are not complete; each complete one is logged ("complete: `skip`") and
    marked "skipped" in `outcome`."""
    for stage, complete in selected(recipe, root, only):
        if complete:
            logger.info("[%s] complete: %s", stage.name, skip)
            outcome[stage.name] = "skipped"
        else:
            yield stage
