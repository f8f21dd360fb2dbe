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
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np

from .codemix_random import DRAW_BYTES, RandomBytes, example_draws, example_rng
from .errors import LangAdaptError
from .word_index import SpacedWords
from .word_outcomes import WordOutcomes

__all__ = ["ALPACA_PROMPT_INPUT", "ALPACA_PROMPT_NO_INPUT", "CodeMixStats", "CodeMixer", "MuseDictionary",
           "alpaca_prompt", "alpaca_prompt_and_response", "alpaca_prompts_and_responses", "dictionary_direction",
           "example_draws", "example_rng", "load_muse_dictionary"]

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


# Distinct words remembered per mixer (a few hundred bytes each): Alpaca has ~10^5, Wikipedia more; and
# code points stored for them (4 bytes each; a text without spaces is one long word). Past either limit
# the memory starts over, which is correct, only slower.
OUTCOME_CACHE_LIMIT = 1_000_000
CODE_POINT_LIMIT = 1 << 27
_DRAW_RANGE = 1 << (8 * DRAW_BYTES)


class CodeMixer:
    """Replace dictionary words by a uniformly chosen translation with probability `ratio`.

    A whole batch of examples is mixed at once, as numpy arrays of code points, with no Python statement
    per word: words are looked up in `WordOutcomes`, which learns each distinct word's outcomes (itself
    and its translations) the first time it is seen. Every word costs one 32-bit draw from its example's
    random bytes: a draw below `(1 - ratio) * 2**32` keeps the word, one in the i-th of k equal slices of
    the rest picks translation i. Draws are independent per word, so each word is replaced with
    probability `ratio` by a uniformly chosen translation, exact to 2**-32; and as each example draws
    from its own stream, in word order, the result does not depend on how examples are batched.
    """

    def __init__(self, dictionary: MuseDictionary, ratio: float):
        if not 0.0 <= ratio <= 1.0:
            raise LangAdaptError(f"--codemix_ratio must be within [0, 1], got {ratio}")
        self.dictionary, self.ratio = dictionary, ratio
        self.stats = CodeMixStats()
        self._replaced_range = round(ratio * _DRAW_RANGE)
        self._kept_below = _DRAW_RANGE - self._replaced_range
        self._outcomes = WordOutcomes(dictionary.translations)

    def mix(self, text: str, rng: RandomBytes) -> str:
        return self.mix_batch([[text]], [rng])[0][0]

    def mix_texts(self, texts: Sequence[str], rng: RandomBytes) -> list[str]:
        """Mix the texts of one example; its words draw from `rng` in order."""
        return self.mix_batch([texts], [rng])[0]

    def mix_batch(self, examples: Sequence[Sequence[str]], rngs: Sequence[RandomBytes]) -> list[list[str]]:
        """Mix the texts of several examples at once, example i drawing from `rngs[i]` in word order."""
        if len(self._outcomes) > OUTCOME_CACHE_LIMIT or self._outcomes.stored_code_points > CODE_POINT_LIMIT:
            self._outcomes.forget()
        texts = [text for texts in examples for text in texts]
        if not texts:
            return [[] for _ in examples]
        example_bounds = list(accumulate(map(len, examples), initial=0))
        words = SpacedWords(" ".join(texts))
        text_starts = list(accumulate([len(text) + 1 for text in texts[:-1]], initial=0))
        text_words = np.append(words.word_of(text_starts), len(words))
        ids = self._outcomes.ids(words)
        draws = example_draws(rngs, np.diff(text_words[example_bounds]).tolist())
        translations = self._outcomes.translation_counts(ids)
        beyond_kept = draws.astype(np.int64) - self._kept_below
        # A draw d past the kept range picks translation i (from 1) when floor(R (i-1) / k) <= d <
        # floor(R i / k), R the replaced range, k the word's translations; words with none get 0.
        picks = np.where(beyond_kept >= 0,
                         ((beyond_kept + 1) * translations - 1) // max(self._replaced_range, 1) + 1, 0)
        changed = int(np.count_nonzero(picks))
        self.stats.words += int(np.count_nonzero(words.lengths))
        self.stats.in_dictionary += int(np.count_nonzero(translations))
        self.stats.replaced += changed
        if changed:
            mixed, bounds = self._outcomes.spell(ids, picks)
            text_bounds = bounds[text_words].tolist()
            texts = [mixed[start:end - 1] for start, end in zip(text_bounds, text_bounds[1:])]
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
