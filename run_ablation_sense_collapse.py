#!/usr/bin/env python
"""FLORES cross-entropy of a Backpack when it keeps all senses, only the top-k, or a uniform sense mixture.

Cross-entropy is averaged per predicted token over the whole split (--per-batch-ce: per batch, then over
batches, as the original). Variants (see README): full, topk (the original's: mean of the top-k sense
contributions), topk_scaled (their sum rescaled to the full output's norm), uniform (the original's: the
full output divided by K, a temperature change) and uniform_scaled (every sense the same weight, at the
full output's norm). Optional: the entropy of the
contribution-norm sense mixture (vs log K) and the mean cosine between a token's K sense vectors.
"""
from __future__ import annotations

import argparse
import json
import logging

from langadapt.cli import make_parser, run_cli, setup_logging

logger = logging.getLogger("sense_collapse")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__, raw_description=True)
    p.add_argument("--ckpt", required=True, help="hub id or local folder of the Backpack checkpoint")
    p.add_argument("--lang", default="swh_Latn", help="FLORES-200 language (swh_Latn, ind_Latn, est_Latn, tur_Latn)")
    p.add_argument("--split", default="devtest", choices=["dev", "devtest"], help="FLORES split")
    p.add_argument("--dataset", default="openlanguagedata/flores_plus",
                   help="FLORES source: hub id, a local flores200_dataset folder or a saved dataset")
    p.add_argument("--batch-size", type=int, default=8, help="sentences per forward")
    p.add_argument("--max-len", type=int, default=192, help="tokens kept per sentence (the rest is truncated)")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument("--ignore-index", type=int, default=-100,
                   help="label id excluded from the loss (accepted for pasted commands; padding is masked)")
    p.add_argument("--compute-entropy", action="store_true",
                   help="also report the mean entropy of the per-token sense mixture (vs log K)")
    p.add_argument("--compute-offcos", action="store_true",
                   help="also report the mean off-diagonal cosine between a token's K sense vectors")
    p.add_argument("--mixture-source", default="auto", choices=["auto", "contrib", "weights", "logits"],
                   help="where the sense mixture comes from; a Backpack exposes no separate sense weights or "
                        "logits, so every choice uses the contribution norms |alpha_k @ senses_k| (as the "
                        "original did in practice)")
    p.add_argument("--inference-tau", type=float, default=1.0,
                   help="temperature of the mixture: weights proportional to norm ** (1/tau); 1.0 = no change")
    p.add_argument("--inference-topk", type=int, default=1, help="senses kept per token in the top-k variants (1..K)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="accepted for pasted commands; hub code is never run (our own Backpack is used)")
    p.add_argument("--per-batch-ce", action="store_true",
                   help="average cross-entropy as the original did: each batch's per-token mean, then the mean "
                        "over batches (moves with --batch-size; default: per token over the split)")
    p.add_argument("--output-file", default=None, help="write the results JSON here (also printed on stdout)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    p.add_argument("--log-interval", type=int, default=0, help="if > 0, log running means every N batches")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    from langadapt.analysis.collapse import sense_collapse
    from langadapt.analysis.features import require_backpack
    from langadapt.errors import LangAdaptError
    from langadapt.evaluation.flores import load_flores_sentences
    from langadapt.evaluation.model_io import check_analysis_model, load_model_for_eval
    from langadapt.evaluation.reporting import write_results

    if args.batch_size < 1 or args.max_len < 2:
        raise LangAdaptError("--batch-size must be at least 1 and --max-len at least 2")
    if args.inference_tau <= 0:
        raise LangAdaptError(f"--inference-tau {args.inference_tau}: must be positive")
    if args.trust_remote_code:
        logger.info("--trust-remote-code: ignored; the checkpoint is loaded by langadapt's own Backpack, "
                    "no hub code is executed")
    if args.mixture_source in ("weights", "logits"):
        logger.warning("--mixture-source %s: a Backpack has no such output; using contribution norms",
                       args.mixture_source)
    check_analysis_model("--ckpt", args.ckpt)
    model, tokenizer = load_model_for_eval(args.ckpt, args.device, flag="--ckpt")
    require_backpack(model, f"--ckpt {args.ckpt}")
    senses = model.config.num_senses
    if not 1 <= args.inference_topk <= senses:
        raise LangAdaptError(f"--inference-topk {args.inference_topk}: must be within 1..{senses} "
                             f"(the model has {senses} senses)")
    sentences = load_flores_sentences(args.dataset, args.lang, args.split)
    results = sense_collapse(model, tokenizer, sentences, args.batch_size, args.max_len, args.inference_topk,
                             args.inference_tau, args.compute_entropy, args.compute_offcos,
                             log_interval=args.log_interval, logger=logger, per_batch_ce=args.per_batch_ce)
    results.update(ckpt=args.ckpt, lang=args.lang, split=args.split, inference_topk=args.inference_topk,
                   inference_tau=args.inference_tau, mixture_source="contrib")
    logger.info("=== FLORES %s %s: per-token cross-entropy ===", args.lang, args.split)
    for name in ("full", "topk", "topk_scaled", "uniform", "uniform_scaled"):
        logger.info("CE(%s) = %.4f", name, results[f"ce_{name}"])
    if args.compute_entropy:
        logger.info("sense mixture entropy = %.4f (log K = %.4f)", results["entropy_mean"], results["log_num_senses"])
    if args.compute_offcos:
        logger.info("off-diagonal sense cosine = %.4f", results["offdiag_cosine_mean"])
    write_results(results, args.output_file)
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    run_cli(main)
