"""Documents of a task: from the hub config, or from `--data_path` files in the hub dataset's format."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Optional

from ...data import load_any_dataset, require_columns, select_split
from ...errors import LangAdaptError
from ...preflight import check_hub_reachable
from .base import TaskSpec

logger = logging.getLogger(__name__)


def squad_file_documents(path: Path) -> Optional[list[dict]]:
    """Rows of a SQuAD v1.1-style json (`{"data": [{"paragraphs": [...]}]}`), or None for other files."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # JSON lines and the like: the generic loader reads them
    if not (isinstance(raw, dict) and isinstance(raw.get("data"), list)):
        return None
    rows = []
    for article in raw["data"]:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = qa.get("answers") or []  # missing or null: the row then has no gold answer
                rows.append({"id": qa.get("id", ""), "context": paragraph["context"], "question": qa["question"],
                             "answers": {"text": [a["text"] for a in answers],
                                         "answer_start": [a.get("answer_start", -1) for a in answers]}})
    return rows


def tsv_documents(path: Path) -> list[dict]:
    """Rows of a tab-separated file with a header line (the original's --tatoeba_file)."""
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def split_name(split: str) -> str:
    """`test` of `test[:100]`."""
    return split.split("[")[0].strip()


def pick_local_split(data, split: str, source: str):
    """The asked split (or slice) of a local dataset; plain files (one "train" split) and a saved lone Dataset
    are taken as that split."""
    from datasets import DatasetDict

    if isinstance(data, DatasetDict) and list(data.keys()) == ["train"] and split_name(split) not in data:
        data = data["train"]  # plain files load as one split: they are the split asked for
    if not isinstance(data, DatasetDict):
        data = DatasetDict({split_name(split): data})
    return select_split(data, split, source)


def check_saved_config(dataset, spec: TaskSpec, lang: str, source: str) -> None:
    """A `save_to_disk` copy of a hub dataset remembers its config: it must be the language asked for."""
    saved = getattr(getattr(dataset, "info", None), "config_name", None)
    wanted = spec.config_for(lang)
    if saved and wanted and saved not in ("default", wanted):  # plain files load as "default"
        raise LangAdaptError(f"{source}: holds {spec.name} config {saved!r}, but --lang asks for {wanted!r}")


def check_rows(docs: list[dict], columns: tuple[str, ...], source: str) -> None:
    """Every row has every field the prompts use, not null: caught here, before the model loads, rather than
    as an AttributeError deep in a prompt builder."""
    for index, doc in enumerate(docs):
        absent = [column for column in columns if doc.get(column) is None]
        if absent:
            raise LangAdaptError(f"{source}: row {index}: field(s) {', '.join(absent)} missing or null; fill them "
                                 f"in or drop the row")


def load_task_documents(spec: TaskSpec, lang: str, split: Optional[str] = None, data_path: Optional[str] = None,
                        limit: Optional[int] = None) -> list[dict]:
    split = spec.resolve_split(split)
    if data_path:
        source = data_path
        path = Path(data_path).expanduser()
        if path.is_file() and not path.read_bytes().strip():  # datasets' json reader fails obscurely on these
            raise LangAdaptError(f"{data_path}: the dataset is empty")
        docs = squad_file_documents(path)
        if docs is None and path.suffix.lower() == ".tsv":
            docs = tsv_documents(path)
        if docs is None:
            dataset = pick_local_split(load_any_dataset(data_path), split, data_path)
            check_saved_config(dataset, spec, lang, data_path)
            require_columns(dataset, spec.columns, data_path)
            docs = list(dataset)
    else:
        if split_name(split) not in spec.splits:
            raise LangAdaptError(f"--split {split}: {spec.name} has splits {', '.join(spec.splits)}")
        source = f"{spec.hub_path} ({spec.config_for(lang)}, {split})"
        check_hub_reachable(f"--task {spec.name}: its dataset", spec.hub_path, "dataset",
                            fix="pass --data_path with a local copy")
        dataset = load_any_dataset(spec.hub_path, spec.config_for(lang), split=split)
        require_columns(dataset, spec.columns, source)
        docs = list(dataset)
    missing = [c for c in spec.columns if docs and c not in docs[0]]
    if missing:
        raise LangAdaptError(f"{source}: missing field(s) {', '.join(missing)}")
    if spec.filter_column and docs and spec.filter_column in docs[0]:
        wanted = spec.config_for(lang)
        docs = [doc for doc in docs if doc[spec.filter_column] == wanted]
        if not docs:
            raise LangAdaptError(f"{source}: no rows with {spec.filter_column} == {wanted!r}")
    if not docs:
        raise LangAdaptError(f"{source}: the dataset is empty")
    if limit is not None:
        if limit < 1:
            raise LangAdaptError(f"--limit must be >= 1, got {limit}")
        docs = docs[:limit]
    check_rows(docs, spec.columns, f"--data_path {data_path}" if data_path else source)
    logger.info("%s: %d documents from %s", spec.name, len(docs), source)
    return docs
