"""MUSE dictionaries, word-level code-mixing and Alpaca formatting (COMMIT, REFERENCE.md section 3).

Code-mixing replaces dictionary words by a translation, word by word, with probability `ratio`. Text is
split on single spaces only, so joining the pieces back gives the exact original spacing; newlines and
tabs stay inside their "word", as in the original implementation. Leading/trailing punctuation, ASCII
symbols and whitespace are stripped before the (case-sensitive) lookup and re-attached afterwards.
Every draw comes from a random stream the caller seeds per example and epoch (`example_rng`), so the
mixing is reproducible, independent of data order and process count, and different on every pass over
the data.
"""
from __future__ import annotations

import hashlib
import re
import string
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate, chain
from operator import getitem
from pathlib import Path
from typing import Mapping, Optional, Protocol, Sequence

from .errors import LangAdaptError

MUSE_FETCH_HINT = "fetch it with `python dicts/fetch_muse.py {pair}` or pass another --codemix_dict_path"

# Stanford Alpaca's two prompt templates (prompt_input / prompt_no_input).
ALPACA_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n")


# ------------------------------------------------------------------------------------------ dictionaries
@dataclass(frozen=True)
class MuseDictionary:
    """Source word -> its translations (in file order, duplicates dropped); direction from the file name."""

    translations: Mapping[str, tuple[str, ...]]
    path: str
    source_lang: Optional[str] = None
    target_lang: Optional[str] = None

    def __len__(self) -> int:
        return len(self.translations)


def dictionary_direction(path: str | Path) -> tuple[Optional[str], Optional[str]]:
    """(`en`, `hi`) for `.../en-hi.txt`; (None, None) when the name does not say."""
    match = re.fullmatch(r"([A-Za-z]{2,3})-([A-Za-z]{2,3})(?:\.[0-9]+-[0-9]+)?\.txt", Path(path).name)
    return (match.group(1).lower(), match.group(2).lower()) if match else (None, None)


def load_muse_dictionary(path: str | Path) -> MuseDictionary:
    """Read a MUSE lexicon: one `source<TAB or SPACE>target` pair a line, `#` comments and blanks skipped."""
    path = Path(path)
    if not path.is_file():
        source, target = dictionary_direction(path)
        pair = f"{source}-{target}" if source else "SRC-TGT"
        raise LangAdaptError(f"--codemix_dict_path: dictionary {path} not found; "
                             f"{MUSE_FETCH_HINT.format(pair=pair)}")
    table: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t") if "\t" in line else line.split(" ")
            if len(parts) != 2 or not parts[0] or not parts[1]:
                raise LangAdaptError(f"{path}:{number}: expected `source<TAB>target` or `source target`, "
                                     f"got {line[:80]!r}")
            options = table.setdefault(parts[0], [])
            if parts[1] not in options:
                options.append(parts[1])
    if not table:
        raise LangAdaptError(f"--codemix_dict_path: {path} holds no word pairs")
    source, target = dictionary_direction(path)
    return MuseDictionary({word: tuple(options) for word, options in table.items()}, str(path), source, target)


# ------------------------------------------------------------------------------------------ code-mixing
def _is_edge(char: str) -> bool:
    """Stripped from word edges: Unicode punctuation (P*), ASCII symbols, whitespace."""
    return char in string.punctuation or char.isspace() or unicodedata.category(char).startswith("P")


class _EdgeCharacters(dict):
    """char -> `_is_edge(char)`, filled on first sight: scanning all of Unicode up front costs seconds."""

    def __missing__(self, char: str) -> bool:
        self[char] = edge = _is_edge(char)
        return edge


# The edge characters among ASCII (string.punctuation plus whitespace, \x1c-\x1f included), for
# str.strip: most words of most data have only these at their edges.
_ASCII_EDGES = "".join(char for char in map(chr, range(128)) if _is_edge(char))


@dataclass
class CodeMixStats:
    words: int = 0
    in_dictionary: int = 0
    replaced: int = 0

    def add(self, other: "CodeMixStats") -> None:
        self.words += other.words
        self.in_dictionary += other.in_dictionary
        self.replaced += other.replaced

    @property
    def coverage(self) -> float:
        return self.in_dictionary / self.words if self.words else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"words": self.words, "in_dictionary": self.in_dictionary, "replaced": self.replaced,
                "coverage": round(self.coverage, 6),
                "replaced_fraction": round(self.replaced / self.words, 6) if self.words else 0.0}


class RandomBytes(Protocol):
    """What the mixer draws from: `random.Random` or `ExampleRandom`."""

    def randbytes(self, n: int) -> bytes: ...


class ExampleRandom:
    """The random bytes of one example: SHAKE-128 of (seed, epoch, index), read in order.

    Starting one costs ~1 us where seeding a `random.Random` (Mersenne Twister) costs ~6 us, and one is
    started per training example."""

    __slots__ = ("_stream", "_read")

    def __init__(self, seed: int, epoch: int, index: int):
        self._stream = hashlib.shake_128(f"codemix {seed} {epoch} {index}".encode())
        self._read = 0

    def randbytes(self, n: int) -> bytes:
        start = self._read
        self._read += n
        return self._stream.digest(self._read)[start:]


# Distinct words remembered per mixer (a few hundred bytes each): Alpaca has ~10^5, Wikipedia more;
# words past the limit are parsed on every occurrence, which is correct, only slower.
OUTCOME_CACHE_LIMIT = 1_000_000
# One unsigned 32-bit draw per word, read from the random bytes (C `unsigned int` is 32-bit).
_DRAW_BYTES, _DRAW_FORMAT = 4, "I"
_DRAW_RANGE = 1 << (8 * _DRAW_BYTES)


class CodeMixer:
    """Replace dictionary words by a uniformly chosen translation with probability `ratio`.

    This runs on every word of the training data, so the per-word work is done by C loops (map, bisect,
    join) instead of Python statements. Each distinct space-separated word is parsed once into its
    possible outcomes, `(word, head + translation_1 + tail, ..., head + translation_k + tail)` (just
    `(word,)` outside the dictionary), and remembered. Then every word costs one 32-bit draw, all read
    at once from the example's random bytes: a draw below `(1 - ratio) * 2**32` keeps the word, one in
    the i-th of k equal slices of the rest picks translation i (found by bisecting the word's slice
    starts). Draws are independent per word, so each word is replaced with probability `ratio` by a
    uniformly chosen translation, exact to 2**-32.
    """

    def __init__(self, dictionary: MuseDictionary, ratio: float):
        if not 0.0 <= ratio <= 1.0:
            raise LangAdaptError(f"--codemix_ratio must be within [0, 1], got {ratio}")
        self.dictionary, self.ratio = dictionary, ratio
        self.stats = CodeMixStats()
        self._edges = _EdgeCharacters()
        self._outcomes: dict[str, tuple[str, ...]] = {}
        # Outcomes of the words without edges, built once and shared by every cache entry that uses them.
        self._bare_outcomes = {core: (core,) + options for core, options in dictionary.translations.items()}
        # Slice starts by number of outcomes: one (not in the dictionary) -> none, k + 1 -> k starts.
        replaced_range = round(ratio * _DRAW_RANGE)
        kept_below = _DRAW_RANGE - replaced_range
        most = max(map(len, dictionary.translations.values()), default=0)
        self._slice_starts = [(), ()] + [tuple(kept_below + replaced_range * i // k for i in range(k))
                                         for k in range(1, most + 1)]

    def _split_unicode_edges(self, word: str) -> tuple[str, str, str]:
        """(leading edge, core, trailing edge), one character at a time."""
        edges, start, end = self._edges, 0, len(word)
        while start < end and edges[word[start]]:
            start += 1
        while end > start and edges[word[end - 1]]:
            end -= 1
        return word[:start], word[start:end], word[end:]

    def _parse(self, word: str) -> tuple[str, ...]:
        """The word's possible outcomes, remembered while the cache has room.

        ASCII edges go by str.strip; only a core that then starts or ends beyond ASCII (a non-ASCII
        edge, or a word in another script) needs the character-by-character split."""
        left = word.lstrip(_ASCII_EDGES)
        core = left.rstrip(_ASCII_EDGES)
        if core and (core[0] >= "\x80" or core[-1] >= "\x80"):
            head, core, tail = self._split_unicode_edges(word)
        else:
            head, tail = word[:len(word) - len(left)], left[len(core):]
        if not (head or tail):
            outcomes = self._bare_outcomes.get(core) or (word,)
        else:
            options = self.dictionary.translations.get(core, ()) if core else ()
            outcomes = (word,) + tuple([head + option + tail for option in options])
        if len(self._outcomes) < OUTCOME_CACHE_LIMIT:
            self._outcomes[word] = outcomes
        return outcomes

    def mix(self, text: str, rng: RandomBytes) -> str:
        return self.mix_texts([text], rng)[0]

    def mix_texts(self, texts: Sequence[str], rng: RandomBytes) -> list[str]:
        """Mix the texts of one example in one pass: the per-call costs are paid once per example."""
        pieces = [text.split(" ") for text in texts]
        words = pieces[0] if len(pieces) == 1 else list(chain.from_iterable(pieces))
        outcomes = list(map(self._outcomes.get, words))
        if None in outcomes:
            outcomes = [self._parse(word) if known is None else known for word, known in zip(words, outcomes)]
        sizes = list(map(len, outcomes))
        count = len(words)
        draws = memoryview(rng.randbytes(_DRAW_BYTES * count)).cast(_DRAW_FORMAT)
        picks = list(map(bisect_right, map(self._slice_starts.__getitem__, sizes), draws))
        kept = picks.count(0)
        self.stats.words += count - words.count("")
        self.stats.in_dictionary += count - sizes.count(1)
        self.stats.replaced += count - kept
        if kept == count:
            return list(texts)
        mixed = list(map(getitem, outcomes, picks))
        if len(pieces) == 1:
            return [" ".join(mixed)]
        bounds = list(accumulate(map(len, pieces), initial=0))
        return [" ".join(mixed[start:end]) for start, end in zip(bounds, bounds[1:])]


# ------------------------------------------------------------------------------------------------ Alpaca
def alpaca_prompt(instruction: str, context: str) -> str:
    if context:
        return ALPACA_PROMPT_INPUT.format(instruction=instruction, input=context)
    return ALPACA_PROMPT_NO_INPUT.format(instruction=instruction)


def alpaca_prompt_and_response(record: Mapping[str, object], mixer: Optional[CodeMixer],
                               rng: Optional[RandomBytes], block_codemix_in_template: bool,
                               source: str = "dataset") -> tuple[str, str]:
    """(prompt, response) of one Alpaca record, code-mixed when a mixer is given.

    With `block_codemix_in_template` only instruction and input are mixed, so the English template stays
    intact; without it the whole formatted prompt is mixed. The response is always mixed.
    """
    instruction, context, response = record.get("instruction"), record.get("input") or "", record.get("output")
    if not isinstance(instruction, str) or not isinstance(response, str):
        raise LangAdaptError(f"{source}: an Alpaca record needs string `instruction` and `output` fields, "
                             f"got keys {sorted(record)}")
    if mixer is None:
        return alpaca_prompt(instruction, str(context)), response
    if not block_codemix_in_template:
        prompt, response = mixer.mix_texts([alpaca_prompt(instruction, str(context)), response], rng)
        return prompt, response
    if context:
        instruction, context, response = mixer.mix_texts([instruction, str(context), response], rng)
    else:
        instruction, response = mixer.mix_texts([instruction, response], rng)
    return alpaca_prompt(instruction, context), response


def example_rng(seed: int, epoch: int, index: int) -> ExampleRandom:
    """The per-example stream: same draws for the same (seed, epoch, example), new ones each epoch."""
    return ExampleRandom(seed, epoch, index)
