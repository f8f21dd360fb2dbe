#!/usr/bin/env python
"""Sense analyses of a Backpack on a FLORES split: what do aligned words share in their senses?

Analyses (each behind its flag; with none given, topology, Procrustes and mutual information run):
  --do_sense_topology      Spearman rho between the K x K sense-cosine structure of each aligned word pair
  --do_procrustes          how well one orthogonal map sends target-word vectors onto their source words
  --do_mutual_information  a critic's score gap between aligned and shuffled word pairs (MI proxy)
  --do_sense_visualizations  PCA plots of the most frequent aligned word pairs (sense and context vectors)
Writes metrics.json, sense_topology_rho.csv, rho_hist.png, mi_curve.png, jsd_delta.png, nouns_sense.png,
nouns_ctx.png, ablation.log and alignments.txt (the content-word alignments used, for --alignments) into --out_dir.
"""
from __future__ import annotations

import argparse
import json
import logging
import time

from langadapt.cli import make_parser, run_cli, setup_logging

logger = logging.getLogger("run_ablations")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__, raw_description=True)
    p.add_argument("--model", required=True, help="hub id or local folder of the Backpack LM")
    p.add_argument("--tokenizer", default=None, help="hub id or folder of a fast tokenizer (default: --model)")
    p.add_argument("--src", required=True, help="source language code (en, eng, eng_Latn...)")
    p.add_argument("--tgt", required=True, help="target language code (sw, swh, swh_Latn...)")
    p.add_argument("--split", default="dev", choices=["dev", "devtest", "test"], help="FLORES split")
    p.add_argument("--out_dir", required=True, help="output folder (refused if it holds another run's results)")
    p.add_argument("--dataset", default="openlanguagedata/flores_plus",
                   help="FLORES source: hub id, a local flores200_dataset folder ({split}/{lang}.{split}) or a "
                        "saved dataset; files flores_{split}.{lang}.txt in the working directory take precedence, "
                        "as in the original")
    p.add_argument("--aligner", default="simalign", choices=["simalign", "eflomal"],
                   help="word aligner: simalign (multilingual BERT from the hub, the paper's) or eflomal "
                        "(statistical, offline, aligns the whole split at once)")
    p.add_argument("--alignments", default=None,
                   help="Pharaoh file (one line of i-j word pairs per sentence pair) used instead of an aligner")
    p.add_argument("--max_pairs", type=int, default=None, help="cap on aligned word pairs for the analyses")
    p.add_argument("--batch_size", type=int, default=64, help="sentences per batch in the model pass")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument("--sense_pool_temp", type=float, default=1.0,
                   help="temperature of the context-gated sense mixture (one vector per word for Procrustes/MI)")
    p.add_argument("--viz_types_k", type=int, default=0,
                   help="how many frequent aligned word pairs the visualisations show (0: 50)")
    p.add_argument("--jsd_k", type=int, default=128, help="hidden width of the mutual-information critic")
    p.add_argument("--jsd_pca_dim", type=int, default=32, help="PCA dimensions fed to the critic (0: no PCA)")
    p.add_argument("--jsd_n_shuffles", type=int, default=10, help="shuffles averaged for the shuffled-pair score")
    p.add_argument("--jsd_seed", type=int, default=0, help="seed of the critic (init, batches, shuffles)")
    p.add_argument("--first_word_space", action="store_true",
                   help="tokenise words as the original did, each with a leading space, the first word of a "
                        "sentence included (default: running text, the first word without one, as the model saw it)")
    p.add_argument("--do_sense_topology", action="store_true", help="run (1) sense topology correlation")
    p.add_argument("--do_procrustes", action="store_true", help="run (5) Procrustes reconstruction")
    p.add_argument("--do_protocrustes", action="store_true", help="alias spelling of --do_procrustes")
    p.add_argument("--do_mutual_information", action="store_true", help="run (7) mutual information (JSD gap)")
    p.add_argument("--do_sense_visualizations", action="store_true", help="run the aligned-word PCA plots")
    p.add_argument("--sense_topology_batch_size", type=int, default=32,
                   help="sentences per batch when sense topology is the only analysis (the one shared pass "
                        "otherwise uses --batch_size)")
    p.add_argument("--log_level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from langadapt.analysis.alignment import align_corpus, build_aligner, write_pharaoh
    from langadapt.analysis.features import require_backpack
    from langadapt.analysis.outputs import claim_output_dir, finish_output_dir
    from langadapt.analysis.suite import load_parallel_flores, run_suite
    from langadapt.errors import LangAdaptError
    from langadapt.evaluation.model_io import check_analysis_model, load_model_for_eval, resolve_device

    for flag in ("batch_size", "sense_topology_batch_size", "max_pairs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise LangAdaptError(f"--{flag} {value}: must be at least 1")
    selected = [args.do_sense_topology, args.do_procrustes or args.do_protocrustes, args.do_mutual_information,
                args.do_sense_visualizations]
    topology, procrustes, mi, viz = selected if any(selected) else [True, True, True, False]
    tokenizer_source = ("--tokenizer", args.tokenizer)
    check_analysis_model("--model", args.model, tokenizer_source)
    identity = {"script": "run_ablations", "model": args.model, "src": args.src, "tgt": args.tgt,
                "split": args.split}
    out_dir = claim_output_dir(args.out_dir, identity)
    setup_logging(args.log_level, str(out_dir / "ablation.log"))
    start = time.perf_counter()
    device = resolve_device(args.device)
    logger.info("loading %s on %s (own Backpack implementation, no remote code)", args.model, device)
    model, tokenizer = load_model_for_eval(args.model, str(device), flag="--model", tokenizer=tokenizer_source)
    require_backpack(model, f"--model {args.model}")
    src_sentences, tgt_sentences = load_parallel_flores(args.dataset, args.src, args.tgt, args.split)
    aligner = None if args.alignments else build_aligner(args.aligner, str(device))
    corpus = align_corpus(src_sentences, tgt_sentences, aligner, args.alignments)
    write_pharaoh(corpus, out_dir / "alignments.txt")
    only_topology = topology and not (procrustes or mi or viz)
    metrics, artifacts = run_suite(
        model, tokenizer, corpus, out_dir, src=args.src, tgt=args.tgt, device=device, max_pairs=args.max_pairs,
        batch_size=args.sense_topology_batch_size if only_topology else args.batch_size,
        sense_pool_temp=args.sense_pool_temp, do_topology=topology, do_procrustes=procrustes, do_mi=mi,
        do_viz=viz, viz_types_k=args.viz_types_k,
        mi_options={"hidden": args.jsd_k, "pca_dim": args.jsd_pca_dim, "n_shuffles": args.jsd_n_shuffles,
                    "seed": args.jsd_seed},
        leading_space=args.first_word_space)
    metrics["counts"]["alignment_source"] = args.alignments or args.aligner
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    artifacts["log"] = str(out_dir / "ablation.log")
    artifacts["alignments"] = str(out_dir / "alignments.txt")
    path = finish_output_dir(out_dir, identity, {"metrics": metrics, "artifacts": artifacts})
    logger.info("wrote %s", path)
    print(json.dumps({"out_dir": str(out_dir), **{k: v for k, v in metrics.items() if k != "counts"}}))
    return 0


if __name__ == "__main__":
    run_cli(main)
