"""Translation pairs -> tokenised source/target rows -> right-padded batches with attention masks.

Source and target are tokenised separately (each side is its own forward pass) and padded per batch, so
a batch costs the length of its longest sentence rather than `--max_length`.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import torch

from ..data import load_any_dataset, require_columns
from ..errors import LangAdaptError
from ..evaluation.batching import pad_right
from ..languages import get_language

SRC_IDS, TGT_IDS = "input_ids_src", "input_ids_tgt"


def translation_key(available: Iterable[str], code: str, flag: str) -> str:
    """The key of the `translation` dict that holds language `code` (eng, en or eng_Latn all match)."""
    available = list(available)
    candidates = [code]
    try:
        lang = get_language(code)
        candidates += [c for c in (lang.iso3, lang.iso1, lang.flores, lang.flores_plus) if c]
    except LangAdaptError:
        pass
    for candidate in candidates:
        if candidate in available:
            return candidate
    raise LangAdaptError(f"{flag} {code!r}: no such key in the dataset's `translation` column; keys found: "
                         f"{', '.join(available) or '(none)'}")


def load_translation_pairs(name_or_path: str, config: Optional[str], split: str, src: str, tgt: str
                           ) -> tuple[list[str], list[str]]:
    """Source and target sentences of a dataset with a `translation` column (hub id or local path)."""
    dataset = load_any_dataset(name_or_path, config_name=config, split=split,
                               flags=("--dataset_name", "--dataset_config", "--dataset_split"))
    require_columns(dataset, ["translation"], f"--dataset_name {name_or_path}")
    if len(dataset) == 0:
        raise LangAdaptError(f"--dataset_name {name_or_path}: split {split!r} is empty")
    pairs = dataset["translation"]
    src_key = translation_key(pairs[0].keys(), src, "--src")
    tgt_key = translation_key(pairs[0].keys(), tgt, "--tgt")
    return [pair[src_key] or "" for pair in pairs], [pair[tgt_key] or "" for pair in pairs]


class TokenizedPairs(torch.utils.data.Dataset):
    """Parallel token-id rows; pairs where either side tokenises to nothing are dropped."""

    def __init__(self, tokenizer, sources: Sequence[str], targets: Sequence[str], max_length: int):
        if len(sources) != len(targets):
            raise LangAdaptError(f"source and target sides differ in length ({len(sources)} vs {len(targets)})")
        encode = lambda texts: tokenizer(list(texts), truncation=True, max_length=max_length,  # noqa: E731
                                         add_special_tokens=False)["input_ids"]
        pairs = [(s, t) for s, t in zip(encode(sources), encode(targets)) if s and t]
        self.dropped = len(sources) - len(pairs)
        self.src = [s for s, _ in pairs]
        self.tgt = [t for _, t in pairs]

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return {SRC_IDS: self.src[index], TGT_IDS: self.tgt[index]}


class PairCollator:
    """Right-pads each side to its own longest row; the attention mask marks real tokens."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        src_ids, src_mask = pad_right([row[SRC_IDS] for row in rows], self.pad_id, "cpu")
        tgt_ids, tgt_mask = pad_right([row[TGT_IDS] for row in rows], self.pad_id, "cpu")
        return {"src_ids": src_ids, "src_mask": src_mask, "tgt_ids": tgt_ids, "tgt_mask": tgt_mask}


def target_labels(tgt_ids: torch.Tensor, tgt_mask: torch.Tensor) -> torch.Tensor:
    """LM labels for the target side: padding ignored by position (a real EOS stays a label)."""
    return tgt_ids.masked_fill(tgt_mask == 0, -100)


def load_flores_pairs(src: str, tgt: str, split: str, validation_file: Optional[str] = None,
                      validation_dataset: Optional[str] = None) -> tuple[list[str], list[str]]:
    """Aligned FLORES sentences of both languages; a local folder (`--validation_file`) wins over the hub."""
    from ..evaluation.flores import load_flores_sentences

    source = validation_file or validation_dataset
    flag = "--validation_file" if validation_file else "--validation_dataset"
    if not source:
        raise LangAdaptError("evaluation needs --validation_file or --validation_dataset")
    sources, targets = load_flores_sentences(source, src, split), load_flores_sentences(source, tgt, split)
    if len(sources) != len(targets):
        raise LangAdaptError(f"{flag} {source}: {len(sources)} {src} sentences but {len(targets)} {tgt} "
                             f"sentences in {split}; FLORES sides must align line by line")
    return sources, targets
