#!/usr/bin/env python
"""What does sense k of a word mean, and how did it move when the model was adapted?

For each word (--words, or both sides of the most frequent aligned word pairs of a FLORES split), each
sense's top and bottom tokens through the output embedding; with --compare BASE_MODEL, the same for the
base model beside it and each sense's cosine to its old self, ranked by how far it moved. A word is read
from the tokens the model sees: --words as inside a sentence (" word"), aligned FLORES words as they occur
(case kept; a sentence's first word without the leading space). Writes senses.md (for people), senses.json
and metrics.json into --out_dir.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging

from langadapt.cli import make_parser, run_cli, setup_logging

logger = logging.getLogger("inspect_senses")


def build_parser() -> argparse.ArgumentParser:
    p = make_parser(__doc__, raw_description=True)
    p.add_argument("--model", required=True, help="hub id or folder of the (adapted) Backpack")
    p.add_argument("--compare", default=None, metavar="BASE_MODEL",
                   help="hub id or folder of the base Backpack to compare each sense with")
    p.add_argument("--words", nargs="+", default=None, help="words to inspect (default: from FLORES alignments)")
    p.add_argument("--src", default=None, help="source language of the FLORES pairs (with --tgt, without --words)")
    p.add_argument("--tgt", default=None, help="target language of the FLORES pairs")
    p.add_argument("--split", default="devtest", choices=["dev", "devtest", "test"], help="FLORES split")
    p.add_argument("--dataset", default="openlanguagedata/flores_plus",
                   help="FLORES source: hub id, local flores200_dataset folder or saved dataset")
    p.add_argument("--aligner", default="simalign", choices=["simalign", "eflomal"], help="word aligner")
    p.add_argument("--alignments", default=None, help="Pharaoh alignment file instead of an aligner")
    p.add_argument("--top_pairs", type=int, default=10, help="how many frequent aligned word pairs to inspect")
    p.add_argument("--top_tokens", type=int, default=8, help="tokens shown per sense (top and bottom)")
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda when available)")
    p.add_argument("--out_dir", required=True, help="output folder (refused if it holds another run's results)")
    p.add_argument("--log_level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    return p


def choose_words(args, device) -> list[str]:
    from langadapt.analysis.alignment import align_corpus, build_aligner
    from langadapt.analysis.suite import frequent_types, load_parallel_flores
    from langadapt.errors import LangAdaptError

    if args.words:
        return list(dict.fromkeys(" " + word.strip() for word in args.words))  # read as inside a sentence
    if not (args.src and args.tgt):
        raise LangAdaptError("give --words, or --src and --tgt to take the most frequent aligned FLORES word pairs")
    src, tgt = load_parallel_flores(args.dataset, args.src, args.tgt, args.split)
    aligner = None if args.alignments else build_aligner(args.aligner, str(device))
    pairs = frequent_types(align_corpus(src, tgt, aligner, args.alignments), args.top_pairs, as_seen=True)
    if not pairs:
        raise LangAdaptError(f"no alphabetic aligned word pairs in the {len(src)} sentences read")
    logger.info("inspecting the %d most frequent aligned pairs: %s", len(pairs), pairs)
    return list(dict.fromkeys(w for pair in pairs for w in pair))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    from langadapt.analysis.features import require_backpack
    from langadapt.analysis.inspection import inspect_words, markdown_report
    from langadapt.analysis.outputs import claim_output_dir, finish_output_dir
    from langadapt.errors import LangAdaptError
    from langadapt.evaluation.model_io import check_analysis_model, load_model_for_eval, resolve_device
    from langadapt.training import write_json_atomic

    if args.top_tokens < 1 or args.top_pairs < 1:
        raise LangAdaptError("--top_tokens and --top_pairs must be at least 1")
    empty = [word for word in args.words or [] if not word.strip()]
    if empty:
        raise LangAdaptError(f"--words {empty[0]!r}: an empty word has no tokens of its own (it would read the "
                             f"space token); give words with letters")
    check_analysis_model("--model", args.model)
    if args.compare:
        check_analysis_model("--compare", args.compare)
    identity = {"script": "inspect_senses", "model": args.model, "compare": args.compare}
    out_dir = claim_output_dir(args.out_dir, identity)
    device = resolve_device(args.device)
    model, tokenizer = load_model_for_eval(args.model, str(device), flag="--model")
    require_backpack(model, f"--model {args.model}")
    base = base_tokenizer = None
    if args.compare:
        base, base_tokenizer = load_model_for_eval(args.compare, str(device), flag="--compare")
        require_backpack(base, f"--compare {args.compare}")
    words = choose_words(args, device)
    readings = inspect_words(model, tokenizer, words, args.top_tokens, base, base_tokenizer)
    source = f"the most frequent aligned word pairs of FLORES {args.src}-{args.tgt} {args.split}" if not args.words \
        else "the words given"
    intro = (f"Model: `{args.model}`" + (f", compared with the base model `{args.compare}`" if args.compare else "")
             + f". Words: {source}. Each sense vector is read through the output embedding: its top tokens are "
               "what it makes more likely wherever it is used, its bottom tokens what it makes less likely.")
    (out_dir / "senses.md.tmp").write_text(markdown_report(readings, "Backpack senses", intro), encoding="utf-8")
    (out_dir / "senses.md.tmp").replace(out_dir / "senses.md")
    write_json_atomic(out_dir / "senses.json", [dict(dataclasses.asdict(r), moved=r.moved) for r in readings])
    summary = {"words": len(words), "senses": len(readings)}
    if args.compare:
        moved = sorted(readings, key=lambda r: -r.moved)
        summary.update(mean_cosine_to_base=sum(r.cosine_to_base for r in readings) / len(readings),
                       most_moved=[{"word": r.word, "sense": r.sense, "cosine_to_base": r.cosine_to_base}
                                   for r in moved[:5]])
    finish_output_dir(out_dir, identity, {"metrics": summary, "artifacts": {
        "report": str(out_dir / "senses.md"), "readings": str(out_dir / "senses.json")}})
    print(json.dumps({"out_dir": str(out_dir), **summary}))
    return 0


if __name__ == "__main__":
    run_cli(main)
