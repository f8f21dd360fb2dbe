"""A mutual-information proxy between aligned source and target vectors: an f-GAN JSD critic.

A small MLP critic T(x, y) learns to score aligned rows above rows whose y was shuffled (loss
softplus(-T(x, y)) + softplus(T(x, y'))); delta_mi = mean critic output on aligned pairs minus the mean
over shuffled pairs. It is near zero when x says nothing about y. Both sides are standardised per
feature and reduced by PCA (`pca_dim`); every random draw comes from `seed`.
The original scores the rows it trained on, where a critic that memorises also separates independent
pairs; here `delta_mi` is measured on held-out rows (`holdout`, default a fifth) and the in-sample gap is
reported beside it as `delta_mi_train`.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class Critic(nn.Module):
    def __init__(self, dim_x: int, dim_y: int, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim_x + dim_y, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x, y], dim=-1)).squeeze(-1)


def standardise(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    x = x - x.mean(0, keepdim=True)
    return x / x.std(0, keepdim=True).clamp_min(eps)


def pca(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Project centred rows on their top `dim` principal axes (all axes when dim <= 0 or too large)."""
    if dim <= 0 or dim >= min(x.shape):
        return x
    centred = x - x.mean(0, keepdim=True)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:dim].T


@torch.no_grad()
def mean_critic(critic: Critic, x: torch.Tensor, y: torch.Tensor, batch: int = 4096) -> float:
    return float(torch.cat([critic(x[i: i + batch], y[i: i + batch]) for i in range(0, len(x), batch)]).mean())


def estimate_mi_gap(source: torch.Tensor, target: torch.Tensor, steps: int = 800, batch: int = 2048,
                    lr: float = 1e-4, hidden: int = 128, n_shuffles: int = 10, pca_dim: int = 32, seed: int = 0,
                    device: Optional[str] = None, progress: bool = False,
                    holdout: float = 0.2) -> tuple[dict, list[float]]:
    """(metrics, per-step training loss) of the critic on aligned rows source[i] <-> target[i]."""
    from ..progress import progress_bar

    if source.shape[0] != target.shape[0]:
        raise ValueError("source and target need the same number of rows")
    total = source.shape[0]
    held = max(2, int(total * holdout))
    if total - held < 4:
        return {"aligned_mean": None, "shuffled_mean": None, "delta_mi": None, "N_pairs": total}, []
    device = device or source.device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    order = torch.randperm(total, generator=generator)
    x_all = standardise(pca(standardise(source.float()), pca_dim))[order].to(device)
    y_all = standardise(pca(standardise(target.float()), pca_dim))[order].to(device)
    x, y, x_held, y_held = x_all[held:], y_all[held:], x_all[:held], y_all[:held]
    n = x.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = Critic(x.shape[1], y.shape[1], hidden).to(device)
    optimiser = torch.optim.Adam(critic.parameters(), lr=lr)
    size = min(batch, n)
    history = []
    for _ in progress_bar(range(steps), desc="MI critic", leave=False, disable=not progress):
        index = torch.randint(0, n, (size,), generator=generator).to(device)
        shuffle = torch.randperm(size, generator=generator).to(device)
        xb, yb = x[index], y[index]
        positive = critic(xb, yb).clamp(-50, 50)
        negative = critic(xb, yb[shuffle]).clamp(-50, 50)
        loss = F.softplus(-positive).mean() + F.softplus(negative).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(critic.parameters(), 1.0)
        optimiser.step()
        history.append(float(loss.detach()))
    critic.eval()
    shuffles = max(n_shuffles, 1)
    aligned, shuffled = score_gap(critic, x_held, y_held, shuffles, generator)
    aligned_train, shuffled_train = score_gap(critic, x, y, shuffles, generator)
    return {"aligned_mean": aligned, "shuffled_mean": shuffled, "delta_mi": aligned - shuffled,
            "delta_mi_train": aligned_train - shuffled_train, "heldout_pairs": held, "train_pairs": n,
            "steps": steps, "batch": size, "lr": lr, "hidden": hidden, "eval_shuffles": shuffles,
            "pca_dim": int(x.shape[1]), "seed": seed, "N_pairs": total, "dim": int(source.shape[1])}, history


def score_gap(critic: Critic, x: torch.Tensor, y: torch.Tensor, shuffles: int,
              generator: torch.Generator) -> tuple[float, float]:
    """(mean critic output on aligned rows, its mean over `shuffles` shufflings of y)."""
    shuffled = [mean_critic(critic, x, y[torch.randperm(len(y), generator=generator).to(x.device)])
                for _ in range(shuffles)]
    return mean_critic(critic, x, y), sum(shuffled) / len(shuffled)
