"""Batched log-likelihood of options: the engine behind every multiple-choice score.

Each option is one `OptionRow`: the whole token sequence (context, then the option) and how many of its
last tokens are scored. Rows arrive already truncated by the prompt format's own rule (`encoding.py`), so
the engine never cuts anything; it only refuses a row longer than the model's positions.

By default the rows of one example share their common first tokens: that prefix runs once (left-padded
batch, `use_cache=True`), the options' first tokens are read from its last logits, and only the rows with
tokens past the prefix run again, after their copy of its key/value cache: one-token options (Belebele's
" A".." D") cost one forward for the whole batch, and a long passage is not recomputed per option.
Batches are packed so that the padded prefix plus the padded tails never exceed `max_length` (models such
as the Backpack check that width, not the real positions). Rows of one example that truncation cut at
different points are grouped by how their contexts open (`groups_of`). Models whose cache cannot be
row-selected fall back to one full (right-padded) row per option. Both paths give the same numbers; groups
are sorted by prefix, then tail length, so batches carry little padding and stay full near the position
limit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from ..progress import progress_bar

from ..errors import LangAdaptError
from .batching import (copy_cache_rows, last_logits_only, pad_left, pad_right, positions_from_mask,
                       select_cache_rows, token_logprobs)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OptionRow:
    """A context followed by an option, as token ids; the last `n_scored` ids are the option. `length`, the
    token count a score is divided by, is `n_scored` unless set: the original format counts an option found
    at position 0 whole, though its first token is never predicted (0 tokens scored for a 1-token option)."""
    tokens: list[int]
    n_scored: int
    length: Optional[int] = None

    @property
    def first_scored(self) -> int:
        return len(self.tokens) - self.n_scored

    @property
    def norm_tokens(self) -> int:
        return self.n_scored if self.length is None else self.length


@dataclass
class ContinuationScore:
    logprob: float  # sum of log p over the option's scored tokens
    n_tokens: int  # what the score is divided by (`OptionRow.norm_tokens`)
    is_greedy: bool  # every scored token was the argmax


@dataclass(frozen=True)
class Group:
    """Rows (of one example) that run one shared prefix of `prefix` tokens; `rows` index into the flat list."""
    rows: tuple[int, ...]
    prefix: int
    keep: int  # prefix logits needed: the last `keep` prefix positions predict scored tokens
    tail: int  # longest row tail fed after the prefix


def common_prefix_length(rows: Sequence[OptionRow]) -> int:
    """First tokens all rows share, leaving each row at least one token of its own."""
    limit = min(len(row.tokens) for row in rows) - 1
    first = rows[0].tokens
    length = 0
    while length < limit and all(row.tokens[length] == first[length] for row in rows):
        length += 1
    return length


def make_group(indices: tuple[int, ...], rows: Sequence[OptionRow], prefix: int) -> Group:
    first = min(rows[i].first_scored for i in indices)
    tail = max(len(rows[i].tokens) - 1 - prefix for i in indices)
    return Group(indices, prefix, max(1, prefix - first + 1), tail)


KEY_TOKENS = 8  # rows whose contexts open with the same 8 tokens (or are the same shorter context) share


def groups_of(example_rows: list[int], rows: Sequence[OptionRow]) -> list[Group]:
    """The example's rows that open alike run one shared prefix: all of them, unless truncation cut their
    contexts at different points (harness rows with options of different token lengths), where the rows cut
    alike share, as the harness's own request grouping does. The 8-token key keeps a chance first token in
    common from making one group whose prefix is that token and whose tails are whole rows. A row alone runs
    its context as the prefix (so only one prefix logit is kept, whatever the option's length)."""
    parts: dict[tuple[int, ...], list[int]] = {}
    for i in example_rows:
        parts.setdefault(tuple(rows[i].tokens[: min(KEY_TOKENS, rows[i].first_scored)]), []).append(i)
    return [make_group(tuple(part), rows, common_prefix_length([rows[i] for i in part]) if len(part) > 1
                       else rows[part[0]].first_scored) for part in parts.values()]


PADDING_SHARE = 0.09  # most of a batch's fed positions that may be padding: prefixes, then prefix + tails


def pack_batches(groups: Sequence[Group], batch_size: int, max_length: int,
                 max_padding: float = 1.0) -> list[list[Group]]:
    """Consecutive groups, at most `batch_size` a batch, with padded prefix + padded tail <= max_length and
    at most a `max_padding` share of the left-padded prefixes' positions padding (groups come longest first)."""
    batches: list[list[Group]] = []
    current: list[Group] = []
    prefix_width = tail_width = real = 0
    for group in groups:
        width = max(prefix_width, group.prefix)
        too_wide = width + max(tail_width, group.tail) > max_length
        too_padded = width * (len(current) + 1) - real - group.prefix > max_padding * width * (len(current) + 1)
        if current and (len(current) == batch_size or too_wide or too_padded):
            batches.append(current)
            current, prefix_width, tail_width, real = [], 0, 0, 0
        current.append(group)
        prefix_width, tail_width = max(prefix_width, group.prefix), max(tail_width, group.tail)
        real += group.prefix
    if current:
        batches.append(current)
    return batches


def split_tails(lengths: Sequence[int], allowed: float) -> list[int]:
    """Cut points of rows sorted longest tail first into the fewest tail batches whose padding (each batch
    right-padded to its longest) is at most `allowed` positions; cuts fall between distinct lengths only.

    The optimal k-way split of the distinct lengths (dynamic programming) for k = 1, 2, ...: one tail batch
    of a prefix batch where its option lengths are alike (Belebele's letters), more where they differ
    (XCOPA's clauses), each one more forward after its own copy of the prefix cache.
    """
    distinct = sorted(set(lengths), reverse=True)
    counts = [lengths.count(length) for length in distinct]
    m = len(distinct)
    rows_before, tokens_before = [0], [0]  # prefix sums over the distinct lengths
    for length, count in zip(distinct, counts):
        rows_before.append(rows_before[-1] + count)
        tokens_before.append(tokens_before[-1] + count * length)

    def padding(a: int, b: int) -> int:  # distinct lengths a..b (inclusive) right-padded to distinct[a]
        return distinct[a] * (rows_before[b + 1] - rows_before[a]) - (tokens_before[b + 1] - tokens_before[a])

    best = [padding(0, b) for b in range(m)]  # best[b]: least padding of lengths 0..b in k batches
    cuts = [[] for _ in range(m)]
    for _ in range(m):
        if best[m - 1] <= allowed:
            break
        new_best, new_cuts = best[:], [c[:] for c in cuts]
        for b in range(1, m):
            for a in range(1, b + 1):
                cost = best[a - 1] + padding(a, b)
                if cost < new_best[b]:
                    new_best[b], new_cuts[b] = cost, cuts[a - 1] + [a]
        best, cuts = new_best, new_cuts
    return [rows_before[a] for a in cuts[m - 1]]


class LoglikelihoodScorer:
    """Scores examples (lists of `OptionRow`s) in batches of `batch_size` examples."""

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

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def check(self, row: OptionRow) -> None:
        if row.n_scored < 1 or row.first_scored < 1:
            raise LangAdaptError("every option must encode to at least one token and follow at least one token")
        if len(row.tokens) - 1 > self.max_length:
            raise LangAdaptError(f"a sequence of {len(row.tokens) - 1} tokens exceeds the model's context of "
                                 f"{self.max_length} tokens")

    def score(self, examples: Sequence[Sequence[OptionRow]]) -> list[list[ContinuationScore]]:
        """A row with no scored token (see `OptionRow.length`) has log-likelihood 0 and runs no forward."""
        scored = iter(self._score([[row for row in ex if row.n_scored] for ex in examples]))
        out = []
        for example in examples:
            kept = iter(next(scored))
            out.append([next(kept) if row.n_scored else ContinuationScore(0.0, row.norm_tokens, True)
                        for row in example])
        return out

    @torch.inference_mode()
    def _score(self, examples: Sequence[Sequence[OptionRow]]) -> list[list[ContinuationScore]]:
        rows = [row for example in examples for row in example]
        for row in rows:
            self.check(row)
        starts, flat = [], 0
        for example in examples:
            starts.append(flat)
            flat += len(example)
        flat_scores: list = [None] * len(rows)
        if self.share_context:
            groups = [g for start, ex in zip(starts, examples) for g in groups_of(list(range(start, start + len(ex))),
                                                                                   rows)]
            groups.sort(key=lambda g: (-g.prefix, -g.tail))
            if not self._run_shared(rows, groups, flat_scores):
                logger.info("the model's cache cannot be split by rows: scoring full sequences instead")
                self.share_context = False
        if not self.share_context:
            order = sorted(range(len(rows)), key=lambda i: -len(rows[i].tokens))
            per_batch = self.batch_size * max(1, round(len(rows) / max(len(examples), 1)))
            batches = [order[i: i + per_batch] for i in range(0, len(order), per_batch)]
            for batch in progress_bar(batches, desc="scoring", disable=not self.progress, leave=False):
                for i, score in zip(batch, self._score_full([rows[i] for i in batch])):
                    flat_scores[i] = score
        return [flat_scores[start: start + len(ex)] for start, ex in zip(starts, examples)]

    def _run_shared(self, rows, groups, flat_scores) -> bool:
        batches = pack_batches(groups, self.batch_size, self.max_length, PADDING_SHARE)
        for batch in progress_bar(batches, desc="scoring", disable=not self.progress, leave=False):
            scores = self._score_shared(rows, batch)
            if scores is None:
                return False
            for i, score in scores.items():
                flat_scores[i] = score
        return True

    def _score_shared(self, rows: Sequence[OptionRow], batch: list[Group]):
        """Each group's prefix once; then only each row's own remaining tokens, after its cache."""
        device = self.device
        ids, mask = pad_left([rows[g.rows[0]].tokens[: g.prefix] for g in batch], self.pad_id, device)
        keep = max(g.keep for g in batch)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask),
                         use_cache=True, **last_logits_only(self.model, keep))
        logits = out.logits[:, -keep:]
        members = [(owner, i) for owner, g in enumerate(batch) for i in g.rows]
        owner_index = torch.tensor([owner for owner, _ in members], device=device)
        # the last `keep` prefix positions predict tokens prefix-keep+1 .. prefix of each row
        targets, scored = [], []
        for owner, i in members:
            row, prefix = rows[i], batch[owner].prefix
            js = range(prefix - keep + 1, prefix + 1)
            targets.append([row.tokens[j] if j >= 1 else self.pad_id for j in js])
            scored.append([j >= max(row.first_scored, 1) for j in js])
        targets = torch.tensor(targets, device=device)
        scored = torch.tensor(scored, device=device)
        lp, hit = token_logprobs(logits[owner_index], targets)
        total = (lp * scored).sum(1)
        greedy = (hit | ~scored).all(1)
        tailed = sorted(((k, owner, i) for k, (owner, i) in enumerate(members)
                         if len(rows[i].tokens) - 1 > batch[owner].prefix),
                        key=lambda t: batch[t[1]].prefix - len(rows[t[2]].tokens))
        if tailed:
            if out.past_key_values is None:
                return None
            tail_lengths = [len(rows[i].tokens) - 1 - batch[owner].prefix for _, owner, i in tailed]
            prefix_padding = mask.numel() - int(mask.sum())
            allowed = (PADDING_SHARE * (mask.numel() + sum(tail_lengths)) - prefix_padding) / (1 - PADDING_SHARE)
            bounds = [0, *split_tails(tail_lengths, allowed), len(tailed)]
            for start, end in zip(bounds, bounds[1:]):
                if not self._score_tails(rows, batch, tailed[start:end], out.past_key_values, mask, owner_index,
                                         total, greedy, shared=end < len(tailed)):
                    return None
        total, greedy = total.tolist(), greedy.tolist()
        return {i: ContinuationScore(total[k], rows[i].norm_tokens, bool(greedy[k]))
                for k, (_, i) in enumerate(members)}

    def _score_tails(self, rows, batch, tailed, prefix_cache, mask, owner_index, total, greedy, shared: bool) -> bool:
        """Rows' tokens past their prefix, after their rows of the prefix cache (a copy when other tail
        batches still need it); adds their log-probabilities into `total` and `greedy`."""
        device = self.device
        picked = torch.tensor([k for k, _, _ in tailed], device=device)
        tail_owner = owner_index[picked]
        cache = (copy_cache_rows if shared else select_cache_rows)(prefix_cache, tail_owner)
        if cache is None:
            return False
        tail_ids, tail_mask = pad_right([rows[i].tokens[batch[owner].prefix: -1] for _, owner, i in tailed],
                                        self.pad_id, device)
        target_ids, _ = pad_right([rows[i].tokens[batch[owner].prefix + 1:] for _, owner, i in tailed],
                                  self.pad_id, device)
        first_scored_in_tail = torch.tensor(
            [rows[i].first_scored - batch[owner].prefix - 1 for _, owner, i in tailed], device=device)
        columns = torch.arange(tail_ids.shape[1], device=device).unsqueeze(0)
        tail_scored = tail_mask.bool() & (columns >= first_scored_in_tail.unsqueeze(1))
        full_mask = torch.cat([mask[tail_owner], tail_mask], dim=1)
        positions = positions_from_mask(tail_mask, offset=mask.sum(1)[tail_owner])
        tail = self.model(input_ids=tail_ids, attention_mask=full_mask, position_ids=positions,
                          past_key_values=cache, use_cache=True)
        lp, hit = token_logprobs(tail.logits, target_ids)
        total[picked] += (lp * tail_scored).sum(1)
        greedy[picked] &= (hit | ~tail_scored).all(1)
        return True

    def _score_full(self, batch: list[OptionRow]) -> list[ContinuationScore]:
        ids, mask = pad_right([row.tokens[:-1] for row in batch], self.pad_id, self.device)
        target_ids, _ = pad_right([row.tokens[1:] for row in batch], self.pad_id, self.device)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask))
        lp, hit = token_logprobs(out.logits, target_ids)
        span_mask = torch.zeros_like(lp, dtype=torch.bool)
        for r, row in enumerate(batch):
            span_mask[r, row.first_scored - 1: len(row.tokens) - 1] = True
        total = (lp * span_mask).sum(1).tolist()
        greedy = (hit | ~span_mask).all(1).tolist()
        return [ContinuationScore(t, row.norm_tokens, bool(g)) for t, g, row in zip(total, greedy, batch)]
