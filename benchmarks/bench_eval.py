"""Throughput of run_eval's engines: XCOPA and Belebele scoring (shared context vs full rows), XQuAD generation.

Prints one JSON object: examples/s per task and engine, on a small random GPT-2 (CPU unless --device).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._eval_fixtures import (add_benchmark_arguments, expand_xcopa, expand_xquad,  # noqa: E402
                                       make_belebele, prepare)
from langadapt.evaluation.runner import EvalConfig, run_evaluation  # noqa: E402


def best_rate(model, tokenizer, config: EvalConfig, repeats: int) -> float:
    """Examples/s of the fastest of `repeats` runs (a shared machine's load only ever slows a run down)."""
    return max(run_evaluation(model, tokenizer, config)[0]["examples_per_second"] for _ in range(repeats))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    add_benchmark_arguments(p)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fp16", action="store_true")
    args = p.parse_args(argv)
    work, model, tokenizer, described = prepare(args, args.device, args.fp16)
    xcopa = expand_xcopa(work / "xcopa.jsonl", args.examples)
    xquad = expand_xquad(work / "xquad.json", max(args.examples // 4, 8))
    belebele = make_belebele(work / "belebele.jsonl", args.examples)
    figures = {"batch_size": args.batch_size, "model": described}
    for task, lang, data in (("xcopa", "sw", xcopa), ("belebele", "swh", belebele)):
        for share in (True, False):
            config = EvalConfig(task=task, lang=lang, data_path=data, batch_size=args.batch_size,
                                share_context=share, progress=False)
            run_evaluation(model, tokenizer, EvalConfig(**{**config.__dict__, "limit": args.batch_size}))  # warm-up
            figures[f"{task}_{'shared_context' if share else 'full_rows'}_examples_per_s"] = best_rate(
                model, tokenizer, config, args.repeats)
    config = EvalConfig(task="xquad", lang="hi", data_path=xquad, batch_size=args.batch_size, max_new_tokens=16,
                        progress=False)
    figures["xquad_generation_examples_per_s"] = best_rate(model, tokenizer, config, args.repeats)
    figures["xquad_examples"] = max(args.examples // 4, 8)
    figures["xcopa_examples"] = args.examples
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
