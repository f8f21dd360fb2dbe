"""Final dataset: shuffle with the seed, cap at the target size, save as DatasetDict({"train"}).

Rows are streamed into an Arrow file, then copied into a second one in shuffled order, a batch of rows at
a time, so anonymous memory stays flat however many pairs survive (the two files are read through memory
maps: their pages count as file-backed RSS, which the kernel reclaims under pressure). The dataset is saved
under a temporary name beside `hf_out` and renamed into place, so `hf_out` is either the previous complete
output or the new one. A staging folder left by a kill is removed by the next run, and `hf_out` is only
ever replaced when it holds a previous build of the same language pair.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections import Counter
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from ..errors import LangAdaptError

logger = logging.getLogger(__name__)
WRITE_BATCH = 10_000


def translation_features(src3: str, tgt3: str):
    from datasets import Features, Translation, Value

    return Features({"translation": Translation(languages=[src3, tgt3]), "corpus": Value("int32")})


def write_arrow(rows: Iterable[list], path: Path, src3: str, tgt3: str) -> int:
    """Stream [src, tgt, corpus_index] rows into an Arrow file; returns the row count."""
    from datasets.arrow_writer import ArrowWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    iterator = iter(rows)
    with ArrowWriter(features=translation_features(src3, tgt3), path=str(path)) as writer:
        while batch := list(islice(iterator, WRITE_BATCH)):
            writer.write_batch({"translation": [{src3: r[0], tgt3: r[1]} for r in batch],
                                "corpus": [r[2] for r in batch]})
        count, _ = writer.finalize()
    return count


def _record_batches(arrow_file: Path):
    """The schema and memory-mapped record batches of an Arrow stream file; the file stays mapped only as
    long as the batches live."""
    import pyarrow as pa

    with pa.memory_map(str(arrow_file)) as source:
        stream = pa.ipc.open_stream(source)
        return stream.schema, stream.read_all().to_batches()


def _gather(batches: list, offsets, indices):
    """`table.take(indices)` as one take per record batch: pyarrow's take on a chunked table would first
    concatenate every chunk of the memory-mapped table into one in-memory copy (ARROW-9773)."""
    import numpy as np
    import pyarrow as pa

    owner = np.searchsorted(offsets, indices, side="right") - 1
    by_owner = np.argsort(owner, kind="stable")
    bounds = np.searchsorted(owner[by_owner], np.arange(len(batches) + 1))
    pieces = [batches[b].take(indices[by_owner[lo:hi]] - offsets[b])
              for b, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])) if hi > lo]
    return pa.Table.from_batches(pieces).take(np.argsort(by_owner))


def shuffled_and_capped(arrow_file: Path, out_file: Path, target_size: int, seed: int):
    """The final split (without the corpus column, written to `out_file`) and its pair count per corpus index.

    Same rows in the same order as `Dataset.shuffle(seed=seed).select(range(target_size))`: the permutation
    is numpy's `default_rng(seed).permutation`, as datasets draws it. But datasets' `select` turns the
    permutation into a Python list (~45 bytes a row) and counting corpora over a whole column makes another;
    here it stays a numpy array (8 bytes a row) applied `WRITE_BATCH` rows at a time.
    """
    import numpy as np
    import pyarrow.compute as pc
    from datasets import Dataset, Features
    from datasets.arrow_writer import ArrowWriter

    schema, batches = _record_batches(arrow_file)
    offsets = np.cumsum([0] + [len(batch) for batch in batches])
    total = int(offsets[-1])
    if target_size and target_size > total:
        logger.warning("--target_size %d is more than the %d pairs that survived; keeping all of them",
                       target_size, total)
    order = np.random.default_rng(seed).permutation(total)
    if target_size:
        order = order[:target_size]
    features = Features.from_arrow_schema(schema)
    del features["corpus"]
    per_corpus: Counter = Counter()
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with ArrowWriter(features=features, path=str(out_file)) as writer:
        for start in range(0, len(order), WRITE_BATCH):
            rows = _gather(batches, offsets, order[start:start + WRITE_BATCH])
            for item in pc.value_counts(rows["corpus"]).to_pylist():
                per_corpus[item["values"]] += item["counts"]
            writer.write_table(rows.drop_columns(["corpus"]))
        writer.finalize()
    del batches  # unmaps the input before the caller maps the output
    return Dataset.from_file(str(out_file)), per_corpus


BUILD_ENTRIES = {"dataset_dict.json", "train", "stats.json"}  # what save_atomically leaves in hf_out
STAGING_MARKS = (".incomplete-", ".old-")


def check_hf_out(hf_out: Path, src3: str, tgt3: str) -> None:
    """`hf_out` is absent, empty, or a previous build of src3-tgt3 (which the new one replaces); anything else
    would be deleted by the final rename, so it is refused before any work."""
    hf_out = hf_out.expanduser()
    if not hf_out.exists():
        return
    if not hf_out.is_dir():
        raise LangAdaptError(f"--hf_out {hf_out}: exists and is not a folder; pass a new or empty folder")
    entries = {entry.name for entry in hf_out.iterdir()}
    if not entries:
        return
    stats_file = hf_out / "stats.json"
    try:
        stats = json.loads(stats_file.read_text(encoding="utf-8")) if stats_file.is_file() else {}
    except (OSError, ValueError):
        stats = {}
    if entries - BUILD_ENTRIES or "dataset_dict.json" not in entries or not isinstance(stats, dict) \
            or "totals" not in stats:
        shown = ", ".join(sorted(entries)[:5]) + (", ..." if len(entries) > 5 else "")
        raise LangAdaptError(f"--hf_out {hf_out}: not empty and not a build of this script (it holds {shown}); "
                             f"pass a new or empty folder, or remove it yourself")
    if (stats.get("src"), stats.get("tgt")) != (src3, tgt3):
        raise LangAdaptError(f"--hf_out {hf_out}: holds the {stats.get('src')}-{stats.get('tgt')} build, not "
                             f"{src3}-{tgt3}; pass another folder")


def remove_stale_staging(hf_out: Path) -> None:
    """Remove the staging folders of an earlier build of `hf_out` that was killed before its rename."""
    hf_out = hf_out.expanduser().resolve()
    if not hf_out.parent.is_dir():
        return
    for entry in hf_out.parent.glob(f".{hf_out.name}.*"):
        if entry.is_dir() and any(entry.name[len(hf_out.name) + 1:].startswith(mark) for mark in STAGING_MARKS):
            logger.info("removing %s, left by an interrupted build", entry)
            shutil.rmtree(entry, ignore_errors=True)


def save_atomically(train, hf_out: Path, extra_files: Optional[dict[str, Callable[[Path], Any]]] = None) -> None:
    """Save DatasetDict({"train"}) to `hf_out` through a temporary folder renamed into place.

    `extra_files` maps a file name to a writer called with its path inside the new folder before the
    rename (e.g. stats.json), so it appears together with the dataset.
    """
    from datasets import DatasetDict

    hf_out = hf_out.expanduser().resolve()
    hf_out.parent.mkdir(parents=True, exist_ok=True)
    staging = hf_out.with_name(f".{hf_out.name}{STAGING_MARKS[0]}{uuid.uuid4().hex[:8]}")
    try:
        DatasetDict({"train": train}).save_to_disk(str(staging))
        for name, write in (extra_files or {}).items():
            write(staging / name)
        _replace_dir(staging, hf_out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_dir(new: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}{STAGING_MARKS[1]}{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
