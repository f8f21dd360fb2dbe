"""AdamW with EasyLM's schedule (linear warmup from `init_lr`, then cosine decay to `end_lr`) and the
per-row masked-mean loss COMMIT trains with."""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def easylm_lr_factor(step: int, lr: float, init_lr: float, end_lr: float, warmup_steps: int,
                     decay_steps: int) -> float:
    """Multiplier of `lr` at `step`: optax.join_schedules(linear warmup, cosine decay with alpha=end/lr)."""
    if step < warmup_steps:
        return (init_lr + (lr - init_lr) * step / warmup_steps) / lr
    progress = min(step - warmup_steps, decay_steps) / decay_steps if decay_steps > 0 else 1.0
    alpha = end_lr / lr
    return (1 - alpha) * 0.5 * (1 + math.cos(math.pi * progress)) + alpha


def build_optimizer(model: torch.nn.Module, lr: float, b1: float, b2: float, weight_decay: float
                    ) -> torch.optim.AdamW:
    """Decay only matrices (not norms or biases), as EasyLM's weight-decay mask does."""
    params = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in params if p.ndim >= 2]
    plain = [p for p in params if p.ndim < 2]
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=(b1, b2))


def build_scheduler(optimizer: torch.optim.Optimizer, lr: float, init_lr: float, end_lr: float,
                    warmup_steps: int, decay_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: easylm_lr_factor(step, lr, init_lr, end_lr, warmup_steps, decay_steps))


def masked_row_mean_loss(logits: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over each row's masked tokens, then over rows (a row without any trained
    token counts as 0), as EasyLM's `cross_entropy_loss_and_accuracy`."""
    token_loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    token_loss = token_loss.view_as(targets) * loss_mask
    return (token_loss.sum(dim=1) / (loss_mask.sum(dim=1) + 1e-5)).mean()
