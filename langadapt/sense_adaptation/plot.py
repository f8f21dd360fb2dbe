"""One PNG of the run: the loss-weight and temperature schedule (computed) and the logged losses.

Researchers check the three phases by eye; drawing the schedule from `LossSchedule` itself (not from
sparse logs) shows exactly what every step used.
"""
from __future__ import annotations

import os
from pathlib import Path

from .losses import LossSchedule

POINTS = 400


def plot_run(path: str | os.PathLike, schedule: LossSchedule, total_steps: int,
             train_records: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted({max(1, round(i * total_steps / POINTS)) for i in range(POINTS + 1)})
    values = [schedule.at(step, total_steps) for step in steps]
    fig, (weights_ax, taus_ax, loss_ax) = plt.subplots(3, 1, figsize=(8, 10), sharex=True)
    for name, label in (("w_ctx", "context"), ("w_sns", "sense"), ("w_lm", "LM")):
        weights_ax.plot(steps, [getattr(v, name) for v in values], label=label)
    weights_ax.set_ylabel("loss weight (renormalised)")
    for name, label in (("tau_ctx", "context"), ("tau_sns", "sense")):
        taus_ax.plot(steps, [getattr(v, name) for v in values], label=label)
    taus_ax.set_ylabel("InfoNCE temperature")
    for boundary in (schedule.align_pct, schedule.polish_start):
        for ax in (weights_ax, taus_ax, loss_ax):
            ax.axvline(boundary * total_steps, color="grey", linestyle=":", linewidth=1)
    by_step = {record["step"]: record for record in train_records}  # a resumed run re-logs some steps
    logged = [by_step[s] for s in sorted(by_step)]
    for key, label in (("context_loss", "context InfoNCE"), ("sense_loss", "sense InfoNCE"),
                       ("lm_loss", "target LM"), ("loss", "total")):
        if logged and key in logged[0]:
            loss_ax.plot([r["step"] for r in logged], [r[key] for r in logged], label=label)
    loss_ax.set_ylabel("loss")
    loss_ax.set_xlabel("optimiser step")
    if not logged:
        loss_ax.text(0.5, 0.5, "no losses logged (--log_every_n_steps 0)", ha="center", transform=loss_ax.transAxes)
    for ax in (weights_ax, taus_ax, loss_ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path
