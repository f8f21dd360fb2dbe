"""Sense collapse: FLORES cross-entropy when the Backpack keeps all senses, only the top-k, or a uniform mix.

The output o = sum_k c_k, c_k = alpha_k @ senses_k (the per-sense contributions). Each variant replaces
o per token and goes through the LM head; cross-entropy is summed over predicted tokens and divided by
their count (per token over the split, not per batch; `per_batch_ce` gives the original's mean over batches
of each batch's per-token mean, which weights a short batch like a long one and moves with the batch size).
Variants:
- full: o itself.
- topk (the original's): the mean of the k contributions with the largest mixture weight.
- topk_scaled: the sum of those k contributions, rescaled to |o| (k = K gives o back).
- uniform (the original's): the mean over all K contributions, i.e. o / K: a temperature change of the
  logits, not a different mixture.
- uniform_scaled: every contribution scaled to unit length, averaged (each sense the same weight), then
  rescaled to |o|: a genuinely uniform mixture at the full output's scale.
The mixture weight p_k is proportional to |c_k| ** (1 / tau) (tau = --inference-tau; the ranking, hence
the top-k choice, does not depend on tau, the entropy does).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F

VARIANTS = ("full", "topk", "topk_scaled", "uniform", "uniform_scaled")


def mixture_weights(contributions: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """[B, K, L, d] contributions -> [B, K, L] weights proportional to their norm ** (1 / tau)."""
    logits = contributions.norm(dim=-1).clamp_min(1e-12).log() / tau
    return torch.softmax(logits, dim=1)


def rescale_to(vectors: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    return vectors * (reference.norm(dim=-1, keepdim=True) / vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12))


def variant_hidden(contributions: torch.Tensor, weights: torch.Tensor, topk: int) -> dict[str, torch.Tensor]:
    """Each variant's output vector [B, L, d] from the contributions [B, K, L, d] and weights [B, K, L]."""
    full = contributions.sum(dim=1)
    chosen = torch.zeros_like(weights).scatter_(1, weights.topk(topk, dim=1).indices, 1.0)
    kept = (contributions * chosen[..., None]).sum(dim=1)
    unit_mean = F.normalize(contributions, dim=-1).mean(dim=1)
    return {"full": full, "topk": kept / topk, "topk_scaled": rescale_to(kept, full),
            "uniform": contributions.mean(dim=1), "uniform_scaled": rescale_to(unit_mean, full)}


def mixture_entropy(weights: torch.Tensor) -> torch.Tensor:
    """[B, K, L] -> [B, L] entropy (nats) of the sense mixture at every position."""
    return -(weights * weights.clamp_min(1e-12).log()).sum(dim=1)


def offdiag_cosine(senses: torch.Tensor) -> torch.Tensor:
    """[B, K, L, d] -> [B, L]: mean cosine between a token's K sense vectors, over the K(K-1) pairs i != j."""
    k = senses.shape[1]
    if k < 2:
        return torch.zeros(senses.shape[0], senses.shape[2], device=senses.device)
    unit = F.normalize(senses, dim=-1)
    gram = torch.einsum("bkld,bjld->blkj", unit, unit)
    return (gram.sum(dim=(-1, -2)) - gram.diagonal(dim1=-2, dim2=-1).sum(-1)) / (k * (k - 1))


@dataclass
class CollapseTotals:
    """Running sums over the split: NLL per variant over predicted tokens, statistics over real tokens."""
    nll: dict = field(default_factory=lambda: {v: 0.0 for v in VARIANTS})
    batch_ce: dict = field(default_factory=lambda: {v: [] for v in VARIANTS})  # each batch's per-token mean
    predicted_tokens: int = 0
    entropy_sum: float = 0.0
    offcos_sum: float = 0.0
    real_tokens: int = 0
    sentences: int = 0
    num_senses: int = 0

    def running_ce(self) -> dict:
        return {v: self.nll[v] / max(self.predicted_tokens, 1) for v in VARIANTS}

    def per_batch_ce(self) -> dict:
        return {v: sum(self.batch_ce[v]) / max(len(self.batch_ce[v]), 1) for v in VARIANTS}

    def result(self, compute_entropy: bool, compute_offcos: bool, per_batch_ce: bool = False) -> dict:
        ces = self.per_batch_ce() if per_batch_ce else self.running_ce()
        out = {f"ce_{v}": ce for v, ce in ces.items()}
        out.update({f"ppl_{v}": math.exp(min(ce, 700)) for v, ce in ces.items()})
        out["ce_averaging"] = "per_batch" if per_batch_ce else "per_token"
        out.update(predicted_tokens=self.predicted_tokens, sentences=self.sentences, num_senses=self.num_senses)
        if compute_entropy:
            out.update(entropy_mean=self.entropy_sum / max(self.real_tokens, 1),
                       log_num_senses=math.log(self.num_senses))
        if compute_offcos:
            out["offdiag_cosine_mean"] = self.offcos_sum / max(self.real_tokens, 1)
        return out


@torch.inference_mode()
def add_batch(totals: CollapseTotals, model, ids: torch.Tensor, mask: torch.Tensor, topk: int, tau: float,
              compute_entropy: bool, compute_offcos: bool) -> None:
    """Add one right-padded batch's NLL sums (per variant) and statistics to `totals`."""
    out = model(input_ids=ids, attention_mask=mask, output_senses=compute_offcos, output_sense_contributions=True)
    contributions = out.sense_contributions.float()
    weights = mixture_weights(contributions, tau)
    real = mask.bool()
    predicted = real[:, 1:] & real[:, :-1]
    targets = ids[:, 1:][predicted]
    for name, hidden in variant_hidden(contributions, weights, topk).items():
        logits = model.lm_head(hidden[:, :-1][predicted].to(model.lm_head.weight.dtype)).float()
        nll = float(F.cross_entropy(logits, targets, reduction="sum"))
        totals.nll[name] += nll
        totals.batch_ce[name].append(nll / max(int(predicted.sum()), 1))
    totals.predicted_tokens += int(predicted.sum())
    totals.real_tokens += int(real.sum())
    totals.sentences += ids.shape[0]
    totals.num_senses = contributions.shape[1]
    if compute_entropy:
        totals.entropy_sum += float(mixture_entropy(weights)[real].sum())
    if compute_offcos:
        totals.offcos_sum += float(offdiag_cosine(out.senses.float())[real].sum())


def sense_collapse(model, tokenizer, sentences: Sequence[str], batch_size: int, max_length: int, topk: int,
                   tau: float = 1.0, compute_entropy: bool = False, compute_offcos: bool = False,
                   log_interval: int = 0, logger=None, progress: bool = True, per_batch_ce: bool = False) -> dict:
    """The collapse metrics over `sentences` (each truncated to `max_length` tokens)."""
    from ..progress import progress_bar

    from ..evaluation.batching import pad_right

    device = next(model.parameters()).device
    totals = CollapseTotals()
    bar = progress_bar(range(0, len(sentences), batch_size), desc="sense collapse", disable=not progress)
    for number, start in enumerate(bar, 1):
        rows = [tokenizer(text, add_special_tokens=False)["input_ids"][:max_length]
                for text in sentences[start: start + batch_size]]
        ids, mask = pad_right(rows, tokenizer.pad_token_id, device)
        add_batch(totals, model, ids, mask, topk, tau, compute_entropy, compute_offcos)
        running = totals.running_ce()
        bar.set_postfix({"CE_full": f"{running['full']:.3f}", "CE_topk": f"{running['topk']:.3f}",
                         "CE_unif": f"{running['uniform']:.3f}"})
        if log_interval and logger is not None and number % log_interval == 0:
            logger.info("[%d/%d] %s", number, len(bar), "  ".join(f"CE({k})={v:.3f}" for k, v in running.items()))
    return totals.result(compute_entropy, compute_offcos, per_batch_ce)
