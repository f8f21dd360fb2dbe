"""Whether an argument names something on this machine: the one rule data loading and the preflight checks share,
so that a path-like argument never falls through to the hub."""
from __future__ import annotations

import os
from pathlib import Path

# file suffix -> datasets builder
FILE_BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text",
                 ".arrow": "arrow"}


def is_path_like(value: str) -> bool:
    """An argument that names a file or folder here, so it must never be taken for a hub id."""
    return os.path.exists(os.path.expanduser(value)) or value.startswith((".", "/", "~"))


def looks_local(name_or_path: str) -> bool:
    """A path-like argument (it exists, starts like a path, or ends in a data file suffix) is read locally."""
    return is_path_like(name_or_path) or Path(name_or_path).suffix.lower() in FILE_BUILDERS
