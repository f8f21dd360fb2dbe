"""The analyses' figures (PNG, written to a temporary name then renamed)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=150)
    _pyplot().close(fig)
    os.replace(tmp, path)
    return str(path)


def rho_histogram(rhos: Sequence[float], path: Path, title: str) -> str:
    """Histogram of the defined rhos with |rho| < 0.99 (the original drops the degenerate extremes)."""
    plt = _pyplot()
    values = np.asarray([r for r in rhos if r == r and abs(r) < 0.99])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(values, bins=50, range=(-1, 1), edgecolor="black", color="#4c8cbf")
    if len(values):
        ax.axvline(float(np.mean(values)), color="#c0392b", linestyle="--", label=f"mean {np.mean(values):.3f}")
        ax.legend()
    ax.set_xlabel("Spearman rho between the two words' sense Gram matrices")
    ax.set_ylabel("aligned word pairs")
    ax.set_title(f"{title} (n={len(values)})")
    fig.tight_layout()
    return _save(fig, path)


def mi_curve(history: Sequence[float], path: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(history, color="#4c8cbf", linewidth=1)
    ax.axhline(2 * np.log(2), color="grey", linestyle=":", label="2 ln 2 (critic knows nothing)")
    ax.set_xlabel("training step")
    ax.set_ylabel("JSD critic loss (lower is better)")
    ax.set_title("Mutual-information critic training")
    ax.legend()
    fig.tight_layout()
    return _save(fig, path)


def jsd_delta(metrics: dict, path: Path) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    values = [metrics["aligned_mean"], metrics["shuffled_mean"]]
    ax.bar(["aligned pairs", "shuffled pairs"], values, color=["#2a7ab0", "#999999"])
    for i, v in enumerate(values):
        ax.annotate(f"{v:.3f}", (i, v), ha="center", va="bottom" if v >= 0 else "top", xytext=(0, 3 if v >= 0 else -3),
                    textcoords="offset points")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.margins(y=0.15)
    ax.set_ylabel("mean critic output")
    ax.set_title(f"delta MI = {metrics['delta_mi']:.3f} on held-out pairs (in-sample {metrics['delta_mi_train']:.3f})")
    fig.tight_layout()
    return _save(fig, path)


def aligned_types(points: np.ndarray, is_source: Sequence[bool], pair_of: Sequence[int],
                  pair_labels: Sequence[str], path: Path, title: str) -> str:
    """PCA to 2-D of word vectors: one colour and marker per aligned pair type, source filled, target hollow."""
    plt = _pyplot()
    centred = points - points.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    xy = centred @ vt[:2].T
    colours = plt.get_cmap("tab20")
    markers = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
    fig, ax = plt.subplots(figsize=(9, 7.5))
    is_source = np.asarray(is_source)
    pair_of = np.asarray(pair_of)
    for t, label in enumerate(pair_labels):
        colour, marker = colours(t % 20), markers[t % len(markers)]
        src, tgt = (pair_of == t) & is_source, (pair_of == t) & ~is_source
        ax.scatter(xy[src, 0], xy[src, 1], color=colour, marker=marker, alpha=0.75, s=36, label=label)
        ax.scatter(xy[tgt, 0], xy[tgt, 1], facecolors="none", edgecolors=colour, marker=marker, alpha=0.9, s=36,
                   linewidths=1.2)
    ax.set_xlabel("PC1")
    ax.set_ylabel("PC2")
    ax.set_title(f"{title}\nfilled = source word, hollow = target word")
    columns = 4 if len(pair_labels) > 12 else 3
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=columns, fontsize=7, frameon=False)
    fig.tight_layout()
    return _save(fig, path)
