"""Batched log-likelihood of continuations: the engine behind every multiple-choice score.

An example's options share one context. By default the context, with any first tokens that all options
share, is encoded once (left-padded batch, `use_cache=True`), its key/value cache is repeated for each
option, and only the options' own tokens run through the model again, so a long Belebele passage is not recomputed four times. Models whose cache
cannot be row-selected fall back to one full (right-padded) row per option. Both paths give the same
numbers; examples are sorted by length so batches carry little padding.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..errors import LangAdaptError
from .batching import (last_logits_only, pad_left, pad_right, positions_from_mask, select_cache_rows,
                       token_logprobs)

logger = logging.getLogger(__name__)


@dataclass
class ChoiceRequest:
    """Token ids of one context and of each continuation to score after it."""
    context: list[int]
    continuations: list[list[int]]


@dataclass
class ContinuationScore:
    logprob: float  # sum of log p over the continuation's tokens
    n_tokens: int
    is_greedy: bool  # every continuation token was the argmax


def shared_prefix_length(continuations: list[list[int]]) -> int:
    """Tokens all options start with, leaving each option at least one token of its own."""
    limit = min(len(cont) for cont in continuations) - 1
    first = continuations[0]
    length = 0
    while length < limit and all(cont[length] == first[length] for cont in continuations):
        length += 1
    return length


class LoglikelihoodScorer:
    """Scores `ChoiceRequest`s in batches of `batch_size` examples; counts left-truncated contexts."""

    def __init__(self, model, pad_id: int, max_length: int, batch_size: int = 16, share_context: bool = True,
                 progress: bool = True):
        if batch_size < 1:
            raise LangAdaptError(f"--batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.pad_id = pad_id
        self.max_length = max_length
        self.batch_size = batch_size
        self.share_context = share_context
        self.progress = progress
        self.truncated = 0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def fit(self, request: ChoiceRequest) -> ChoiceRequest:
        """Cut the context from the left so context + longest continuation - 1 fits the model."""
        if not request.continuations or any(not cont for cont in request.continuations):
            raise LangAdaptError("every option must encode to at least one token")
        longest = max(len(cont) for cont in request.continuations)
        budget = self.max_length + 1 - longest
        if budget < 1:
            raise LangAdaptError(f"an option of {longest} tokens does not fit the model's context of "
                                 f"{self.max_length} tokens")
        if len(request.context) > budget:
            self.truncated += 1
            return ChoiceRequest(request.context[-budget:], request.continuations)
        return request

    @torch.inference_mode()
    def score(self, requests: Sequence[ChoiceRequest]) -> list[list[ContinuationScore]]:
        fitted = [self.fit(req) for req in requests]
        order = sorted(range(len(fitted)), key=lambda i: -(len(fitted[i].context) +
                                                           max(len(c) for c in fitted[i].continuations)))
        results: list[list[ContinuationScore]] = [[] for _ in fitted]
        batches = [order[i: i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for batch in tqdm(batches, desc="scoring", disable=not self.progress, leave=False):
            chunk = [fitted[i] for i in batch]
            scores = self._score_shared(chunk) if self.share_context else None
            if scores is None:
                if self.share_context:
                    logger.info("the model's cache cannot be split by rows: scoring full sequences instead")
                    self.share_context = False
                scores = self._score_full(chunk)
            for i, example_scores in zip(batch, scores):
                results[i] = example_scores
        return results

    def _score_shared(self, chunk: list[ChoiceRequest]):
        """Context (plus the options' common first tokens) once; then only each option's remaining tokens."""
        device = self.device
        shared = [shared_prefix_length(req.continuations) for req in chunk]
        keep = max(shared) + 1
        ids, mask = pad_left([req.context + req.continuations[0][:k] for req, k in zip(chunk, shared)], self.pad_id,
                             device)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask),
                         use_cache=True, **last_logits_only(self.model, keep))
        logits = out.logits[:, -keep:]
        prefix_lp = torch.zeros(len(chunk), device=device)
        prefix_greedy = torch.ones(len(chunk), dtype=torch.bool, device=device)
        if keep > 1:  # the common tokens, predicted by the positions just before them
            targets, target_mask = pad_left([req.continuations[0][:k] for req, k in zip(chunk, shared)], self.pad_id,
                                            device)
            lp, hit = token_logprobs(logits[:, :-1], targets)
            prefix_lp = (lp * target_mask).sum(1)
            prefix_greedy = (hit | ~target_mask.bool()).all(1)
        owners = [i for i, req in enumerate(chunk) for _ in req.continuations]
        conts = [cont[k:] for req, k in zip(chunk, shared) for cont in req.continuations]
        owner_index = torch.tensor(owners, device=device)
        first = torch.tensor([cont[0] for cont in conts], device=device)
        first_lp, first_greedy = token_logprobs(logits[:, -1][owner_index], first)
        total = first_lp + prefix_lp[owner_index]
        greedy = first_greedy & prefix_greedy[owner_index]
        if any(len(cont) > 1 for cont in conts):
            cache = select_cache_rows(out.past_key_values, owner_index) if out.past_key_values is not None else None
            if cache is None:
                return None
            tail_ids, tail_mask = pad_right([cont[:-1] for cont in conts], self.pad_id, device)
            targets, _ = pad_right([cont[1:] for cont in conts], self.pad_id, device)
            full_mask = torch.cat([mask[owner_index], tail_mask], dim=1)
            positions = positions_from_mask(tail_mask, offset=mask.sum(1)[owner_index])
            tail = self.model(input_ids=tail_ids, attention_mask=full_mask, position_ids=positions,
                              past_key_values=cache, use_cache=True)
            lp, hit = token_logprobs(tail.logits, targets)
            total = total + (lp * tail_mask).sum(1)
            greedy = greedy & (hit | ~tail_mask.bool()).all(1)
        return self._regroup(chunk, total, greedy)

    def _score_full(self, chunk: list[ChoiceRequest]):
        rows = [req.context + cont[:-1] for req in chunk for cont in req.continuations]
        spans = [(len(req.context) - 1, len(cont)) for req in chunk for cont in req.continuations]
        targets = [req.context[1:] + cont for req in chunk for cont in req.continuations]
        ids, mask = pad_right(rows, self.pad_id, self.device)
        target_ids, _ = pad_right(targets, self.pad_id, self.device)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask))
        lp, hit = token_logprobs(out.logits, target_ids)
        span_mask = torch.zeros_like(lp, dtype=torch.bool)
        for r, (start, length) in enumerate(spans):
            span_mask[r, start: start + length] = True
        total = (lp * span_mask).sum(1)
        greedy = (hit | ~span_mask).all(1)
        return self._regroup(chunk, total, greedy)

    @staticmethod
    def _regroup(chunk, total: torch.Tensor, greedy: torch.Tensor) -> list[list[ContinuationScore]]:
        total, greedy = total.tolist(), greedy.tolist()
        grouped, row = [], 0
        for req in chunk:
            scores = []
            for cont in req.continuations:
                scores.append(ContinuationScore(total[row], len(cont), bool(greedy[row])))
                row += 1
            grouped.append(scores)
        return grouped
