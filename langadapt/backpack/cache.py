"""Incremental-decoding cache for Backpack: the contextualizer's key/values plus the sense layer's.

A Backpack step needs, for every past token, its sense vectors (values of the sense "attention") and the
weight network's keys. Both are appended here, beside GPT-2's own per-layer cache, so one object travels
through `generate()` like any transformers cache.
"""
from __future__ import annotations

from typing import Optional

import torch
from transformers import DynamicCache


class BackpackCache(DynamicCache):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sense_keys: Optional[torch.Tensor] = None  # [B, K, S, d/K]
        self.sense_values: Optional[torch.Tensor] = None  # [B, K, S, d]

    def update_senses(self, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys/values and return the full past + present ones."""
        if self.sense_keys is None:
            self.sense_keys, self.sense_values = keys, values
        else:
            self.sense_keys = torch.cat([self.sense_keys, keys], dim=2)
            self.sense_values = torch.cat([self.sense_values, values], dim=2)
        return self.sense_keys, self.sense_values

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        super().reorder_cache(beam_idx)
        if self.sense_keys is not None:
            self.sense_keys = self.sense_keys.index_select(0, beam_idx.to(self.sense_keys.device))
            self.sense_values = self.sense_values.index_select(0, beam_idx.to(self.sense_values.device))
