"""Procrustes: how well does one orthogonal map carry target-word vectors onto their source words?

One vector per aligned word and side: its K mean sense vectors mixed with softmax_k(score_k / temp), the
score being the word's summed <h_p, s_kp>. Kabsch: the orthogonal Q
minimising ||(T - mean T) Q - (E - mean E)||_F is U V^T for the SVD U S V^T of T0^T E0.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pool_senses(senses: torch.Tensor, scores: torch.Tensor, temp: float = 1.0) -> torch.Tensor:
    """[P, K, d] senses -> [P, d]: the context-gated mixture softmax_k(scores / temp)."""
    weights = torch.softmax(scores / max(float(temp), 1e-8), dim=-1)
    return torch.einsum("pk,pkd->pd", weights, senses)


def kabsch(target: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """(Q, {"procrustes_mse", "procrustes_cos"}) of the centred fit target @ Q ~ source (float64 SVD)."""
    t0 = (target - target.mean(0, keepdim=True)).double()
    e0 = (source - source.mean(0, keepdim=True)).double()
    u, _, vt = torch.linalg.svd(t0.T @ e0, full_matrices=False)
    q = u @ vt
    fitted = t0 @ q
    return q, {"procrustes_mse": float((fitted - e0).square().mean()),
               "procrustes_cos": float(F.cosine_similarity(fitted, e0, dim=-1).mean())}
