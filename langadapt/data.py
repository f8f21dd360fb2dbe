"""Load a dataset from a hub id or a local path, with errors that say what is wrong.

Every script accepts either form (DESIGN.md, Inputs): a `save_to_disk` folder, a json/jsonl/csv/parquet/
txt file (or a folder of them), or a hub id. Local paths never touch the network.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable, Optional

from .errors import LangAdaptError

logger = logging.getLogger(__name__)

# file suffix -> datasets builder
FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text",
                 ".arrow": "arrow"}


def builder_for_file(path: str | os.PathLike) -> str:
    name = str(path)
    for compressed in (".gz", ".bz2", ".xz", ".zst"):
        if name.endswith(compressed):
            name = name[: -len(compressed)]
    suffix = Path(name).suffix.lower()
    if suffix not in FILE_BUILDERS:
        raise LangAdaptError(
            f"{path}: unsupported file type {suffix!r}; expected one of {', '.join(sorted(FILE_BUILDERS))}")
    return FILE_BUILDERS[suffix]


def is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def looks_local(name_or_path: str) -> bool:
    """A path-like argument (it exists, or starts like a path) must never fall through to the hub."""
    return os.path.exists(name_or_path) or name_or_path.startswith((".", "/", "~")) or \
        Path(name_or_path).suffix.lower() in FILE_BUILDERS


def _select_split(data, split: Optional[str], source: str):
    from datasets import DatasetDict, IterableDatasetDict

    if split is None or not isinstance(data, (DatasetDict, IterableDatasetDict)):
        return data
    if split not in data:
        raise LangAdaptError(f"{source} has no split {split!r}; available: {', '.join(data.keys())}")
    return data[split]


def load_any_dataset(name_or_path: str, config_name: Optional[str] = None, split: Optional[str] = None,
                     streaming: bool = False, **load_kwargs):
    """A `Dataset` (or `DatasetDict` when `split` is None) from a local path or a hub id.

    Local files load as a single "train" split; a saved `DatasetDict` keeps its splits.
    """
    import datasets

    if looks_local(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise LangAdaptError(f"dataset path {name_or_path} does not exist")
        if path.is_dir() and is_saved_dataset(path):
            return _select_split(datasets.load_from_disk(str(path)), split, str(path))
        files = sorted(p for p in path.rglob("*") if p.is_file() and _is_data_file(p)) if path.is_dir() else [path]
        if not files:
            raise LangAdaptError(f"{path} holds no saved dataset and no data files "
                                 f"({', '.join(sorted(FILE_BUILDERS))})")
        builder = builder_for_file(files[0])
        try:
            data = datasets.load_dataset(builder, data_files={"train": [str(f) for f in files]},
                                         streaming=streaming, **load_kwargs)
        except (StopIteration, datasets.exceptions.DatasetGenerationError) as err:
            cause = err.__cause__ or err
            raise LangAdaptError(f"{path}: cannot read it as {builder} data (empty or malformed file: "
                                 f"{type(cause).__name__} {cause})") from err
        return _select_split(data, split, str(path))
    try:
        data = datasets.load_dataset(name_or_path, config_name, streaming=streaming, **load_kwargs)
    except (FileNotFoundError, ConnectionError, ValueError, OSError) as err:
        offline = " (the hub is unreachable offline: pass a local path instead)" \
            if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1" else ""
        raise LangAdaptError(f"cannot load dataset {name_or_path!r}"
                             f"{f' config {config_name!r}' if config_name else ''}{offline}: {err}") from err
    return _select_split(data, split, name_or_path)


def _is_data_file(path: Path) -> bool:
    try:
        builder_for_file(path)
    except LangAdaptError:
        return False
    return True


def require_columns(dataset, columns: Iterable[str], source: str) -> None:
    """Fail with the columns that do exist when an expected one is missing."""
    have = list(dataset.column_names or [])
    missing = [c for c in columns if c not in have]
    if missing:
        raise LangAdaptError(f"{source}: missing column(s) {', '.join(missing)}; columns found: "
                             f"{', '.join(have) or '(none)'}")

