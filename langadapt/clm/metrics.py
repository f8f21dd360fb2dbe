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


def predictions_from_logits(vocab_size: int):
    """`preprocess_logits_for_metrics` for the Trainer: keep only argmax ids, not [B, L, V] logits.

    The Trainer hands over every non-loss output as a tuple (Backpack models also return an unsmoothed
    loss and their hidden states), so the logits are found by shape, taking the first [B, L, V] tensor.
    """
    def preprocess(outputs, labels: torch.Tensor) -> torch.Tensor:
        candidates = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        for tensor in candidates:
            if isinstance(tensor, torch.Tensor) and tensor.dim() == 3 and tensor.shape[:2] == labels.shape[:2] \
                    and tensor.shape[-1] == vocab_size:
                return tensor.argmax(dim=-1)
        raise LangAdaptError(f"the model's outputs hold no [batch, length, {vocab_size}] logits to score")
    return preprocess


def token_accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    """Share of next tokens predicted exactly: prediction at position t against the label at t+1."""
    predicted, target = predictions[:, :-1], labels[:, 1:]
    scored = target != IGNORE_INDEX
    total = int(scored.sum())
    return float((predicted[scored] == target[scored]).sum() / total) if total else float("nan")


def compute_metrics(eval_prediction) -> dict[str, float]:
    """`accuracy` is the original run_clm's key (eval_accuracy); `token_accuracy` says what it counts."""
    accuracy = token_accuracy(np.asarray(eval_prediction.predictions), np.asarray(eval_prediction.label_ids))
    return {"accuracy": accuracy, "token_accuracy": accuracy}
