"""Retrieval and perplexity on FLORES pairs: does the adapted model align the two languages?"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F

from .losses import last_token_vectors, pool_senses, recall_at_1


@torch.no_grad()
def evaluate_pairs(model, loader, device, *, sense_pool_temp: float, normalize_context: bool,
                   normalize_senses: bool, autocast=contextlib.nullcontext) -> dict[str, float]:
    """Recall@1 both ways for context and sense vectors, target perplexity (unsmoothed, exact token count),
    and the mean sense-mixture entropy per side."""
    was_training = model.training
    model.eval()
    vectors = {"ctx_src": [], "ctx_tgt": [], "sns_src": [], "sns_tgt": []}
    entropy = {"src": [0.0, 0.0], "tgt": [0.0, 0.0]}  # [sum, tokens]
    nll, predicted = 0.0, 0
    try:
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            for side in ("src", "tgt"):
                ids, mask = batch[f"{side}_ids"], batch[f"{side}_mask"]
                with autocast():
                    out = model(input_ids=ids, attention_mask=mask, output_sense_contributions=True)
                ctx = last_token_vectors(out.backpack_hidden_states, mask).float()
                vectors[f"ctx_{side}"].append(F.normalize(ctx, dim=-1) if normalize_context else ctx)
                pooled = pool_senses(out.sense_contributions, mask, sense_pool_temp, normalize_senses)
                vectors[f"sns_{side}"].append(pooled.vectors)
                entropy[side][0] += pooled.entropy_sum.item()
                entropy[side][1] += pooled.num_tokens.item()
                if side == "tgt":
                    logits = out.logits[:, :-1].float()
                    keep = mask[:, 1:].bool()
                    nll += F.cross_entropy(logits[keep], ids[:, 1:][keep], reduction="sum").item()
                    predicted += int(keep.sum())
    finally:
        model.train(was_training)
    stacked = {k: torch.cat(v) for k, v in vectors.items()}
    metrics = {"num_pairs": stacked["ctx_src"].size(0)}
    for kind in ("ctx", "sns"):
        s2t, t2s = recall_at_1(stacked[f"{kind}_src"], stacked[f"{kind}_tgt"])
        metrics.update({f"{kind}_r1_src2tgt": s2t, f"{kind}_r1_tgt2src": t2s, f"{kind}_r1_avg": (s2t + t2s) / 2})
    metrics["tgt_ppl"] = math.exp(nll / predicted) if predicted else float("nan")
    for side in ("src", "tgt"):
        metrics[f"{side}_sense_entropy"] = entropy[side][0] / max(entropy[side][1], 1.0)
    return metrics
