"""AdamW as EasyLM's `AdamWOptimizerFactory` builds it (optax's warmup-cosine schedule, decay on every
parameter, optionally a bf16 first moment) and the per-row masked-mean loss COMMIT trains with."""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def easylm_lr(step: int, lr: float, init_lr: float, end_lr: float, warmup_steps: int, decay_steps: int) -> float:
    """optax.warmup_cosine_decay_schedule(init_lr, lr, warmup_steps, decay_steps, end_lr) at `step`:
    linear warmup, then a cosine over `decay_steps - warmup_steps` steps, so it reaches `end_lr` at step
    `decay_steps` (the warmup counts in the decay length) and stays there."""
    if step < warmup_steps:
        return init_lr + (lr - init_lr) * step / warmup_steps
    cosine_steps = decay_steps - warmup_steps
    progress = min(step - warmup_steps, cosine_steps) / cosine_steps
    alpha = end_lr / lr
    return lr * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * progress)) + alpha)


def build_optimizer(model: torch.nn.Module, lr: float, b1: float, b2: float, weight_decay: float,
                    bf16_momentum: bool = False) -> torch.optim.AdamW:
    """Every trainable parameter decays (EasyLM's LLaMA weight-decay mask excludes none). With
    `bf16_momentum`, Adam's first moment is rounded to bf16 after each step, as optax stores `mu` with
    mu_dtype=bfloat16 (the step itself used the full-precision moment, as there)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, betas=(b1, b2),
                                  weight_decay=weight_decay)
    if bf16_momentum:
        optimizer.register_step_post_hook(_round_first_moment_to_bf16)
    return optimizer


@torch.no_grad()
def _round_first_moment_to_bf16(optimizer: torch.optim.Optimizer, *_) -> None:
    for state in optimizer.state.values():
        if "exp_avg" in state:
            state["exp_avg"].copy_(state["exp_avg"].to(torch.bfloat16))


def build_scheduler(optimizer: torch.optim.Optimizer, lr: float, init_lr: float, end_lr: float,
                    warmup_steps: int, decay_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: easylm_lr(step, lr, init_lr, end_lr, warmup_steps, decay_steps) / lr)


def masked_row_mean_loss(logits: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over each row's masked tokens, then over rows (a row without any trained
    token counts as 0), as EasyLM's `cross_entropy_loss_and_accuracy`."""
    token_loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    token_loss = token_loss.view_as(targets) * loss_mask
    return (token_loss.sum(dim=1) / (loss_mask.sum(dim=1) + 1e-5)).mean()
