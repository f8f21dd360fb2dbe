"""FLORES perplexity, counting exactly the predicted tokens, plus bits per byte and per character.

A sentence of n tokens predicts n - 1 of them (the first has no context) unless `prefix_token` is set,
in which case a BOS/EOS token is prepended and all n are predicted. Bits per byte/character divide the
total NLL (in bits) by the UTF-8 bytes / characters of the predicted text, which compares across
tokenizers where perplexity does not.

The standard errors treat sentences as the sampled units: each figure is a ratio of two sums over
sentences (NLL over tokens, bits over bytes), and its error is the delta-method one of a ratio estimator,
so two models compared on the same sentences can be told apart from noise.

The original run_flores_ppl multiplied each batch's mean loss (over its predicted tokens) by the batch's
full token count, first tokens included, and divided the sum by the total count: a figure that moves with
`--batch_size` and is exact only with the whole split in one batch. `original_batch_perplexity` restores
it from the per-sentence sums, batched in dataset order as the original did.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from typing import Optional, Sequence

import torch
from ..progress import progress_bar

from ..errors import LangAdaptError
from .batching import pad_right, positions_from_mask, token_logprobs


@dataclass
class PerplexityResult:
    perplexity: float
    nll_per_token: float
    bits_per_byte: float
    bits_per_char: float
    total_nll: float
    predicted_tokens: int
    predicted_bytes: int
    predicted_chars: int
    sentences: int
    truncated: int
    nll_per_token_stderr: float
    bits_per_byte_stderr: float
    original_batch_perplexity: Optional[float] = None  # set when asked for (see the module's docstring)

    def as_dict(self) -> dict:
        return asdict(self)


def encode_sentence(tokenizer, text: str, max_length: int, prefix_token: Optional[int]) -> tuple[list[int], str, bool]:
    """(token ids, the text those ids predict, truncated?) for one sentence; ids[0] is context only."""
    encoding = tokenizer(text, return_offsets_mapping=tokenizer.is_fast)
    ids = list(encoding["input_ids"])
    offsets = list(encoding["offset_mapping"]) if tokenizer.is_fast else None
    if prefix_token is not None and (not ids or ids[0] not in (prefix_token, tokenizer.bos_token_id)):
        ids = [prefix_token] + ids
        offsets = [(0, 0)] + offsets if offsets is not None else None
    kept = ids[:max_length]
    truncated = len(kept) < len(ids)
    if offsets is not None:
        spans = offsets[1: len(kept)]
        predicted = text[spans[0][0]: max(end for _, end in spans)] if spans else ""
    elif not truncated and len(kept) > 1 and kept[0] in (prefix_token, tokenizer.bos_token_id):
        predicted = text
    else:
        raise LangAdaptError("bits per byte here needs a fast tokenizer (character offsets) or --prefix_token")
    return kept, predicted, truncated


@torch.inference_mode()
def ratio_stderr(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Standard error of sum(numerators) / sum(denominators) over n sampled units (delta method)."""
    n = len(numerators)
    if n < 2:
        return float("nan")
    ratio = sum(numerators) / sum(denominators)
    spread = sum((x - ratio * y) ** 2 for x, y in zip(numerators, denominators)) / (n - 1)
    return math.sqrt(spread / n) / (sum(denominators) / n)


def original_batch_perplexity(sentence_nll: Sequence[float], sentence_tokens: Sequence[int],
                              batch_size: int) -> float:
    """exp(sum_b mean_b * N_b / sum_b N_b): mean_b the batch's NLL per predicted token, N_b its tokens
    including each sentence's first, batches of `batch_size` consecutive sentences."""
    weighted, count = 0.0, 0
    for start in range(0, len(sentence_nll), batch_size):
        nll, predicted = sum(sentence_nll[start: start + batch_size]), sum(sentence_tokens[start: start + batch_size])
        full = predicted + len(sentence_tokens[start: start + batch_size])
        weighted += (nll / predicted if predicted else float("nan")) * full
        count += full
    return math.exp(weighted / count)


def corpus_perplexity(model, tokenizer, sentences: Sequence[str], max_length: int, batch_size: int = 16,
                      prefix_token: Optional[int] = None, progress: bool = True,
                      original_weighting: bool = False) -> PerplexityResult:
    if not sentences:
        raise LangAdaptError("no sentences to score: the FLORES split is empty")
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = [encode_sentence(tokenizer, text, max_length, prefix_token) for text in sentences]
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    sentence_nll, sentence_tokens = [0.0] * len(encoded), [0] * len(encoded)
    chunks = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    for chunk in progress_bar(chunks, desc="perplexity", disable=not progress, leave=False):
        ids, mask = pad_right([encoded[i][0] for i in chunk], pad_id, device)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask)).logits
        lp, _ = token_logprobs(logits[:, :-1], ids[:, 1:])
        predicted = mask[:, 1:].bool()
        nll = -torch.where(predicted, lp.double(), 0.0).sum(dim=1)
        for i, row_nll, row_tokens in zip(chunk, nll.tolist(), predicted.sum(dim=1).tolist()):
            sentence_nll[i], sentence_tokens[i] = row_nll, row_tokens  # one device read per batch, not per row
    total_nll, total_tokens = sum(sentence_nll), sum(sentence_tokens)
    if total_tokens == 0:
        raise LangAdaptError("no token to predict: every sentence encodes to a single token; pass --prefix_token")
    predicted_text = [text for _, text, _ in encoded]
    sentence_bytes = [len(text.encode("utf-8")) for text in predicted_text]
    n_bytes = sum(sentence_bytes)
    n_chars = sum(len(text) for text in predicted_text)
    bits = total_nll / math.log(2)
    return PerplexityResult(
        perplexity=math.exp(total_nll / total_tokens), nll_per_token=total_nll / total_tokens,
        bits_per_byte=bits / max(n_bytes, 1), bits_per_char=bits / max(n_chars, 1), total_nll=total_nll,
        predicted_tokens=total_tokens, predicted_bytes=n_bytes, predicted_chars=n_chars,
        sentences=len(sentences), truncated=sum(1 for _, _, cut in encoded if cut),
        nll_per_token_stderr=ratio_stderr(sentence_nll, sentence_tokens),
        bits_per_byte_stderr=ratio_stderr([nll / math.log(2) for nll in sentence_nll], sentence_bytes),
        original_batch_perplexity=(original_batch_perplexity(sentence_nll, sentence_tokens, batch_size)
                                   if original_weighting else None))
