"""Padding and cache helpers shared by the scoring, generation and perplexity engines."""
from __future__ import annotations

import copy
import inspect
from typing import Sequence

import torch


def pad_left(rows: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask, so every row's last real token sits in the last column."""
    width = max(len(row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
    return ids.to(device), mask.to(device)


def pad_right(rows: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(max(len(row) for row in rows), 1)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


def positions_from_mask(mask: torch.Tensor, offset: torch.Tensor | int = 0) -> torch.Tensor:
    """Position ids that skip padding: the first real token of each row gets `offset` (0 by default)."""
    positions = mask.long().cumsum(-1) - 1
    if not isinstance(offset, int):
        offset = offset.view(-1, 1)
    return (positions + offset).clamp(min=0)


def select_cache_rows(cache, index: torch.Tensor):
    """The key/value cache with its batch rows picked by `index` (repeats allowed), or None if unsupported."""
    if hasattr(cache, "reorder_cache"):  # transformers caches (and the Backpack's, which extends them)
        cache.reorder_cache(index)
        return cache
    if isinstance(cache, (tuple, list)) and cache and all(isinstance(layer, (tuple, list)) for layer in cache):
        return type(cache)(type(layer)(t.index_select(0, index) for t in layer) for layer in cache)
    return None


def copy_cache_rows(cache, index: torch.Tensor):
    """`select_cache_rows` into a new cache, leaving `cache` as it was (transformers caches are reordered
    in place: their layers are copied, and their tensors replaced, not written, by the selection)."""
    if hasattr(cache, "reorder_cache"):
        cache = copy.copy(cache)
        if hasattr(cache, "layers"):
            cache.layers = [copy.copy(layer) for layer in cache.layers]
        else:
            cache = copy.deepcopy(cache)
    return select_cache_rows(cache, index)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(target) at each position (float32) and whether the target was the argmax.

    Gathers the target logit and subtracts the log-normaliser, so no second [.., V] tensor is kept.
    """
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1).float()
    return picked - logits.float().logsumexp(-1), logits.argmax(-1) == targets


def last_logits_only(model, keep: int = 1) -> dict:
    """`logits_to_keep` where the model takes it: the LM head then runs on the last `keep` positions only."""
    return {"logits_to_keep": keep} if "logits_to_keep" in inspect.signature(model.forward).parameters else {}
