"""Sense topology: do a word and its translation arrange their K senses the same way?

Per word: centre its K sense vectors across the senses, L2-normalise, take the K x K cosine Gram
matrix's upper triangle; rho = Spearman correlation of the two words' triangles. Ranks are average
ranks (ties share the mean of their positions), which the original's plain argsort ranking lacks.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gram_upper(senses: torch.Tensor) -> torch.Tensor:
    """[N, K, d] sense sets -> [N, K(K-1)/2] cosines of the centred senses (upper triangle)."""
    centred = F.normalize(senses - senses.mean(dim=1, keepdim=True), dim=-1)
    gram = (centred @ centred.transpose(1, 2)).clamp(-1, 1)
    rows, cols = torch.triu_indices(senses.shape[1], senses.shape[1], offset=1, device=senses.device)
    return gram[:, rows, cols]


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 1..M along the last axis, ties given the average of the ranks they span.

    A value's tied block in the sorted row spans positions [first, last): its average rank is
    (first + 1 + last) / 2, both ends found by binary search.
    """
    ordered = values.sort(dim=-1).values.contiguous()
    values = values.contiguous()
    first = torch.searchsorted(ordered, values, right=False)
    last = torch.searchsorted(ordered, values, right=True)
    return (first + 1 + last).double() / 2


def spearman_rows(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rho of each row pair of [N, M] tensors (NaN where a row is constant)."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(-1, keepdim=True), rb - rb.mean(-1, keepdim=True)
    denominator = (ra.square().sum(-1) * rb.square().sum(-1)).sqrt()
    return (ra * rb).sum(-1) / denominator.where(denominator > 0, torch.full_like(denominator, math.nan))


def pair_rho(src_senses: torch.Tensor, tgt_senses: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """rho per aligned pair from the two sides' [P, K, d] sense sets (chunked: ranking is M x M per row)."""
    return torch.cat([spearman_rows(gram_upper(src_senses[i: i + chunk]), gram_upper(tgt_senses[i: i + chunk]))
                      for i in range(0, src_senses.shape[0], chunk)]) if src_senses.shape[0] else torch.zeros(0)


def rho_summary(rhos) -> dict:
    """count/mean/median/std (ddof 1, as pandas)/min/max over the defined rhos; `undefined` counts NaNs."""
    values = torch.as_tensor(rhos, dtype=torch.float64)
    defined = values[~values.isnan()]
    if defined.numel() == 0:
        return {"count": 0, "undefined": int(values.numel()), "mean": None, "median": None, "std": None,
                "min": None, "max": None}
    std = float(defined.std()) if defined.numel() > 1 else None
    return {"count": int(defined.numel()), "undefined": int(values.numel() - defined.numel()),
            "mean": float(defined.mean()), "median": float(defined.quantile(0.5)), "std": std,
            "min": float(defined.min()), "max": float(defined.max())}
