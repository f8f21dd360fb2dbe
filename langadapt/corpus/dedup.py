"""Exact duplicate detection with 8 bytes of state per pair instead of the strings themselves.

A 64-bit xxh3 hash of the pair stands in for it: at ten million pairs the chance of any collision is
about 3e-6, and the set holds Python ints (~70 bytes each with the table) rather than two sentences.
"""
from __future__ import annotations

import xxhash

_SEPARATOR = "\x00"  # never inside a sentence, so ("a b", "c") and ("a", "b c") differ


def pair_key(src: str, tgt: str) -> int:
    return xxhash.xxh3_64_intdigest((src + _SEPARATOR + tgt).encode("utf-8"))


class SeenPairs:
    """Remembers pairs by hash; `first_time` is True only for the first occurrence of a pair."""

    def __init__(self):
        self._keys: set[int] = set()

    def first_time(self, src: str, tgt: str) -> bool:
        key = pair_key(src, tgt)
        if key in self._keys:
            return False
        self._keys.add(key)
        return True

    def __len__(self) -> int:
        return len(self._keys)
