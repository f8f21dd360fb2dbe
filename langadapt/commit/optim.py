"""AdamW as EasyLM's `AdamWOptimizerFactory` builds it (optax's warmup-cosine schedule, decay on every
parameter, optionally optax's bf16 first moment) and the per-row masked-mean loss COMMIT trains with."""
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
    """Every trainable parameter decays (EasyLM's LLaMA weight-decay mask excludes none). `bf16_momentum`
    is optax's adamw with mu_dtype=bfloat16 (`Bf16MomentumAdamW`)."""
    kind = Bf16MomentumAdamW if bf16_momentum else torch.optim.AdamW
    return kind([p for p in model.parameters() if p.requires_grad], lr=lr, betas=(b1, b2), weight_decay=weight_decay)


class Bf16MomentumAdamW(torch.optim.AdamW):
    """AdamW step as optax's `scale_by_adam(mu_dtype=bfloat16)` + `add_decayed_weights` computes it: the
    stored first moment is bf16, and `b1 * mu` is a bf16 product (b1 = 0.9 acts as 0.8984375, the product
    rounded), added to the fp32 `(1 - b1) * g`; that fp32 moment makes the step, its bf16 rounding is kept
    (rounding only the stored moment drifts from optax-bf16 as far as fp32 momentum does)."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (b1, b2), eps, decay = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            b1_bf16 = float(torch.tensor(b1, dtype=torch.bfloat16))
            for param in group["params"]:
                if param.grad is not None:
                    _optax_adamw_update(param, self.state[param], lr, b1, b1_bf16, b2, eps, decay)
        return loss


def _optax_adamw_update(param: torch.Tensor, state: dict, lr: float, b1: float, b1_bf16: float, b2: float,
                        eps: float, decay: float) -> None:
    grad = param.grad.float()
    if not state:
        state["step"] = torch.tensor(0.0)
        state["exp_avg"] = torch.zeros_like(param, dtype=torch.bfloat16, memory_format=torch.preserve_format)
        state["exp_avg_sq"] = torch.zeros_like(param, dtype=torch.float32, memory_format=torch.preserve_format)
    if state["exp_avg"].dtype != torch.bfloat16:  # Optimizer.load_state_dict casts it to the parameter's dtype
        state["exp_avg"] = state["exp_avg"].to(torch.bfloat16)
    state["step"] += 1
    count = int(state["step"])
    mu = (1 - b1) * grad + state["exp_avg"] * b1_bf16  # bf16 * bf16-exact scalar: optax's bf16 `decay * t`
    nu = state["exp_avg_sq"].mul_(b2).add_((1 - b2) * grad.square())
    mu_hat, nu_hat = mu / _bias_correction(b1, count), nu / _bias_correction(b2, count)
    param.add_(((mu_hat / (nu_hat.sqrt() + eps) + decay * param) * -lr).to(param.dtype))
    state["exp_avg"].copy_(mu)


def _bias_correction(decay: float, count: int) -> float:
    """optax's `1 - decay ** count`, computed in fp32 as there."""
    return float(1 - torch.tensor(decay, dtype=torch.float32) ** count)


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
