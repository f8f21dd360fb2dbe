"""The output folder of an analysis run: refuse another run's results, mark completion last.

`metrics.json` is written last (atomically) and carries the run's identity (script, model, languages,
split...). A folder whose metrics.json names another identity is refused; a rerun of the same identity
first removes the old metrics.json, so a crash midway never leaves a complete-looking folder.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import LangAdaptError
from ..run_folder import check_folder_path
from ..training import write_json_atomic

METRICS = "metrics.json"


def claim_output_dir(folder: str | Path, identity: dict, flag: str = "--out_dir") -> Path:
    folder = Path(folder)
    check_folder_path(flag, folder)
    marker = folder / METRICS
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text(encoding="utf-8")).get("identity")
        except (json.JSONDecodeError, AttributeError):
            previous = None
        if previous != identity:
            raise LangAdaptError(f"{flag} {folder}: holds the results of another run ({METRICS} identity "
                                 f"{previous}); choose a new folder or remove it")
        marker.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def finish_output_dir(folder: Path, identity: dict, content: dict) -> Path:
    write_json_atomic(folder / METRICS, {"identity": identity, **content})
    return folder / METRICS
