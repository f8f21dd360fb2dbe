"""Incremental-decoding cache for Backpack: the contextualizer's key/values plus the sense layer's.

A Backpack step needs, for every past token, its sense vectors (values of the sense "attention") and the
weight network's keys. Both are kept here, beside GPT-2's own per-layer cache, so one object travels
through `generate()` like any transformers cache. The sense values are K times wider than an ordinary
value cache, so they live in buffers that grow geometrically: appending a step copies one token, not the
whole history.
"""
from __future__ import annotations

from typing import Optional

import torch
from transformers import DynamicCache


class BackpackCache(DynamicCache):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._keys: Optional[torch.Tensor] = None  # [B, K, capacity, d/K]
        self._values: Optional[torch.Tensor] = None  # [B, K, capacity, d]
        self._length = 0

    @property
    def sense_keys(self) -> Optional[torch.Tensor]:
        return None if self._keys is None else self._keys[:, :, : self._length]

    @property
    def sense_values(self) -> Optional[torch.Tensor]:
        return None if self._values is None else self._values[:, :, : self._length]

    def update_senses(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys/values [B, K, L, .] and return the past + present ones."""
        needed = self._length + keys.shape[2]
        if self._keys is None or needed > self._keys.shape[2]:
            capacity = max(needed, 2 * (self._keys.shape[2] if self._keys is not None else 0), 16)
            self._keys = self._grow(self._keys, keys, capacity)
            self._values = self._grow(self._values, values, capacity)
        self._keys[:, :, self._length: needed] = keys
        self._values[:, :, self._length: needed] = values
        self._length = needed
        return self.sense_keys, self.sense_values

    def _grow(self, buffer: Optional[torch.Tensor], like: torch.Tensor, capacity: int) -> torch.Tensor:
        shape = list(like.shape)
        shape[2] = capacity
        grown = like.new_empty(shape)
        if buffer is not None:
            grown[:, :, : self._length] = buffer[:, :, : self._length]
        return grown

    def _select(self, pick) -> None:
        """Apply a batch-axis selection to the sense buffers (trimmed to their used length)."""
        if self._keys is not None:
            self._keys, self._values = pick(self.sense_keys), pick(self.sense_values)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        super().reorder_cache(beam_idx)
        self._select(lambda t: t.index_select(0, beam_idx.to(t.device)))

    def batch_repeat_interleave(self, repeats: int) -> None:
        super().batch_repeat_interleave(repeats)
        self._select(lambda t: t.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        super().batch_select_indices(indices)
        self._select(lambda t: t[indices])

    def crop(self, tokens_to_remove: int) -> None:
        """Drop the last `-tokens_to_remove` tokens (transformers' convention: a negative count)."""
        super().crop(tokens_to_remove)
        self._length = max(0, self._length - abs(tokens_to_remove))

    def reset(self) -> None:
        super().reset()
        self._keys = self._values = None
        self._length = 0
