"""Text -> token ids for scoring, split the way lm-evaluation-harness splits them.

Trailing spaces of the context move into the continuation, the continuation's ids are what the whole
string adds after the context's ids, and an empty context becomes the BOS/EOS token. Encoding this way
keeps our log-likelihoods identical to the harness's on the same prompts.
"""
from __future__ import annotations

from typing import Sequence

from .scoring import ChoiceRequest


def encode_choices(tokenizer, context: str, continuations: Sequence[str], prefix_id: int) -> ChoiceRequest:
    if not context:
        return ChoiceRequest([prefix_id], [tokenizer.encode(cont, add_special_tokens=False)
                                           for cont in continuations])
    stripped = context.rstrip()
    spaces = context[len(stripped):]
    if not stripped:  # a context of whitespace only: nothing to condition on but the prefix token
        return encode_choices(tokenizer, "", [spaces + cont for cont in continuations], prefix_id)
    context_ids = tokenizer.encode(stripped)
    conts = [tokenizer.encode(stripped + spaces + cont)[len(context_ids):] for cont in continuations]
    return ChoiceRequest(context_ids, conts)
