"""FLORES-200 perplexity of a causal LM, with bits per byte and per character."""
from __future__ import annotations

import argparse

from langadapt.cli import make_parser, run_cli, setup_logging
from langadapt.errors import LangAdaptError
from langadapt.evaluation.flores import SPLITS, load_flores_sentences
from langadapt.evaluation.model_io import (add_model_arguments, check_model_arguments, context_length,
                                          load_model_for_eval, prefix_token_id)
from langadapt.languages import flores_tag, get_language
from langadapt.preflight import check_dataset_source


def parse_args(argv=None) -> argparse.Namespace:
    p = make_parser(__doc__)
    add_model_arguments(p)
    p.add_argument("--lang", required=True, help="FLORES tag (swh_Latn) or a 2/3-letter code")
    p.add_argument("--split", choices=SPLITS, default="devtest", help="FLORES split")
    p.add_argument("--dataset", default="openlanguagedata/flores_plus",
                   help="openlanguagedata/flores_plus (parquet; gated: accept its terms and log in), "
                        "facebook/flores (a loading script: only with datasets < 4), or a local "
                        "flores200_dataset folder ({split}/{lang}.{split}), saved dataset or parquet file")
    p.add_argument("--batch_size", type=int, default=64, help="sentences per forward pass")
    p.add_argument("--max_length", type=int, default=256, help="tokens kept per sentence (longer ones are cut)")
    p.add_argument("--prefix_token", action=argparse.BooleanOptionalAction, default=False,
                   help="prepend BOS/EOS so every sentence token is predicted (default: the first token is "
                        "context only, as in the original)")
    p.add_argument("--original_batch_weighting", action=argparse.BooleanOptionalAction, default=False,
                   help="report as `perplexity` the original's figure: each batch's mean loss weighted by the "
                        "batch's full token count, first tokens included (moves with --batch_size; the exact "
                        "figure stays in `exact_perplexity`)")
    p.add_argument("--limit", type=int, default=None, help="score only the first N sentences")
    p.add_argument("--output_file", default=None, help="results JSON")
    p.add_argument("--log_level", default="INFO")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from langadapt.evaluation.perplexity import corpus_perplexity  # torch: only once the flags have parsed
    from langadapt.evaluation.reporting import summary_line, write_results

    setup_logging(args.log_level)
    if args.batch_size < 1 or args.max_length < 2:
        raise LangAdaptError("--batch_size must be >= 1 and --max_length >= 2")
    get_language(args.lang, "--lang")
    device = check_model_arguments(args)
    check_dataset_source("--dataset", args.dataset, fix="pass a local flores200_dataset folder or parquet file")
    sentences = load_flores_sentences(args.dataset, args.lang, args.split, args.limit)
    model, tokenizer = load_model_for_eval(args.model_path, device, args.fp16, args.bf16)
    max_length = min(args.max_length, context_length(model, tokenizer))
    prefix = prefix_token_id(tokenizer) if args.prefix_token else None
    result = corpus_perplexity(model, tokenizer, sentences, max_length, args.batch_size, prefix,
                               original_weighting=args.original_batch_weighting).as_dict()
    original = result.pop("original_batch_perplexity")
    if original is not None:
        result.update(perplexity=original, exact_perplexity=result["perplexity"])
    results = {"task": "flores_ppl", "lang": flores_tag(args.lang), "split": args.split, "dataset": args.dataset,
               "model_path": args.model_path, "max_length": max_length, "prefix_token": args.prefix_token,
               "batch_weighting": "original" if original is not None else "exact", **result}
    write_results(results, args.output_file)
    print(summary_line(results))
    return 0


if __name__ == "__main__":
    run_cli(main)
