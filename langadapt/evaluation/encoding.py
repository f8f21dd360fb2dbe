"""Prompt text -> `OptionRow`s, each prompt format with its original's tokenisation and truncation.

harness (lm-evaluation-harness 0.4): trailing spaces of the context move into the continuation, the
continuation's ids are what the whole string adds after the context's ids, an empty context becomes the
BOS/EOS token, and each context + continuation request is cut from the left to `max_length + 1` tokens
on its own (the last token is never fed).

original (the sense-adaptation code's run_eval): each prompt piece is tokenised alone without special
tokens and the ids concatenated; the row is cut from the left to `max_length` tokens; the scored tokens
are the option tokenised alone, found at their last occurrence in the row (else the row's last tokens), and
a score is divided by the option's length even where the row's first token, never predicted, is among them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import LangAdaptError
from .scoring import OptionRow


@dataclass
class EncodedExample:
    rows: list[OptionRow]
    truncated: bool
    whole: list[list[int]]  # each option's full sequence before the scored span was located (original format)


def harness_pair(tokenizer, context: str, continuation: str, prefix_id: int) -> tuple[list[int], list[int]]:
    if not context:
        return [prefix_id], tokenizer.encode(continuation, add_special_tokens=False)
    stripped = context.rstrip()
    spaces = context[len(stripped):]
    if not stripped:  # a context of whitespace only: nothing to condition on but the prefix token
        return harness_pair(tokenizer, "", spaces + continuation, prefix_id)
    context_ids = tokenizer.encode(stripped)
    return context_ids, tokenizer.encode(stripped + spaces + continuation)[len(context_ids):]


def harness_rows(tokenizer, context: str, continuations: Sequence[str], prefix_id: int,
                 max_length: int) -> EncodedExample:
    rows, truncated = [], False
    for continuation in continuations:
        context_ids, cont_ids = harness_pair(tokenizer, context, continuation, prefix_id)
        if not cont_ids:
            raise LangAdaptError(f"option {continuation!r} encodes to no tokens")
        if len(cont_ids) > max_length:
            raise LangAdaptError(f"an option of {len(cont_ids)} tokens does not fit the model's context of "
                                 f"{max_length} tokens")
        whole = context_ids + cont_ids
        truncated |= len(whole) > max_length + 1
        rows.append(OptionRow(whole[-(max_length + 1):], len(cont_ids)))
    return EncodedExample(rows, truncated, [row.tokens for row in rows])


def piece_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def last_occurrence(sequence: list[int], part: list[int]) -> int:
    for start in range(len(sequence) - len(part), -1, -1):
        if sequence[start: start + len(part)] == part:
            return start
    return -1


def original_rows(tokenizer, options: Sequence[tuple[Sequence[str], str]], max_length: int) -> EncodedExample:
    """`options`: per option, the prompt pieces (option included) and the option text to score."""
    rows, wholes, truncated = [], [], False
    for pieces, scored_text in options:
        whole = [token for piece in pieces for token in piece_ids(tokenizer, piece)]
        truncated |= len(whole) > max_length
        whole = whole[-max_length:]
        scored = piece_ids(tokenizer, scored_text)[-max_length:]
        if not scored:
            raise LangAdaptError(f"option {scored_text!r} encodes to no tokens")
        start = last_occurrence(whole, scored)
        if start >= 0:  # found at position 0 (a template opening with {hypothesis}), its first token is unscored
            end = start + len(scored)
            row = OptionRow(whole[:end], min(len(scored), end - 1), len(scored))
        else:  # not found as tokenised alone: the original labels the row's last tokens
            length = min(len(scored), len(whole))
            row = OptionRow(whole, min(length, len(whole) - 1), length)
        rows.append(row)
        wholes.append(whole)
    return EncodedExample(rows, truncated, wholes)
