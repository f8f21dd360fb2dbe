"""LaBSE similarity filtering: keep a pair when the cosine of its normalised embeddings >= threshold.

The stage works through the merged file in fixed chunks of rows, each written as its own part file with a
marker, so a crash loses at most one chunk of GPU time; chunk boundaries (and so batches) are the same on
every run, which keeps the scores, and the kept set, identical after a resume.
"""
from __future__ import annotations

import logging
import shutil
from collections import Counter
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
from ..progress import progress_bar

from ..errors import LangAdaptError
from . import records

logger = logging.getLogger(__name__)
DEFAULT_MODEL = "sentence-transformers/LaBSE"
# A folder sentence-transformers loads holds its module list, or at least a transformers config.
SENTENCE_TRANSFORMERS_FILES = ("modules.json", "config.json")
BATCHES_PER_CHUNK = 16


class SentenceEncoder:
    """sentence-transformers model: fp16 on GPU, all visible GPUs through its multi-process pool."""

    def __init__(self, model_name_or_path: str, batch_size: int):
        import torch
        from sentence_transformers import SentenceTransformer

        self.batch_size = batch_size
        device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.model = SentenceTransformer(model_name_or_path, device=device, trust_remote_code=False)
        except (OSError, ValueError) as err:
            raise LangAdaptError(f"--labse_model: cannot load {model_name_or_path!r} as a sentence-transformers "
                                 f"model ({err})") from err
        if device == "cuda":
            self.model.half()
        self.pool = None
        if torch.cuda.device_count() > 1:
            self.pool = self.model.start_multi_process_pool()
        logger.info("LaBSE: %s on %s (%d GPU worker(s))", model_name_or_path, device,
                    torch.cuda.device_count() if self.pool else int(device == "cuda"))

    def encode(self, texts: list[str]) -> np.ndarray:
        embeddings = self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                       convert_to_numpy=True, show_progress_bar=False, pool=self.pool)
        return np.asarray(embeddings, dtype=np.float32)

    def similarities(self, src: list[str], tgt: list[str]) -> np.ndarray:
        return np.einsum("ij,ij->i", self.encode(src), self.encode(tgt))

    def close(self) -> None:
        if self.pool is not None:
            self.model.stop_multi_process_pool(self.pool)
            self.pool = None


def _chunks(path: Path, size: int) -> Iterator[list]:
    stream = records.read_records(path)
    while chunk := list(islice(stream, size)):
        yield chunk


def labse_filter(merged: Path, out: Path, fingerprint: str, threshold: float, batch_size: int,
                 total: int, encoder_factory: Callable[[], SentenceEncoder]) -> dict[int, int]:
    """Write the pairs of `merged` scoring >= threshold to `out`; returns kept counts per corpus index."""
    parts_dir = out.with_name(out.name + ".parts")
    chunk_rows = batch_size * BATCHES_PER_CHUNK
    encoder: Optional[SentenceEncoder] = None
    kept_by_corpus: Counter = Counter()
    parts = []
    try:
        with progress_bar(total=total, desc="LaBSE", unit="pair") as progress:
            for index, chunk in enumerate(_chunks(merged, chunk_rows)):
                part = parts_dir / f"part-{index:06d}.jsonl.gz"
                part_fingerprint = records.fingerprint({"stage": fingerprint, "chunk": index})
                parts.append(part)
                if not records.is_complete(part, part_fingerprint):
                    if encoder is None:
                        encoder = encoder_factory()
                    scores = encoder.similarities([r[0] for r in chunk], [r[1] for r in chunk])
                    kept = [row for row, score in zip(chunk, scores.tolist()) if score >= threshold]
                    counts = Counter(row[2] for row in kept)
                    with records.atomic_records(part, part_fingerprint,
                                                {"kept_by_corpus": {str(k): v for k, v in counts.items()}}) as w:
                        w.write_many(kept)
                marker = records.read_marker(part)
                kept_by_corpus.update({int(k): v for k, v in marker["kept_by_corpus"].items()})
                progress.update(len(chunk))
    finally:
        if encoder is not None:
            encoder.close()
    records.concatenate(parts, out, fingerprint, {"kept_by_corpus": dict(kept_by_corpus)})
    shutil.rmtree(parts_dir, ignore_errors=True)
    return dict(kept_by_corpus)
