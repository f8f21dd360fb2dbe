"""Final dataset: shuffle with the seed, cap at the target size, save as DatasetDict({"train"}).

Rows are streamed into an Arrow file (memory-mapped afterwards), so memory stays flat however many pairs
survive; the shuffle is an index permutation. The dataset is saved under a temporary name beside
`hf_out` and renamed into place, so `hf_out` is either the previous complete output or the new one.
"""
from __future__ import annotations

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


def shuffled_and_capped(arrow_file: Path, target_size: int, seed: int):
    """The final split (without the corpus column) and its pair count per corpus index."""
    from datasets import Dataset

    data = Dataset.from_file(str(arrow_file))
    if target_size and target_size > len(data):
        logger.warning("--target_size %d is more than the %d pairs that survived; keeping all of them",
                       target_size, len(data))
    data = data.shuffle(seed=seed)
    if target_size and len(data) > target_size:
        data = data.select(range(target_size))
    per_corpus = Counter(data["corpus"])
    return data.remove_columns("corpus"), per_corpus


def save_atomically(train, hf_out: Path, extra_files: Optional[dict[str, Callable[[Path], Any]]] = None) -> None:
    """Save DatasetDict({"train"}) to `hf_out` through a temporary folder renamed into place.

    `extra_files` maps a file name to a writer called with its path inside the new folder before the
    rename (e.g. stats.json), so it appears together with the dataset.
    """
    from datasets import DatasetDict

    hf_out = hf_out.expanduser().resolve()
    hf_out.parent.mkdir(parents=True, exist_ok=True)
    staging = hf_out.with_name(f".{hf_out.name}.incomplete-{uuid.uuid4().hex[:8]}")
    try:
        DatasetDict({"train": train}).save_to_disk(str(staging))
        for name, write in (extra_files or {}).items():
            write(staging / name)
        _replace_dir(staging, hf_out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace_dir(new: Path, target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise LangAdaptError(f"--hf_out {target} exists and is not a folder")
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
