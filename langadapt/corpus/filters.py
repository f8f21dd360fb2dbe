"""Per-corpus filters: Moses punctuation normalisation, word-count bounds, length ratio, language id.

Cheapest first: normalisation (fast path), word counts and the length ratio run on every pair; a pair
seen before in the same corpus is dropped next (the merge would drop it anyway), so language id, by far
the costliest check, runs only on the unique pairs that survived everything else. Language id can run in
`num_proc` worker processes; results keep the input order.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import islice
from typing import Iterable, Iterator, Optional

from .dedup import SeenPairs
from .normalize import normalizer_for
from .parallel import ordered_map

# Pair counts recorded after each filter, in the order they are applied.
FILTER_STAGES = ("raw", "length", "ratio", "unique", "langid")
LANGID_CHUNK = 2048


@dataclass(frozen=True)
class FilterSettings:
    src_lang: str  # the langid label each side must get (ISO 639-1)
    tgt_lang: str
    min_len: int
    max_len: int
    len_ratio_low: float
    len_ratio_high: float
    langid: bool = True
    src_moses: str = "en"  # language of the Moses punctuation rules per side (the original: English on both)
    tgt_moses: str = "en"

    def as_dict(self) -> dict:
        return asdict(self)


def length_ratio_ok(src_words: int, tgt_words: int, low: float, high: float) -> bool:
    """The ratio in either direction lies in [low, high] (so the bounds need not be reciprocal)."""
    if src_words == 0 or tgt_words == 0:
        return False
    ratio = src_words / tgt_words
    return low <= ratio <= high or low <= 1.0 / ratio <= high


def cheap_filter(pairs: Iterable[list], settings: FilterSettings, counts: dict[str, int]) -> Iterator[list]:
    """Normalised [src, tgt] pairs that pass the word-count and ratio bounds, first occurrences only."""
    normalize_src, normalize_tgt = normalizer_for(settings.src_moses), normalizer_for(settings.tgt_moses)
    low, high, min_len, max_len = settings.len_ratio_low, settings.len_ratio_high, settings.min_len, \
        settings.max_len
    seen = SeenPairs()
    for pair in pairs:
        counts["raw"] += 1
        src, tgt = normalize_src(pair[0]), normalize_tgt(pair[1])
        src_words, tgt_words = len(src.split()), len(tgt.split())
        if not (min_len <= src_words <= max_len and min_len <= tgt_words <= max_len):
            continue
        counts["length"] += 1
        if not length_ratio_ok(src_words, tgt_words, low, high):
            continue
        counts["ratio"] += 1
        if not seen.first_time(src, tgt):
            continue
        counts["unique"] += 1
        yield [src, tgt]


class LanguageCheck:
    """Both sides identified as the expected languages (a side the model cannot label is not checked)."""

    def __init__(self, src_lang: str, tgt_lang: str):
        from .language_id import LanguageIdentifier

        self._identifier = LanguageIdentifier()
        self._src = self._identifier.checkable(src_lang)
        self._tgt = self._identifier.checkable(tgt_lang)

    def keep(self, src: str, tgt: str) -> bool:
        label = self._identifier.label
        return (self._src is None or label(src) == self._src) and (self._tgt is None or label(tgt) == self._tgt)

    def keep_mask(self, pairs: list[list]) -> list[bool]:
        return [self.keep(src, tgt) for src, tgt in pairs]


_WORKER_CHECK: Optional[LanguageCheck] = None


def _init_worker(src_lang: str, tgt_lang: str) -> None:
    global _WORKER_CHECK
    _WORKER_CHECK = LanguageCheck(src_lang, tgt_lang)


def _worker_mask(pairs: list[list]) -> tuple[list[list], list[bool]]:
    return pairs, _WORKER_CHECK.keep_mask(pairs)


def _chunks(items: Iterator[list], size: int) -> Iterator[list[list]]:
    while chunk := list(islice(items, size)):
        yield chunk


def filter_pairs(pairs: Iterable[list], settings: FilterSettings, counts: dict[str, int],
                 num_proc: int = 1) -> Iterator[list]:
    """All filters in order; `counts` (FILTER_STAGES keys) is updated as pairs flow through."""
    for stage in FILTER_STAGES:
        counts.setdefault(stage, 0)
    survivors = cheap_filter(pairs, settings, counts)
    if not settings.langid:
        for pair in survivors:
            counts["langid"] += 1
            yield pair
        return
    checked = ordered_map(_worker_mask, _chunks(survivors, LANGID_CHUNK), num_proc,
                          initializer=_init_worker, initargs=(settings.src_lang, settings.tgt_lang))
    for chunk, mask in checked:
        for pair, keep in zip(chunk, mask):
            if keep:
                counts["langid"] += 1
                yield pair
