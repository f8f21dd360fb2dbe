"""Stage files: gzip'd JSON lines written under a temporary name, then renamed and marked complete.

A stage output counts as done only when its `.done.json` marker exists and records the same fingerprint
(the settings and inputs that produced it). A crash mid-write leaves a `.part` file that the next run
discards; changed settings make the old output stale instead of silently reused.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

# Level 1: the files are scratch space read once or twice; stronger compression costs more than it saves.
COMPRESS_LEVEL = 1
Record = list  # [src, tgt, corpus_index]


def fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def marker_path(path: Path) -> Path:
    return path.with_name(path.name + ".done.json")


def read_marker(path: Path) -> Optional[dict[str, Any]]:
    marker = marker_path(path)
    if not marker.is_file():
        return None
    try:
        return json.loads(marker.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def is_complete(path: Path, expected_fingerprint: str) -> bool:
    marker = read_marker(path)
    return path.is_file() and marker is not None and marker.get("fingerprint") == expected_fingerprint


def write_marker(path: Path, expected_fingerprint: str, info: dict[str, Any]) -> None:
    marker = marker_path(path)
    tmp = marker.with_name(marker.name + ".part")
    tmp.write_text(json.dumps({"fingerprint": expected_fingerprint, **info}, indent=2, sort_keys=True),
                   encoding="utf-8")
    os.replace(tmp, marker)


def invalidate(path: Path) -> None:
    """Forget an output before rewriting it, so no old marker can vouch for new bytes."""
    for stale in (marker_path(path), path):
        stale.unlink(missing_ok=True)


class RecordWriter:
    """Appends records to an open gzip stream and counts them."""

    def __init__(self, handle):
        self._handle = handle
        self.count = 0

    def write(self, record: Record) -> None:
        self._handle.write(json.dumps(record, ensure_ascii=False))
        self._handle.write("\n")
        self.count += 1

    def write_many(self, records: Iterable[Record]) -> None:
        for record in records:
            self.write(record)


@contextmanager
def atomic_records(path: Path, expected_fingerprint: str, info: Optional[dict[str, Any]] = None):
    """Write `path` through `path.part`; on success rename it and write the marker (with `info`).

    `info` may be filled in by the caller inside the block (stage statistics); it is stored in the marker.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    invalidate(path)
    part = path.with_name(path.name + ".part")
    info = {} if info is None else info
    try:
        with gzip.open(part, "wt", encoding="utf-8", compresslevel=COMPRESS_LEVEL) as handle:
            writer = RecordWriter(handle)
            yield writer
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, path)
    write_marker(path, expected_fingerprint, {"records": writer.count, **info})


def read_records(path: Path) -> Iterator[Record]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def concatenate(parts: list[Path], path: Path, expected_fingerprint: str, info: dict[str, Any]) -> None:
    """Join complete part files into `path` (gzip members concatenate into one valid stream)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    invalidate(path)
    part_file = path.with_name(path.name + ".part")
    count = 0
    with open(part_file, "wb") as out:
        for part in parts:
            count += read_marker(part)["records"]
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out)
    os.replace(part_file, path)
    write_marker(path, expected_fingerprint, {"records": count, **info})
