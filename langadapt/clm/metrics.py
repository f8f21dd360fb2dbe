"""Evaluation metrics computed locally (`evaluate.load` would need the network): loss, perplexity and
next-token accuracy."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import LangAdaptError

IGNORE_INDEX = -100


def perplexity(mean_loss: float) -> float:
    try:
        return math.exp(mean_loss)
    except OverflowError:
        return float("inf")


def predictions_from_logits(vocab_size: int, label_smoothing: float = 0.0):
    """`preprocess_logits_for_metrics` for the Trainer: per position, the argmax id, the next token's NLL and
    (with label smoothing) the mean -log p over the vocabulary, not [B, L, V] logits.

    The Trainer hands over every non-loss output as a tuple (Backpack models also return an unsmoothed
    loss and their hidden states), so the logits are found by shape, taking the first [B, L, V] tensor.
    """
    def preprocess(outputs, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
        candidates = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        for tensor in candidates:
            if isinstance(tensor, torch.Tensor) and tensor.dim() == 3 and tensor.shape[:2] == labels.shape[:2] \
                    and tensor.shape[-1] == vocab_size:
                return (tensor.argmax(dim=-1),) + next_token_losses(tensor, labels, label_smoothing)
        raise LangAdaptError(f"the model's outputs hold no [batch, length, {vocab_size}] logits to score")
    return preprocess


def next_token_losses(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float) -> tuple[torch.Tensor, ...]:
    """[B, L] NLL of the label at t+1 from position t (0 at the last position and at ignored labels), and with
    smoothing the mean -log p over the vocabulary at each scored position (the LabelSmoother's terms)."""
    neg_logp = -logits[:, :-1].float().log_softmax(-1)
    target = labels[:, 1:]
    scored = target != IGNORE_INDEX
    nll = neg_logp.gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1) * scored
    pad = torch.zeros_like(nll[:, :1])
    if not label_smoothing:
        return (torch.cat([nll, pad], dim=1),)
    return torch.cat([nll, pad], dim=1), torch.cat([neg_logp.mean(-1) * scored, pad], dim=1)


def token_accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Share of next tokens predicted exactly: prediction at position t against the label at t+1."""
    predicted, target = predictions[:, :-1], labels[:, 1:]
    scored = target != IGNORE_INDEX
    total = int(scored.sum())
    return float((predicted[scored] == target[scored]).sum() / total) if total else float("nan")


def metrics_for(label_smoothing: float = 0.0):
    """`compute_metrics` for the Trainer. `loss` replaces the Trainer's eval_loss, a mean of per-batch means
    that under data parallelism counts the rows a process repeats to even out its last batch; here each
    scored token of the gathered (deduplicated) rows counts once, smoothed as in training.
    `accuracy` is the original run_clm's key (eval_accuracy); `token_accuracy` says what it counts."""
    def compute(eval_prediction) -> dict[str, float]:
        predictions, nll, *smooth = (np.asarray(part) for part in eval_prediction.predictions)
        labels = np.asarray(eval_prediction.label_ids)
        count = int((labels[:, 1:] != IGNORE_INDEX).sum())
        loss = float(nll.astype(np.float64).sum() / count) if count else float("nan")
        if smooth:
            loss = (1 - label_smoothing) * loss + label_smoothing * float(smooth[0].astype(np.float64).sum() / count)
        accuracy = token_accuracy(predictions, labels)
        return {"loss": loss, "accuracy": accuracy, "token_accuracy": accuracy}
    return compute
