"""Space-separated words of a text as numpy code points, hashed and looked up in bulk.

The code-mixer touches every word of the training data. Looking words up one by one in a Python dict costs
a hash, two cache misses and an interpreter round trip per word; here a whole batch of text becomes one
array of code points, every word gets a 64-bit hash from a few array operations, and one open-addressing
table maps the hashes to word ids with vectorised probes. The hash only finds a candidate: the caller
compares the candidate's stored code points with the word's, so a collision can never change the output.
"""
from __future__ import annotations

import codecs
from typing import Optional

import numpy as np

_CODEC = "utf-32-le"
_SPACE = ord(" ")
GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def to_code_points(text: str) -> np.ndarray:
    """The text's code points as uint32 (lone surrogates kept, as Python strings may hold them)."""
    return np.frombuffer(text.encode(_CODEC, "surrogatepass"), dtype=np.uint32)


def from_code_points(code_points: np.ndarray) -> str:
    return codecs.decode(np.ascontiguousarray(code_points, dtype=np.uint32), _CODEC, "surrogatepass")


class GrowingArray:
    """A numpy array appended to in batches; capacity doubles, so an append costs only the new entries."""

    def __init__(self, dtype):
        self.array, self.size = np.empty(1024, dtype=dtype), 0

    def extend(self, values) -> None:
        end = self.size + len(values)
        if end > len(self.array):
            grown = np.empty(max(end, 2 * len(self.array)), dtype=self.array.dtype)
            grown[:self.size] = self.array[:self.size]
            self.array = grown
        self.array[self.size:end] = values
        self.size = end

    def truncate(self, size: int) -> None:
        self.size = min(self.size, size)


def exclusive_cumsum(values: np.ndarray) -> np.ndarray:
    """[0, v0, v0 + v1, ..., sum(values)]: where each of a run of spans starts, and where the run ends."""
    bounds = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=bounds[1:])
    return bounds


_COUNTING = np.arange(1 << 16)


def _counting(count: int) -> np.ndarray:
    """0, 1, ..., count - 1, as a view of one array kept for every call."""
    global _COUNTING
    if count > len(_COUNTING):
        _COUNTING = np.arange(max(count, 2 * len(_COUNTING)))
    return _COUNTING[:count]


def gather_spans(starts: np.ndarray, spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions `starts[i] .. starts[i] + spans[i] - 1`, one span after another, and where each span
    starts among them (plus their total)."""
    bounds = exclusive_cumsum(spans)
    positions = np.repeat(starts - bounds[:-1], spans)
    positions += _counting(len(positions))
    return positions, bounds


class SpacedWords:
    """The words of a text as `str.split(" ")` gives them (empty words between two spaces included), over
    the text's code points with one space appended, so that every word, the last too, is followed by a
    space: word w with its space spans `starts[w]:starts[w] + lengths[w] + 1`, and the words with their
    spaces tile the code points."""

    def __init__(self, text: str):
        self.text = text
        self.code_points = to_code_points(text + " ")
        self.spaces = np.flatnonzero(self.code_points == _SPACE)
        self.starts = np.concatenate(([0], self.spaces[:-1] + 1))
        self.lengths = self.spaces - self.starts
        self.prefix_sums: Optional[np.ndarray] = None  # filled by WordHasher when first needed

    def __len__(self) -> int:
        return len(self.starts)

    def word_of(self, positions) -> np.ndarray:
        """Index of the word at each code-point position; a space belongs to the word before it."""
        return np.searchsorted(self.spaces, positions, side="left")

    def spelled(self, positions: np.ndarray) -> list[str]:
        """The words at `positions`, as strings."""
        starts = self.starts[positions]
        ends = starts + self.lengths[positions]
        return list(map(self.text.__getitem__, map(slice, starts.tolist(), ends.tolist())))


def _powers_of(base: int, count: int) -> np.ndarray:
    """base**0 .. base**(count - 1) mod 2**64."""
    powers = np.ones(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.cumprod(np.full(count - 1, base, dtype=np.uint64), out=powers[1:])
    return powers


class WordHasher:
    """64-bit hashes of words: a polynomial in an odd base over the word's code points (mod 2**64, computed
    for a whole batch from one prefix sum), plus the length, times an odd constant; never 0, which marks
    an empty table slot. Only a lookup key: callers compare code points before trusting a match."""

    _BASE = 0xD6E8FEB86659FD93  # odd, so invertible mod 2**64
    _SPREAD = np.uint64(0xBF58476D1CE4E5B9)

    def __init__(self):
        self._powers = np.ones(1, dtype=np.uint64)  # BASE**i
        self._inverse_powers = np.ones(1, dtype=np.uint64)  # BASE**-i

    def _grow(self, size: int) -> None:
        if len(self._powers) >= size:
            return
        size = max(size, 2 * len(self._powers))
        self._powers = _powers_of(self._BASE, size)
        self._inverse_powers = _powers_of(pow(self._BASE, -1, 1 << 64), size)

    def __call__(self, words: SpacedWords, starts: Optional[np.ndarray] = None,
                 lengths: Optional[np.ndarray] = None) -> np.ndarray:
        """Hashes of the runs of `lengths` code points at `starts` in `words` (by default the words)."""
        if starts is None:
            starts, lengths = words.starts, words.lengths
        if words.prefix_sums is None:
            code_points = words.code_points
            self._grow(len(code_points) + 1)
            words.prefix_sums = np.zeros(len(code_points) + 1, dtype=np.uint64)
            with np.errstate(over="ignore"):
                np.cumsum(code_points * self._powers[:len(code_points)], out=words.prefix_sums[1:])
        prefix = words.prefix_sums
        with np.errstate(over="ignore"):
            polynomial = (prefix.take(starts + lengths) - prefix.take(starts)) * self._inverse_powers.take(starts)
            # Multiplying by an odd constant spreads the polynomial of short words over the top bits, which
            # pick the table slot; it is a bijection, so it adds no collision.
            return (polynomial + lengths.astype(np.uint64) * GOLDEN) * self._SPREAD | np.uint64(1)


class HashIndex:
    """64-bit hash -> id, open addressing with linear probing, at most half full; looked up and filled a
    whole array at a time. The few lookups left after several vectorised probes (the long tail of probe
    chains) finish one by one, so that one long chain does not cost a numpy round trip per slot."""

    _EMPTY = 0
    _VECTOR_PROBES = 8

    def __init__(self, capacity_bits: int = 16):
        self._bits = capacity_bits
        self._keys = np.zeros(1 << capacity_bits, dtype=np.uint64)  # 0: empty slot
        self._ids = np.zeros(1 << capacity_bits, dtype=np.int32)
        self.size = 0

    def _home(self, hashes: np.ndarray) -> np.ndarray:
        return (hashes >> np.uint64(64 - self._bits)).astype(np.int64)

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """The id stored under each hash, -1 where there is none."""
        mask = len(self._keys) - 1
        slots = self._home(hashes)
        keys = self._keys.take(slots)
        hit = keys == hashes
        found = np.where(hit, self._ids.take(slots), -1)
        pending = np.flatnonzero(~hit)
        pending = pending[keys[pending] != self._EMPTY]  # probe on past other hashes
        for _ in range(self._VECTOR_PROBES):
            if not len(pending):
                return found
            slots[pending] = (slots[pending] + 1) & mask
            keys = self._keys.take(slots[pending])
            hit = keys == hashes[pending]
            found[pending[hit]] = self._ids.take(slots[pending[hit]])
            pending = pending[~hit & (keys != self._EMPTY)]
        for position, slot, wanted in zip(pending.tolist(), slots[pending].tolist(), hashes[pending].tolist()):
            slot = self._probe_one(slot, wanted)
            found[position] = self._ids[slot] if int(self._keys[slot]) == wanted else -1
        return found

    def _probe_one(self, slot: int, wanted: int) -> int:
        """From `slot` on, the slot holding `wanted` or else the first empty one, probing one at a time."""
        mask = len(self._keys) - 1
        while int(self._keys[slot]) not in (self._EMPTY, wanted):
            slot = (slot + 1) & mask
        return slot

    def insert(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Store distinct `hashes` under `ids`; a hash already stored keeps its id (its word is then found
        by the caller's slower exact path)."""
        if 2 * (self.size + len(hashes)) > len(self._keys):
            self._grow(self.size + len(hashes))
        mask = len(self._keys) - 1
        slots, pending = self._home(hashes), np.arange(len(hashes))
        for _ in range(self._VECTOR_PROBES):
            pending = pending[self._keys[slots[pending]] != hashes[pending]]  # drop hashes already stored
            free = pending[self._keys[slots[pending]] == self._EMPTY]
            self._keys[slots[free]] = hashes[free]  # of several writers to one slot, one wins
            won = free[self._keys[slots[free]] == hashes[free]]
            self._ids[slots[won]] = ids[won]
            self.size += len(won)
            pending = pending[self._keys[slots[pending]] != hashes[pending]]  # the rest move on
            if not len(pending):
                return
            slots[pending] = (slots[pending] + 1) & mask
        for slot, wanted, word_id in zip(slots[pending].tolist(), hashes[pending].tolist(), ids[pending].tolist()):
            slot = self._probe_one(slot, wanted)
            if int(self._keys[slot]) == self._EMPTY:
                self._keys[slot], self._ids[slot] = wanted, word_id
                self.size += 1

    def _grow(self, needed: int) -> None:
        stored = self._keys != self._EMPTY
        keys, ids = self._keys[stored], self._ids[stored]
        while 2 * needed > (1 << self._bits):
            self._bits += 1
        self._keys = np.zeros(1 << self._bits, dtype=np.uint64)
        self._ids = np.zeros(1 << self._bits, dtype=np.int32)
        self.size = 0
        self.insert(keys, ids)
