"""The run_ablations analyses over one FLORES split: data, one alignment, one model pass, the statistics.

Alignments are computed once; one batched pass over the aligned sentences feeds every analysis (sense
topology, Procrustes and mutual information use the first `max_pairs` pairs, the visualisations all
sentences).
"""
from __future__ import annotations

import csv
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import LangAdaptError
from . import plots
from .alignment import AlignedCorpus
from .features import iter_pair_batches
from .mutual_information import estimate_mi_gap
from .procrustes import kabsch, pool_senses
from .topology import pair_rho, rho_summary

logger = logging.getLogger(__name__)
VIZ_PER_TYPE = 60


def local_flores_files(split: str, lang: str, folder: Path = Path(".")) -> Optional[Path]:
    """The original's fallback: `flores_{split}.{lang}.txt` in the working directory."""
    path = folder / f"flores_{split}.{lang}.txt"
    return path if path.is_file() else None


def load_parallel_flores(dataset: str, src: str, tgt: str, split: str) -> tuple[list[str], list[str]]:
    """Parallel FLORES sentences: the original's local files if present, else `dataset` (hub, folder, saved)."""
    from ..evaluation.flores import load_flores_sentences

    files = [local_flores_files(split, lang) for lang in (src, tgt)]
    if all(files):
        sides = [[line.strip() for line in f.read_text(encoding="utf-8").splitlines()] for f in files]
        logger.info("FLORES from %s and %s", *files)
    else:
        sides = [load_flores_sentences(dataset, lang, split) for lang in (src, tgt)]
    if len(sides[0]) != len(sides[1]):
        raise LangAdaptError(f"FLORES {split}: {len(sides[0])} {src} and {len(sides[1])} {tgt} sentences; "
                             "the two sides must be parallel")
    return sides[0], sides[1]


def frequent_types(corpus: AlignedCorpus, k: int, as_seen: bool = False) -> list[tuple[str, str]]:
    """The k most frequent aligned (src, tgt) word pairs, both alphabetic and longer than one letter:
    lower-cased, or `as_seen`, each as the text the model read (" word" in a sentence, "Word" at its start)."""
    def key(words: list[str], i: int) -> str:
        return (words[i] if i == 0 else " " + words[i]) if as_seen else words[i].lower()

    counts = Counter()
    for ws, wt, pairs in zip(corpus.src_words, corpus.tgt_words, corpus.pairs):
        for i, j in pairs:
            a, b = key(ws, i), key(wt, j)
            if len(a.strip()) > 1 and len(b.strip()) > 1 and a.strip().isalpha() and b.strip().isalpha():
                counts[(a, b)] += 1
    return [pair for pair, _ in counts.most_common(k)]


@dataclass
class Collected:
    """What the one pass keeps: per pair rho and pooled vectors, per visualised occurrence its vectors."""
    rows: list = field(default_factory=list)  # (sentence_idx, word_src, word_tgt)
    rho: list = field(default_factory=list)
    source: list = field(default_factory=list)  # pooled sense vectors [d], for Procrustes / MI
    target: list = field(default_factory=list)
    viz: dict = field(default_factory=dict)  # (src, tgt) -> list of (src_sense, tgt_sense, src_ctx, tgt_ctx)


def collect(model, tokenizer, corpus: AlignedCorpus, batch_size: int, device, max_pairs: Optional[int],
            sense_pool_temp: float, topology: bool, anchors: bool,
            viz_types: list[tuple[str, str]], leading_space: bool = False) -> Collected:
    kept = Collected(viz={t: [] for t in viz_types})
    budget = max_pairs if max_pairs is not None else corpus.num_pairs
    cap = None if viz_types else max_pairs
    for batch in iter_pair_batches(model, tokenizer, corpus, batch_size, device, max_pairs=cap,
                                   leading_space=leading_space):
        take = max(0, min(len(batch.sentence), budget - len(kept.rows)))
        names = [(corpus.src_words[n][i], corpus.tgt_words[n][j])
                 for n, i, j in zip(batch.sentence, batch.src_word, batch.tgt_word)]
        kept.rows += [(n, a, b) for n, (a, b) in zip(batch.sentence[:take], names[:take])]
        if topology and take:
            kept.rho += pair_rho(batch.src_senses[:take], batch.tgt_senses[:take]).tolist()
        need_pooled = (anchors and take) or viz_types
        if need_pooled:
            src = pool_senses(batch.src_senses, batch.src_scores, sense_pool_temp)
            tgt = pool_senses(batch.tgt_senses, batch.tgt_scores, sense_pool_temp)
        if anchors and take:
            kept.source.append(src[:take].cpu())
            kept.target.append(tgt[:take].cpu())
        for p, (a, b) in enumerate(names):
            occurrences = kept.viz.get((a.lower(), b.lower()))
            if occurrences is not None and len(occurrences) < VIZ_PER_TYPE:
                occurrences.append(tuple(v[p].cpu().numpy() for v in (src, tgt, batch.src_context,
                                                                        batch.tgt_context)))
    return kept


def write_topology_csv(path: Path, rows, rhos) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sentence_idx", "word_src", "word_tgt", "rho"])
        writer.writerows((n, a, b, f"{r:.6f}") for (n, a, b), r in zip(rows, rhos))
    tmp.replace(path)


def visualisation_plots(viz: dict, out_dir: Path, src: str, tgt: str) -> dict:
    """nouns_sense.png and nouns_ctx.png from the collected occurrences of the frequent types."""
    types = [t for t, occ in viz.items() if occ]
    if not types:
        raise LangAdaptError("--do_sense_visualizations: no occurrence of an alphabetic aligned word pair")
    artifacts = {}
    for view, (s, t), name in (("sense", (0, 1), "nouns_sense"), ("context", (2, 3), "nouns_ctx")):
        points, is_source, pair_of = [], [], []
        for index, key in enumerate(types):
            for occurrence in viz[key]:
                points += [occurrence[s], occurrence[t]]
                is_source += [True, False]
                pair_of += [index, index]
        labels = [f"{a} / {b}" for a, b in types]
        artifacts[name] = plots.aligned_types(np.stack(points), is_source, pair_of, labels, out_dir / f"{name}.png",
                                              f"Aligned words, {view} vectors, PCA ({src} -> {tgt})")
    return artifacts


def run_suite(model, tokenizer, corpus: AlignedCorpus, out_dir: Path, *, src: str, tgt: str, batch_size: int,
              device, max_pairs: Optional[int], sense_pool_temp: float, do_topology: bool, do_procrustes: bool,
              do_mi: bool, do_viz: bool, viz_types_k: int, mi_options: dict,
              leading_space: bool = False) -> tuple[dict, dict]:
    """Run the selected analyses; returns (metrics, artifacts) and writes the CSV and PNGs into out_dir."""
    metrics, artifacts = {"counts": {"sentences": len(corpus.pairs), "aligned_pairs": corpus.num_pairs}}, {}
    viz_types = frequent_types(corpus, viz_types_k if viz_types_k > 0 else 50) if do_viz else []
    start = time.perf_counter()
    kept = collect(model, tokenizer, corpus, batch_size, device, max_pairs, sense_pool_temp,
                   topology=do_topology, anchors=do_procrustes or do_mi, viz_types=viz_types,
                   leading_space=leading_space)
    metrics["counts"]["pairs_collected"] = len(kept.rows)
    logger.info("collected %d aligned pairs in %.1fs", len(kept.rows), time.perf_counter() - start)
    if do_topology:
        metrics["topology"] = rho_summary(kept.rho)
        write_topology_csv(out_dir / "sense_topology_rho.csv", kept.rows, kept.rho)
        artifacts["sense_topology_csv"] = str(out_dir / "sense_topology_rho.csv")
        artifacts["rho_hist"] = plots.rho_histogram(kept.rho, out_dir / "rho_hist.png",
                                                    f"Sense topology rho ({src} <-> {tgt})")
        logger.info("(1) sense topology: %s", metrics["topology"])
    if do_procrustes or do_mi:
        source, target = torch.cat(kept.source), torch.cat(kept.target)
    if do_procrustes:
        _, metrics["procrustes"] = kabsch(target, source)
        logger.info("(5) Procrustes: %s", metrics["procrustes"])
    if do_mi:
        mi, history = estimate_mi_gap(source, target, device=device, progress=True, **mi_options)
        metrics["mutual_information"] = mi
        if history:
            artifacts["mi_curve"] = plots.mi_curve(history, out_dir / "mi_curve.png")
            artifacts["jsd_delta"] = plots.jsd_delta(mi, out_dir / "jsd_delta.png")
        logger.info("(7) mutual information: %s", mi)
    if do_viz:
        artifacts.update(visualisation_plots(kept.viz, out_dir, src, tgt))
        metrics["visualisations"] = {"types": len([t for t, o in kept.viz.items() if o]),
                                     "points": 2 * sum(len(o) for o in kept.viz.values())}
    return metrics, artifacts
