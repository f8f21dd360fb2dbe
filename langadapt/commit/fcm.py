"""Forgetful causal masking (FCM, Liu et al. 2022) as COMMIT uses it through EasyLM.

In training, each sequence draws a ratio r ~ U(min, max) and hides each key position j > 0 from every
query with probability r; one mask per forward pass, shared by all layers and heads. Key 0 always stays
visible so no query row is left with nothing to attend to. The mask is handed to the model as a 4D
attention mask (batch, 1, query, key) combined with the causal pattern: HF models built on
`masking_utils` pass a 4D mask through unchanged, and SDPA accepts it (boolean, True = attend), eager
attention as an additive float mask. FlashAttention-2 cannot take an arbitrary mask, hence not FCM.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..errors import LangAdaptError

MASKABLE_ATTENTION = ("sdpa", "eager")


def forgetful_key_mask(batch: int, length: int, min_ratio: float, max_ratio: float,
                       device: Optional[torch.device] = None,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Boolean [batch, length]: True where a key stays visible; column 0 is always True."""
    ratio = torch.rand(batch, 1, device=device, generator=generator) * (max_ratio - min_ratio) + min_ratio
    keep = torch.rand(batch, length, device=device, generator=generator) >= ratio
    keep[:, 0] = True
    return keep


def causal_mask_with_keys(keep_keys: torch.Tensor, attn_implementation: str,
                          dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[batch, 1, length, length] mask: query i sees key j iff j <= i and key j is kept."""
    length = keep_keys.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=keep_keys.device).tril()
    allowed = causal[None, None] & keep_keys[:, None, None, :]
    if attn_implementation == "sdpa":
        return allowed
    if attn_implementation == "eager":
        blocked = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
        return blocked.masked_fill_(~allowed, torch.finfo(dtype).min)
    raise LangAdaptError(f"forgetful causal masking needs attention that accepts a custom mask "
                         f"({' or '.join(MASKABLE_ATTENTION)}), the model uses {attn_implementation!r}; "
                         f"pass --attn_implementation sdpa or --fcm_max_ratio 0")


class ForgetfulCausalMask:
    """Draws the training-time 4D mask for a batch, or None (plain causal attention) when FCM is off."""

    def __init__(self, min_ratio: float, max_ratio: float, attn_implementation: str,
                 dtype: torch.dtype = torch.float32):
        if not 0.0 <= min_ratio <= max_ratio < 1.0:
            raise LangAdaptError(f"--fcm_min_ratio/--fcm_max_ratio must satisfy 0 <= min <= max < 1, "
                                 f"got {min_ratio} and {max_ratio}")
        self.min_ratio, self.max_ratio = min_ratio, max_ratio
        self.attn_implementation, self.dtype = attn_implementation, dtype
        if self.enabled:
            causal_mask_with_keys(torch.ones(1, 1, dtype=torch.bool), attn_implementation, dtype)

    @property
    def enabled(self) -> bool:
        return self.max_ratio > 0

    def __call__(self, input_ids: torch.Tensor, training: bool) -> Optional[torch.Tensor]:
        if not (training and self.enabled):
            return None
        batch, length = input_ids.shape
        keep = forgetful_key_mask(batch, length, self.min_ratio, self.max_ratio, device=input_ids.device)
        return causal_mask_with_keys(keep, self.attn_implementation, self.dtype)
