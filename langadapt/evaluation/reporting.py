"""Write a run's results JSON and per-example JSONL without leaving half-written files behind."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Optional

from ..errors import LangAdaptError
from ..training import write_json_atomic


def write_results(results: dict, output_file: Optional[str]) -> None:
    if output_file:
        Path(output_file).expanduser().parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(output_file).expanduser(), results)


def write_samples(samples: Iterable[dict], path: Optional[str]) -> None:
    if not path:
        return
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for record in samples:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, target)


def summary_line(results: dict) -> str:
    """One JSON line for stdout: what was run and its metrics."""
    keys = ("task", "lang", "split", "n_examples", "metrics", "truncated", "examples_per_second", "perplexity",
            "bits_per_byte", "bits_per_char")
    return json.dumps({k: results[k] for k in keys if k in results}, ensure_ascii=False)


def log_to_wandb(results: dict, **init_kwargs) -> None:
    """The run's config and metrics as one W&B run (`--use_wandb`); `init_kwargs` go to `wandb.init`."""
    try:
        import wandb
    except ImportError as err:  # pragma: no cover - wandb is in requirements.txt
        raise LangAdaptError("--use_wandb: the `wandb` package is not installed") from err
    run = wandb.init(config={k: results[k] for k in ("task", "lang", "split", "config", "model_path") if k in results},
                     **init_kwargs)
    metrics = {k: v for k, v in results["metrics"].items() if isinstance(v, (int, float))}
    run.log(metrics)
    run.summary.update(metrics)
    run.finish()
