"""Every distinct word's possible code-mixing outcomes, stored once as code points and found in bulk.

The code-mixer touches every word of the training data, so per-word Python work is left to words seen for
the first time, and even they are learnt a batch at a time with array operations. Each distinct
space-separated word gets an id then, its own spelling is stored, and its translations `head +
translation_i + tail` (edges stripped and re-attached; none outside the dictionary) become a run of
outcome rows; a row says where a translation's code points, followed by a space, sit in the one
code-point store. A bare translation is stored once per dictionary entry and shared by all the words
whose core it translates. Words, and the cores looked up in the dictionary, are found by hash
(`word_index`) and then compared code point by code point with their stored spelling, so a hash
collision cannot change the output; the rare word whose hash another word holds goes by a dict instead.
Stored positions are 32-bit: memory (and page faults) is what learning a new word mostly costs.
"""
from __future__ import annotations

import string
import sys
import unicodedata
from itertools import chain
from typing import Mapping, Optional

import numpy as np

from .word_index import (GrowingArray, HashIndex, SpacedWords, WordHasher, exclusive_cumsum, from_code_points,
                         gather_spans, to_code_points)


def _is_edge(char: str) -> bool:
    """Stripped from word edges: Unicode punctuation (P*), ASCII symbols, whitespace."""
    return char in string.punctuation or char.isspace() or unicodedata.category(char).startswith("P")


class _EdgeTable:
    """Whether code points are edge characters, for whole arrays; a code point's answer is worked out the
    first time it is seen (deciding all of Unicode up front costs seconds)."""

    def __init__(self):
        self._edge = np.zeros(sys.maxunicode + 1, dtype=bool)
        self._known = np.zeros(sys.maxunicode + 1, dtype=bool)

    def __call__(self, code_points: np.ndarray) -> np.ndarray:
        known = self._known.take(code_points)
        if not known.all():
            unknown = np.unique(code_points[~known])
            self._edge[unknown] = list(map(_is_edge, map(chr, unknown.tolist())))
            self._known[unknown] = True
        return self._edge.take(code_points)


class WordOutcomes:
    """The outcomes of every word seen so far, given the dictionary `source word -> translations`."""

    def __init__(self, dictionary: Mapping[str, tuple[str, ...]]):
        self._dictionary = dictionary
        self._edges = _EdgeTable()
        self._hash = WordHasher()
        self._code_points = GrowingArray(np.uint32)
        # Per outcome (a translation as some word spells it): where its code points, and the space after
        # them, sit in `_code_points`.
        self._outcome_start = GrowingArray(np.int32)
        self._outcome_span = GrowingArray(np.int32)
        self._store_dictionary()
        self.forget()

    def __len__(self) -> int:
        """Words learnt so far."""
        return self._translation_count.size

    @property
    def stored_code_points(self) -> int:
        return self._code_points.size

    def translation_counts(self, ids: np.ndarray) -> np.ndarray:
        return self._translation_count.array.take(ids)

    def spell(self, ids: np.ndarray, picks: np.ndarray) -> tuple[str, np.ndarray]:
        """The words `ids`, each as itself (pick 0) or as its translation `pick` (from 1), one after another
        with a space after each, as a string; and where each starts in it (plus its total length)."""
        kept = picks == 0
        rows = self._first_translation.array.take(ids) + picks - 1
        starts = np.where(kept, self._spelling_start.array.take(ids), self._outcome_start.array.take(rows, mode="clip"))
        spans = np.where(kept, self._spelling_span.array.take(ids), self._outcome_span.array.take(rows, mode="clip"))
        gather, bounds = gather_spans(starts, spans)
        return from_code_points(self._code_points.array.take(gather)), bounds

    def forget(self) -> None:
        """Drop every word learnt so far (the dictionary stays)."""
        self._unindexed: dict[str, int] = {}  # words whose hash belongs to another word -> their id
        self._index = HashIndex()
        # Per word id: the outcome row of its first translation and how many there are; where its own
        # spelling starts in `_code_points`, and its length with the space after it.
        self._first_translation = GrowingArray(np.int32)
        self._translation_count = GrowingArray(np.int32)
        self._spelling_start = GrowingArray(np.int32)
        self._spelling_span = GrowingArray(np.int32)
        code_points, outcomes = self._dictionary_sizes
        self._code_points.truncate(code_points)
        self._outcome_start.truncate(outcomes)
        self._outcome_span.truncate(outcomes)
        # id 0: the empty "word" between two spaces, so that every table is valid to index from the start
        empty = SpacedWords("")
        self._store_new_words(empty, np.zeros(1, dtype=np.int64), self._hash(empty))

    def _store_dictionary(self) -> None:
        """Every translation as an outcome, once, and every source word's spelling; per entry (source
        word), its first translation and their count, the entry after the last having none (the entry of
        every core outside the dictionary); source words indexed by hash."""
        sources = list(self._dictionary)
        counts = np.fromiter(map(len, self._dictionary.values()), dtype=np.int64, count=len(sources))
        translations = list(chain.from_iterable(self._dictionary.values()))
        first = self._append_outcomes(*self._spelled(translations))
        self._entry_count = np.append(counts, 0)
        self._entry_first = first + exclusive_cumsum(counts)
        spelled = SpacedWords(" ".join(sources))  # its code points: each source followed by a space
        self._entry_length = np.fromiter(map(len, sources), dtype=np.int64, count=len(sources))
        self._entry_spelling = self._append_spellings(spelled.code_points, self._entry_length + 1)
        self._dictionary_sizes = (self._code_points.size, self._outcome_start.size)
        # A source word with a space in it can never be a core: cores come from words split at spaces.
        indexable = [number for number, word in enumerate(sources) if " " not in word]
        source_starts = exclusive_cumsum(self._entry_length + 1)[:-1]
        hashes = self._hash(spelled, source_starts[indexable], self._entry_length[indexable])
        self._entry_index = HashIndex()
        unique_hashes, first_seen = np.unique(hashes, return_index=True)
        self._entry_index.insert(unique_hashes, np.asarray(indexable, dtype=np.int64)[first_seen])
        shadowed = np.setdiff1d(np.arange(len(indexable)), first_seen)  # a hash shared with another entry
        self._unindexed_entries = {sources[indexable[i]]: indexable[i] for i in shadowed.tolist()}

    @staticmethod
    def _spelled(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The texts' code points, each followed by a space, and their lengths with that space."""
        spans = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1
        return to_code_points(" ".join(texts) + " " if texts else ""), spans

    def _append_spellings(self, code_points: np.ndarray, spans: np.ndarray) -> np.ndarray:
        """Store runs of code points (each ending in a space); returns where each starts."""
        starts = self._code_points.size + exclusive_cumsum(spans)[:-1]
        self._code_points.extend(code_points)
        return starts

    def _append_outcomes(self, code_points: np.ndarray, spans: np.ndarray) -> int:
        """Store runs of code points (each ending in a space) as outcomes; returns the first one's row."""
        first = self._outcome_start.size
        self._outcome_start.extend(self._append_spellings(code_points, spans))
        self._outcome_span.extend(spans)
        return first

    def _same_spelling(self, given: np.ndarray, stored_starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Whether each run of `lengths` code points in `given` (one run after another) equals the run at
        `stored_starts` in the store."""
        stored_positions, bounds = gather_spans(stored_starts, lengths)
        differs = self._code_points.array.take(stored_positions, mode="clip") != given
        same = np.ones(len(lengths), dtype=bool)
        if differs.any():
            same[np.searchsorted(bounds, np.flatnonzero(differs), side="right") - 1] = False
        return same

    def _dictionary_entries(self, words: SpacedWords, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The dictionary entry of each core (the runs at `starts`), or the entry past the last."""
        outside = len(self._entry_count) - 1
        candidates = self._entry_index.find(self._hash(words, starts, lengths))
        entries = np.maximum(candidates, 0)
        found = (candidates >= 0) & (self._entry_length.take(entries) == lengths)
        found &= self._same_spelling(words.code_points.take(gather_spans(starts, lengths)[0]),
                                     self._entry_spelling.take(entries), lengths)
        entries = np.where(found, candidates, outside)
        if self._unindexed_entries:
            missed = np.flatnonzero(~found & (lengths > 0))
            cores = map(words.code_points.__getitem__, map(slice, starts[missed], (starts + lengths)[missed]))
            entries[missed] = [self._unindexed_entries.get(from_code_points(core), outside) for core in cores]
        return entries

    def _store_new_words(self, words: SpacedWords, positions: np.ndarray, hashes: Optional[np.ndarray]) -> np.ndarray:
        """Give the words at `positions` the next ids and store their spellings and translations; index
        them by `hashes` when given."""
        starts, lengths = words.starts[positions], words.lengths[positions]
        # Edges: the runs of edge characters at both ends; a word of edges only has an empty core.
        characters, bounds = gather_spans(starts, lengths)
        # Positions of the characters that are not edges, and one past the last word as a sentinel.
        inner = np.append(np.flatnonzero(~self._edges(words.code_points.take(characters))), bounds[-1])
        first_inner = inner[np.searchsorted(inner, bounds[:-1])]
        last_inner = inner[np.maximum(np.searchsorted(inner, bounds[1:]) - 1, 0)]
        has_core = first_inner < bounds[1:]
        heads = np.where(has_core, first_inner - bounds[:-1], lengths)
        tails = np.where(has_core, bounds[1:] - 1 - last_inner, 0)
        entries = self._dictionary_entries(words, starts + heads, lengths - heads - tails)
        counts, sources = self._entry_count[entries], self._entry_first[entries]
        spellings = self._append_spellings(words.code_points.take(gather_spans(starts, lengths + 1)[0]), lengths + 1)
        decorated = np.flatnonzero((counts > 0) & ((heads > 0) | (tails > 0)))
        if len(decorated):
            sources[decorated] = self._decorate(spellings[decorated], lengths[decorated], sources[decorated],
                                                counts[decorated], heads[decorated], tails[decorated])
        ids = np.arange(len(self), len(self) + len(positions))
        self._first_translation.extend(sources)
        self._translation_count.extend(counts)
        self._spelling_start.extend(spellings)
        self._spelling_span.extend(lengths + 1)
        if hashes is not None:
            self._index.insert(hashes, ids)
        return ids

    def _decorate(self, spellings: np.ndarray, lengths: np.ndarray, sources: np.ndarray, counts: np.ndarray,
                  heads: np.ndarray, tails: np.ndarray) -> np.ndarray:
        """Spell the translations of words with edges (stored at `spellings`; their `counts` bare
        translations at outcome rows `sources` on) with the word's leading `heads` and trailing `tails`
        code points around them, as new outcomes; returns where each word's run of them starts."""
        translations, bounds = gather_spans(sources, counts)
        word = np.repeat(np.arange(len(spellings)), counts)
        start, length, head, tail = spellings[word], lengths[word], heads[word], tails[word]
        core_start = self._outcome_start.array.take(translations)
        core_length = self._outcome_span.array.take(translations) - 1
        # head + translation + tail and the space after the word, from three runs of stored code points
        runs = np.stack([start, core_start, start + length - tail]).T.ravel()
        run_lengths = np.stack([head, core_length, tail + 1]).T.ravel()
        first = self._append_outcomes(self._code_points.array.take(gather_spans(runs, run_lengths)[0]),
                                      head + core_length + tail + 1)
        return first + bounds[:-1]

    def _verified(self, candidates: np.ndarray, words: SpacedWords, positions: Optional[np.ndarray] = None
                  ) -> np.ndarray:
        """`candidates` (word ids, -1 for none) for all words, or for the words at `positions`, with -1
        where the candidate's stored spelling is not the word's."""
        if positions is None:
            given, spans = words.code_points, words.lengths + 1  # the words with their spaces tile it
        else:
            spans = words.lengths[positions] + 1
            given = words.code_points.take(gather_spans(words.starts[positions], spans)[0])
        known = np.maximum(candidates, 0)
        matches = (candidates >= 0) & (self._spelling_span.array.take(known) == spans)
        matches &= self._same_spelling(given, self._spelling_start.array.take(known), spans)
        return np.where(matches, candidates, -1)

    def ids(self, words: SpacedWords) -> np.ndarray:
        """The id of every word, storing the words seen for the first time."""
        hashes = self._hash(words)
        ids = self._verified(self._index.find(hashes), words)
        unknown = np.flatnonzero(ids < 0)
        if len(unknown):
            ids[unknown] = self._learn(words, unknown, hashes)
        return ids

    def _learn(self, words: SpacedWords, positions: np.ndarray, hashes: np.ndarray) -> np.ndarray:
        """Ids of the words at `positions`, which the index could not vouch for: words seen for the first
        time are stored and indexed; a word whose hash another word holds goes by `_unindexed`."""
        unique_hashes, first_seen = np.unique(hashes[positions], return_index=True)
        fresh = self._index.find(unique_hashes) < 0
        ids = np.full(len(positions), -1, dtype=np.int64)
        if fresh.any():
            ids[first_seen[fresh]] = self._store_new_words(words, positions[first_seen[fresh]], unique_hashes[fresh])
        # The other occurrences of those hashes: the words just stored, or words colliding with them.
        others = np.flatnonzero(ids < 0)
        ids[others] = self._verified(self._index.find(hashes[positions[others]]), words, positions[others])
        collided = np.flatnonzero(ids < 0)
        if len(collided):
            spelled = words.spelled(positions[collided])
            unseen = {word: position for word, position in zip(spelled, positions[collided].tolist())
                      if word not in self._unindexed}
            if unseen:
                new_ids = self._store_new_words(words, np.array(list(unseen.values())), None)
                self._unindexed.update(zip(unseen, new_ids.tolist()))
            ids[collided] = [self._unindexed[word] for word in spelled]
        return ids
