"""MUSE dictionaries, word-level code-mixing and Alpaca formatting (COMMIT, REFERENCE.md section 3).

Code-mixing replaces dictionary words by a translation, word by word, with probability `ratio`. Text is
split on single spaces only, so joining the pieces back gives the exact original spacing; newlines and
tabs stay inside their "word", as in the original implementation. Leading/trailing punctuation, ASCII
symbols and whitespace are stripped before the (case-sensitive) lookup and re-attached afterwards.
Every draw comes from a `random.Random` the caller seeds per example and epoch, so the mixing is
reproducible, independent of data order and process count, and different on every pass over the data.
"""
from __future__ import annotations

import random
import re
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

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
class _EdgeCharacters(dict):
    """char -> is it stripped from word edges (Unicode punctuation P*, ASCII symbols, whitespace)?

    Filled on first sight of each character: scanning all of Unicode up front costs seconds.
    """

    def __missing__(self, char: str) -> bool:
        edge = char in _ASCII_EDGES or char.isspace() or unicodedata.category(char).startswith("P")
        self[char] = edge
        return edge


_ASCII_EDGES = frozenset(string.punctuation)


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


_NOT_IN_DICTIONARY = None
PARSE_CACHE_LIMIT = 2_000_000


class CodeMixer:
    """Replace dictionary words by a uniformly chosen translation with probability `ratio`.

    Each distinct space-separated word is parsed once (edges stripped, core looked up) and remembered:
    running text repeats its words, so the per-word work is one dict lookup plus, for dictionary words,
    the random draws.
    """

    def __init__(self, dictionary: MuseDictionary, ratio: float):
        if not 0.0 <= ratio <= 1.0:
            raise LangAdaptError(f"--codemix_ratio must be within [0, 1], got {ratio}")
        self.dictionary, self.ratio = dictionary, ratio
        self.stats = CodeMixStats()
        self._edges = _EdgeCharacters()
        self._parsed: dict[str, Optional[tuple[str, tuple[str, ...], str]]] = {}

    def _parse(self, word: str) -> Optional[tuple[str, tuple[str, ...], str]]:
        """(leading edge, translations of the core, trailing edge), or None when the core is unknown.

        A core with one translation is stored as its finished replacement, (replacement, (), "")."""
        edges, start, end = self._edges, 0, len(word)
        while start < end and edges[word[start]]:
            start += 1
        while end > start and edges[word[end - 1]]:
            end -= 1
        options = self.dictionary.translations.get(word[start:end]) if end > start else None
        if not options:
            parsed = _NOT_IN_DICTIONARY
        elif len(options) == 1:
            parsed = (word[:start] + options[0] + word[end:], (), "")
        else:
            parsed = (word[:start], options, word[end:])
        if len(self._parsed) < PARSE_CACHE_LIMIT:
            self._parsed[word] = parsed
        return parsed

    def mix(self, text: str, rng: random.Random) -> str:
        # Comprehensions instead of one loop with several statements: this runs for every word of the
        # training data, and the data pipeline's budget for code-mixing is ~10% of its time.
        words = text.split(" ")
        get, draw, ratio = self._parsed.get, rng.random, self.ratio
        entries = [get(word, False) for word in words]
        if False in entries:
            entries = [self._parse(word) if entry is False else entry for word, entry in zip(words, entries)]
        found = len(entries) - entries.count(None)
        if ratio >= 1.0:
            chosen = [position for position, entry in enumerate(entries) if entry is not None]
        else:
            chosen = [position for position, entry in enumerate(entries) if entry is not None and draw() < ratio]
        for position in chosen:
            head, options, tail = entries[position]
            words[position] = head + options[int(draw() * len(options))] + tail if options else head
        self.stats.words += len(words) - words.count("")
        self.stats.in_dictionary += found
        self.stats.replaced += len(chosen)
        return " ".join(words) if chosen else text


# ------------------------------------------------------------------------------------------------ Alpaca
def alpaca_prompt(instruction: str, context: str) -> str:
    if context:
        return ALPACA_PROMPT_INPUT.format(instruction=instruction, input=context)
    return ALPACA_PROMPT_NO_INPUT.format(instruction=instruction)


def alpaca_prompt_and_response(record: Mapping[str, object], mixer: Optional[CodeMixer],
                               rng: Optional[random.Random], block_codemix_in_template: bool,
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
    if block_codemix_in_template:
        prompt = alpaca_prompt(mixer.mix(instruction, rng), mixer.mix(str(context), rng) if context else "")
    else:
        prompt = mixer.mix(alpaca_prompt(instruction, str(context)), rng)
    return prompt, mixer.mix(response, rng)


def example_rng(seed: int, epoch: int, index: int) -> random.Random:
    """The per-example stream: same draws for the same (seed, epoch, example), new ones each epoch."""
    return random.Random((seed * 1_000_003 + epoch) * 4_294_967_311 + index)
