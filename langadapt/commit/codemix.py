"""COMMIT's code-mixing, MUSE dictionaries and Alpaca prompts, as EasyLM's TextProcessor has them.

A text is split on single spaces (joining back keeps the exact spacing; tabs and newlines stay inside
their word). Each word's edges - whitespace and punctuation by EasyLM's rule - are stripped, the core is
looked up case-sensitively, and a dictionary word is replaced with probability `ratio` by a translation
chosen uniformly among the dictionary's lines for it (a duplicated line counts twice, as there).
The draws come from a stream per example seeded by (seed, epoch, example index), so what an example
becomes depends on nothing else: not on batching, process count or the point a run resumed from.
"""
from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional

from ..errors import LangAdaptError

DICT_FLAG = "--codemix_dict_path"
MUSE_FETCH_HINT = "fetch it with `python dicts/fetch_muse.py {pair}` or pass another --codemix_dict_path"

# Stanford Alpaca's templates as EasyLM has them: the response follows "### Response:" directly.
ALPACA_PROMPT_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:")
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:")


@lru_cache(maxsize=None)
def is_word_edge(char: str) -> bool:
    """EasyLM's `_is_skip_target`: space, tab, newline, CR or a Zs space; ASCII non-alphanumerics; P*."""
    if char in " \t\n\r" or unicodedata.category(char) == "Zs":
        return True
    code = ord(char)
    return 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126 \
        or unicodedata.category(char).startswith("P")


def dictionary_direction(path: str | Path) -> tuple[Optional[str], Optional[str]]:
    """(`en`, `hi`) for `.../en-hi.txt`; (None, None) when the name does not say."""
    match = re.fullmatch(r"([A-Za-z]{2,3})-([A-Za-z]{2,3})(?:\.[0-9]+-[0-9]+)?\.txt", Path(path).name)
    return (match.group(1).lower(), match.group(2).lower()) if match else (None, None)


@dataclass(frozen=True)
class MuseDictionary:
    """Source word -> its translations, one entry per dictionary line (duplicates kept, as EasyLM)."""

    translations: Mapping[str, list[str]]
    path: str

    def __len__(self) -> int:
        return len(self.translations)

    @property
    def direction(self) -> tuple[Optional[str], Optional[str]]:
        return dictionary_direction(self.path)


def missing_dictionary(path: str | Path) -> None:
    """Refuse a dictionary path that is not a file, with the command that fetches the MUSE file it names."""
    source, target = dictionary_direction(path)
    pair = f"{source}-{target}" if source else "SRC-TGT"
    raise LangAdaptError(f"{DICT_FLAG} {path}: no such dictionary file; {MUSE_FETCH_HINT.format(pair=pair)}")


def load_muse_dictionary(path: str | Path) -> MuseDictionary:
    """A MUSE lexicon: one `source<TAB>target` (or `source target`) pair a line, UTF-8, blanks skipped."""
    path = Path(path)
    if not path.is_file():
        missing_dictionary(path)
    table: dict[str, list[str]] = {}
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise LangAdaptError(f"{DICT_FLAG} {path}:{number}: not UTF-8 (byte 0x{raw[err.start]:02x} at column "
                                     f"{err.start + 1}); MUSE dictionaries are UTF-8") from None
            if number == 1 and line.startswith("\ufeff"):
                raise LangAdaptError(f"{DICT_FLAG} {path}:1: starts with a UTF-8 byte-order mark, which would "
                                     f"become part of the first word; save the file without it")
            line = line.strip()
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                parts = line.split(" ")
            if len(parts) != 2 or not all(parts):
                raise LangAdaptError(f"{DICT_FLAG} {path}:{number}: expected `source<TAB>target` or `source target`, "
                                     f"got {line[:80]!r}; fix or delete that line")
            table.setdefault(parts[0], []).append(parts[1])
    if not table:
        raise LangAdaptError(f"{DICT_FLAG} {path}: holds no word pairs; pass a MUSE dictionary file")
    return MuseDictionary(table, str(path))


def example_rng(seed: int, epoch: int, index: int) -> random.Random:
    """The draws of one example in one epoch (a string seed is hashed with SHA-512: no collisions)."""
    return random.Random(f"commit-codemix/{seed}/{epoch}/{index}")


@dataclass
class CodeMixStats:
    words: int = 0
    in_dictionary: int = 0
    replaced: int = 0

    def add(self, other: "CodeMixStats") -> None:
        self.words, self.in_dictionary = self.words + other.words, self.in_dictionary + other.in_dictionary
        self.replaced += other.replaced

    def copy(self) -> "CodeMixStats":
        return CodeMixStats(self.words, self.in_dictionary, self.replaced)

    def minus(self, earlier: "CodeMixStats") -> "CodeMixStats":
        return CodeMixStats(self.words - earlier.words, self.in_dictionary - earlier.in_dictionary,
                            self.replaced - earlier.replaced)

    def as_list(self) -> list[int]:
        return [self.words, self.in_dictionary, self.replaced]

    @property
    def coverage(self) -> float:
        return self.in_dictionary / self.words if self.words else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"words": self.words, "in_dictionary": self.in_dictionary, "replaced": self.replaced,
                "coverage": round(self.coverage, 6),
                "replaced_fraction": round(self.replaced / self.words, 6) if self.words else 0.0}


@dataclass
class CodeMixer:
    """Replace dictionary words by a translation with probability `ratio` (EasyLM's `codemix_sentence`)."""

    dictionary: MuseDictionary
    ratio: float
    stats: CodeMixStats = field(default_factory=CodeMixStats)

    def __post_init__(self):
        if not 0.0 <= self.ratio <= 1.0:
            raise LangAdaptError(f"--codemix_ratio must be within [0, 1], got {self.ratio}")

    def mix(self, text: str, rng: random.Random) -> str:
        return " ".join([self._mix_word(word, rng) for word in text.split(" ")])

    def _mix_word(self, word: str, rng: random.Random) -> str:
        start, end = 0, len(word)
        while start < end and is_word_edge(word[start]):
            start += 1
        while end > start and is_word_edge(word[end - 1]):
            end -= 1
        if start == end:  # blank or all punctuation: EasyLM leaves it and draws nothing
            return word
        self.stats.words += 1
        options = self.dictionary.translations.get(word[start:end])
        if options is None:
            return word
        self.stats.in_dictionary += 1
        if rng.random() >= self.ratio:
            return word
        self.stats.replaced += 1
        return word[:start] + rng.choice(options) + word[end:]


def alpaca_source_and_target(record: Mapping[str, object], mixer: Optional[CodeMixer],
                             rng: Optional[random.Random], block_codemix_in_template: bool,
                             source: str = "dataset") -> tuple[str, str]:
    """EasyLM's (source, target) of an Alpaca record, code-mixed when a mixer is given.

    With `block_codemix_in_template` instruction and input are mixed before templating (the English
    template stays intact); without it the formatted prompt is mixed. The response is always mixed.
    """
    instruction, context, response = record.get("instruction"), record.get("input", ""), record.get("output")
    if not all(isinstance(field, str) for field in (instruction, response, "" if context is None else context)):
        raise LangAdaptError(f"{source}: an Alpaca record needs string `instruction`, `input` and `output` "
                             f"fields, got {type(instruction).__name__}, {type(context).__name__} and "
                             f"{type(response).__name__}")
    if mixer is not None and block_codemix_in_template:
        instruction = mixer.mix(instruction, rng)
        context = mixer.mix(context, rng) if context else context
    # a null `input` (a record without one, beside records with one) takes EasyLM's input template: "None"
    prompt = (ALPACA_PROMPT_INPUT.format(instruction=instruction, input=context) if context != ""
              else ALPACA_PROMPT_NO_INPUT.format(instruction=instruction))
    if mixer is None:
        return prompt, response
    if not block_codemix_in_template:
        prompt = mixer.mix(prompt, rng)
    return prompt, mixer.mix(response, rng)
