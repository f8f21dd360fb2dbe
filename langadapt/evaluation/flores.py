"""FLORES-200 sentences from a local `flores200_dataset/` folder, `facebook/flores` or `flores_plus`.

The hub `facebook/flores` runs a loading script that datasets >= 4 refuses, so the released folder
layout (`{split}/{lang}.{split}`, one sentence per line) and the parquet `flores_plus` are first-class.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from ..data import load_any_dataset, looks_local
from ..errors import LangAdaptError
from ..languages import flores_tag
from .tasks.loading import pick_local_split

logger = logging.getLogger(__name__)

SPLITS = ("dev", "devtest")
SCRIPT_HINT = ("facebook/flores needs a loading script that datasets >= 4 cannot run: use --dataset "
               "openlanguagedata/flores_plus or a local flores200_dataset folder")


def _from_folder(folder: Path, tag: str, split: str) -> list[str]:
    path = folder / split / f"{tag}.{split}"
    if not path.is_file():
        have = sorted(p.name.split(".")[0] for p in (folder / split).glob(f"*.{split}"))
        raise LangAdaptError(f"--dataset {folder}: no file {split}/{tag}.{split}; languages there: "
                             f"{', '.join(have) or '(none)'}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _from_dataset(dataset, tag: str, source: str) -> list[str]:
    columns = dataset.column_names
    if "iso_639_3" in columns and "iso_15924" in columns:  # flores_plus files hold every language
        lang, script = tag.split("_")
        dataset = dataset.filter(lambda row: row["iso_639_3"] == lang and row["iso_15924"] == script)
    column = next((c for c in ("sentence", "text") if c in columns), None)
    if column is None:
        raise LangAdaptError(f"{source}: expected a 'sentence' (facebook/flores) or 'text' (flores_plus) column; "
                             f"found {', '.join(columns)}")
    return [text for text in dataset[column] if text and text.strip()]


def load_flores_sentences(dataset: str, lang: str, split: str, limit: Optional[int] = None) -> list[str]:
    if split not in SPLITS:
        raise LangAdaptError(f"--split {split}: FLORES-200 has splits {', '.join(SPLITS)}")
    plus = "flores_plus" in dataset
    tag = flores_tag(lang, "flores_plus" if plus else "flores200")
    path = Path(dataset).expanduser()
    if looks_local(dataset) and path.is_dir() and (path / split).is_dir():
        sentences = _from_folder(path, tag, split)
    elif looks_local(dataset):
        sentences = _from_dataset(pick_local_split(load_any_dataset(dataset), split, dataset), tag, dataset)
    else:
        try:
            hub = load_any_dataset(dataset, tag, split=split)
        except LangAdaptError as err:
            raise LangAdaptError(f"{err}; {SCRIPT_HINT}" if dataset == "facebook/flores" else str(err)) from err
        sentences = _from_dataset(hub, tag, f"{dataset} ({tag}, {split})")
    if not sentences:
        raise LangAdaptError(f"--dataset {dataset}: no {tag} sentences in split {split}")
    if limit is not None:
        sentences = sentences[:limit]
    logger.info("FLORES %s %s: %d sentences from %s", tag, split, len(sentences), dataset)
    return sentences
