"""MUSE dictionaries, word-level code-mixing and Alpaca formatting (COMMIT, REFERENCE.md section 3).

Code-mixing replaces dictionary words by a translation, word by word, with probability `ratio`. Text is
split on single spaces only, so joining the pieces back gives the exact original spacing; newlines and
tabs stay inside their "word", as in the original implementation. Leading/trailing punctuation, ASCII
symbols and whitespace are stripped before the (case-sensitive) lookup and re-attached afterwards.
Every draw comes from a random stream the caller seeds per example and epoch (`example_rng`), so the
mixing is reproducible, independent of data order, batching and process count, and different on every
pass over the data.
"""
from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass
from itertools import accumulate, chain, repeat
from operator import add
from pathlib import Path
from typing import Mapping, Optional, Protocol, Sequence

import numpy as np

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


# One unsigned 32-bit draw per word, read from the random bytes.
_DRAW_BYTES = 4


class RandomBytes(Protocol):
    """What the mixer draws from: `random.Random` or `ExampleRandom`."""

    def randbytes(self, n: int) -> bytes: ...


_WORD_MASK = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64_output(state: np.ndarray) -> np.ndarray:
    """SplitMix64's output function: a bijection of 64-bit words in which every input bit flips about
    half of the output bits."""
    state = (state ^ (state >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    state = (state ^ (state >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state ^ (state >> np.uint64(31))


class ExampleRandom:
    """The random bytes of one example, read in order: the SplitMix64 stream whose state starts at a key
    mixed from (seed, epoch, index); its 64-bit outputs are laid out little-endian.

    The stream is counter-based (output n is a function of the key and n alone), so the mixer computes
    the draws of a whole batch of examples in a few numpy operations (`example_draws`) instead of one
    generator call per example, and starting one costs next to nothing; one is started per example."""

    __slots__ = ("seed", "epoch", "index", "read")

    def __init__(self, seed: int, epoch: int, index: int):
        self.seed, self.epoch, self.index = seed & _WORD_MASK, epoch & _WORD_MASK, index & _WORD_MASK
        self.read = 0  # bytes read so far

    def randbytes(self, n: int) -> bytes:
        start, self.read = self.read, self.read + n
        outputs = _stream_outputs(_stream_keys([self]), np.arange(start // 8, (self.read + 7) // 8, dtype=np.uint64))
        return outputs.astype("<u8").tobytes()[start % 8:start % 8 + n]


def _stream_keys(rngs: Sequence[ExampleRandom]) -> np.ndarray:
    seeds, epochs, indices = (np.array(values, dtype=np.uint64)
                              for values in zip(*[(rng.seed, rng.epoch, rng.index) for rng in rngs]))
    return _splitmix64_output(_splitmix64_output(_splitmix64_output(seeds + _GOLDEN) + epochs) + indices)


def _stream_outputs(keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Output `positions[i]` (from 0) of the stream keyed `keys[i]`."""
    return _splitmix64_output(keys + (positions + np.uint64(1)) * _GOLDEN)


def example_draws(rngs: Sequence[RandomBytes], counts: Sequence[int]) -> np.ndarray:
    """`counts[i]` unsigned 32-bit draws (4 little-endian bytes each) read on from each `rngs[i]`, one
    after another; computed for all examples at once when they are `ExampleRandom` streams."""
    if not all(type(rng) is ExampleRandom and rng.read % _DRAW_BYTES == 0 for rng in rngs):
        return np.frombuffer(b"".join([rng.randbytes(_DRAW_BYTES * count) for rng, count in zip(rngs, counts)]),
                             dtype="<u4")
    counts = np.asarray(counts, dtype=np.int64)
    example = np.repeat(np.arange(len(rngs)), counts)
    first = np.array([rng.read // _DRAW_BYTES for rng in rngs], dtype=np.int64)
    for rng, count in zip(rngs, counts.tolist()):
        rng.read += _DRAW_BYTES * count
    # Draw number within each stream; draws 2n and 2n + 1 are the low and high halves of output n.
    draw = np.arange(len(example)) + np.repeat(first - (np.cumsum(counts) - counts), counts)
    outputs = _stream_outputs(_stream_keys(rngs)[example], (draw >> 1).astype(np.uint64))
    return (outputs >> ((draw & 1) * 32).astype(np.uint64)).astype(np.uint32)


# Distinct words remembered per mixer (a few hundred bytes each): Alpaca has ~10^5, Wikipedia more; past
# the limit the memory starts over, which is correct, only slower.
OUTCOME_CACHE_LIMIT = 1_000_000
_DRAW_RANGE = 1 << (8 * _DRAW_BYTES)


class _WordIds(dict):
    """word -> its id in the mixer's outcome tables; a word seen for the first time gets the next id and
    waits in `new` until the end of the batch, when all new words are parsed together."""

    def __init__(self):
        super().__init__({"": 0})  # id 0: the empty "word" between two spaces, not counted as a word
        self.new: list[str] = []

    def __missing__(self, word: str) -> int:
        self[word] = word_id = len(self)
        self.new.append(word)
        return word_id


class _GrowingArray:
    """A numpy array appended to in batches; capacity doubles, so an append costs only the new entries."""

    def __init__(self, dtype, values: list):
        self.array, self.size = np.empty(1024, dtype=dtype), 0
        self.extend(values)

    def extend(self, values: list) -> None:
        end = self.size + len(values)
        if end > len(self.array):
            grown = np.empty(max(end, 2 * len(self.array)), dtype=self.array.dtype)
            grown[:self.size] = self.array[:self.size]
            self.array = grown
        self.array[self.size:end] = values
        self.size = end


class CodeMixer:
    """Replace dictionary words by a uniformly chosen translation with probability `ratio`.

    This runs on every word of the training data, so a whole batch of examples is mixed at once and the
    per-word work is C loops and numpy arrays instead of Python statements. Each distinct space-separated
    word gets an id the first time it is seen, and its possible outcomes `word, head + translation_1 +
    tail, ..., head + translation_k + tail` (k = 0 outside the dictionary) are stored side by side in one
    flat table. Every word then costs one 32-bit draw from its example's random bytes: a draw below
    `(1 - ratio) * 2**32` keeps the word, one in the i-th of k equal slices of the rest picks translation
    i. Draws are independent per word, so each word is replaced with probability `ratio` by a uniformly
    chosen translation, exact to 2**-32; and as each example draws from its own stream, in word order,
    the result does not depend on how examples are batched.
    """

    def __init__(self, dictionary: MuseDictionary, ratio: float):
        if not 0.0 <= ratio <= 1.0:
            raise LangAdaptError(f"--codemix_ratio must be within [0, 1], got {ratio}")
        self.dictionary, self.ratio = dictionary, ratio
        self.stats = CodeMixStats()
        self._edges = _EdgeCharacters()
        self._replaced_range = round(ratio * _DRAW_RANGE)
        self._kept_below = _DRAW_RANGE - self._replaced_range
        self._forget_words()

    def _forget_words(self) -> None:
        self._ids = _WordIds()
        # Per word id: where its outcomes start in `_outcomes` and how many translations follow.
        self._first = _GrowingArray(np.int64, [0])
        self._translations = _GrowingArray(np.int64, [0])
        self._outcomes = _GrowingArray(object, [""])

    def _split_unicode_edges(self, word: str) -> tuple[str, str, str]:
        """(leading edge, core, trailing edge), one character at a time."""
        edges, start, end = self._edges, 0, len(word)
        while start < end and edges[word[start]]:
            start += 1
        while end > start and edges[word[end - 1]]:
            end -= 1
        return word[:start], word[start:end], word[end:]

    def _store_new_words(self) -> None:
        """Parse the words first seen in this batch into their outcomes and append them to the tables.

        ASCII edges go by str.strip; only a core that then starts or ends beyond ASCII (a non-ASCII
        edge, or a word in another script) needs the character-by-character split."""
        words, self._ids.new = self._ids.new, []
        lefts = [word.lstrip(_ASCII_EDGES) for word in words]
        cores = [left.rstrip(_ASCII_EDGES) for left in lefts]
        heads = [word[:len(word) - len(left)] for word, left in zip(words, lefts)]
        tails = [left[len(core):] for left, core in zip(lefts, cores)]
        for i, core in enumerate(cores):
            if core and (core[0] >= "\x80" or core[-1] >= "\x80"):
                heads[i], cores[i], tails[i] = self._split_unicode_edges(words[i])
        options = list(map(self.dictionary.translations.get, cores, repeat(())))
        outcomes = [(word,) + choices if not (head or tail) or not choices else
                    (word,) + tuple(map(add, map(head.__add__, choices), repeat(tail)))
                    for word, head, tail, choices in zip(words, heads, tails, options)]
        sizes = np.fromiter(map(len, outcomes), dtype=np.int64, count=len(outcomes))
        self._first.extend(self._outcomes.size + np.cumsum(sizes) - sizes)
        self._translations.extend(sizes - 1)
        self._outcomes.extend(list(chain.from_iterable(outcomes)))

    def mix(self, text: str, rng: RandomBytes) -> str:
        return self.mix_batch([[text]], [rng])[0][0]

    def mix_texts(self, texts: Sequence[str], rng: RandomBytes) -> list[str]:
        """Mix the texts of one example; its words draw from `rng` in order."""
        return self.mix_batch([texts], [rng])[0]

    def mix_batch(self, examples: Sequence[Sequence[str]], rngs: Sequence[RandomBytes]) -> list[list[str]]:
        """Mix the texts of several examples at once, example i drawing from `rngs[i]` in word order."""
        if len(self._ids) > OUTCOME_CACHE_LIMIT:
            self._forget_words()
        texts = [text for texts in examples for text in texts]
        if not texts:
            return [[] for _ in examples]
        example_bounds = list(accumulate(map(len, examples), initial=0))
        text_bounds = list(accumulate([text.count(" ") + 1 for text in texts], initial=0))
        words = " ".join(texts).split(" ")
        ids = np.fromiter(map(self._ids.__getitem__, words), dtype=np.int64, count=len(words))
        if self._ids.new:
            self._store_new_words()
        word_bounds = [text_bounds[bound] for bound in example_bounds]
        draws = example_draws(rngs, [end - start for start, end in zip(word_bounds, word_bounds[1:])])
        translations = self._translations.array[ids]
        beyond_kept = draws.astype(np.int64) - self._kept_below
        # A draw d past the kept range picks translation i (from 1) when floor(R (i-1) / k) <= d <
        # floor(R i / k), R the replaced range, k the word's translations; words with none get 0.
        picks = np.where(beyond_kept >= 0,
                         ((beyond_kept + 1) * translations - 1) // max(self._replaced_range, 1) + 1, 0)
        changed = int(np.count_nonzero(picks))
        self.stats.words += len(words) - int(np.count_nonzero(ids == 0))
        self.stats.in_dictionary += int(np.count_nonzero(translations))
        self.stats.replaced += changed
        if changed:
            mixed = self._outcomes.array[self._first.array[ids] + picks].tolist()
            texts = [" ".join(mixed[start:end]) for start, end in zip(text_bounds, text_bounds[1:])]
        return [texts[start:end] for start, end in zip(example_bounds, example_bounds[1:])]


# ------------------------------------------------------------------------------------------------ Alpaca
def alpaca_prompt(instruction: str, context: str) -> str:
    if context:
        return ALPACA_PROMPT_INPUT.format(instruction=instruction, input=context)
    return ALPACA_PROMPT_NO_INPUT.format(instruction=instruction)


def alpaca_prompts_and_responses(instructions: Sequence[object], contexts: Sequence[object],
                                 responses: Sequence[object], mixer: Optional[CodeMixer],
                                 rngs: Sequence[Optional[RandomBytes]], block_codemix_in_template: bool,
                                 source: str = "dataset") -> tuple[list[str], list[str]]:
    """Prompts and responses of a batch of Alpaca records (columns), code-mixed when a mixer is given.

    With `block_codemix_in_template` only instruction and input are mixed, so the English template stays
    intact; without it the whole formatted prompt is mixed. The response is always mixed. The batch is
    mixed in one call, example i drawing from `rngs[i]`.
    """
    for instruction, response in zip(instructions, responses):
        if not isinstance(instruction, str) or not isinstance(response, str):
            raise LangAdaptError(f"{source}: an Alpaca record needs string `instruction` and `output` fields, "
                                 f"got {type(instruction).__name__} and {type(response).__name__}")
    contexts = [str(context) if context else "" for context in contexts]
    if mixer is None:
        return list(map(alpaca_prompt, instructions, contexts)), list(responses)
    if not block_codemix_in_template:
        mixed = mixer.mix_batch([[alpaca_prompt(instruction, context), response] for instruction, context, response
                                 in zip(instructions, contexts, responses)], rngs)
        return [prompt for prompt, _ in mixed], [response for _, response in mixed]
    mixed = mixer.mix_batch([[instruction, context, response] if context else [instruction, response]
                             for instruction, context, response in zip(instructions, contexts, responses)], rngs)
    return ([alpaca_prompt(texts[0], texts[1] if len(texts) == 3 else "") for texts in mixed],
            [texts[-1] for texts in mixed])


def alpaca_prompt_and_response(record: Mapping[str, object], mixer: Optional[CodeMixer],
                               rng: Optional[RandomBytes], block_codemix_in_template: bool,
                               source: str = "dataset") -> tuple[str, str]:
    """(prompt, response) of one Alpaca record; see `alpaca_prompts_and_responses`."""
    (prompt,), (response,) = alpaca_prompts_and_responses(
        [record.get("instruction")], [record.get("input")], [record.get("output")], mixer, [rng],
        block_codemix_in_template, source)
    return prompt, response


def example_rng(seed: int, epoch: int, index: int) -> ExampleRandom:
    """The per-example stream: same draws for the same (seed, epoch, example), new ones each epoch."""
    return ExampleRandom(seed, epoch, index)
