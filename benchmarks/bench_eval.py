"""Throughput of run_eval's engines: XCOPA scoring (shared context vs full rows) and XQuAD generation.

Prints one JSON object: examples/s per task and engine, on a small random GPT-2 (CPU unless --device).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._eval_fixtures import build_model, expand_xcopa, expand_xquad  # noqa: E402
from langadapt.evaluation.model_io import load_model_for_eval  # noqa: E402
from langadapt.evaluation.runner import EvalConfig, run_evaluation  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--examples", type=int, default=400)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fp16", action="store_true")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    model, tokenizer = load_model_for_eval(build_model(work / "model"), args.device, args.fp16)
    xcopa = expand_xcopa(work / "xcopa.jsonl", args.examples)
    xquad = expand_xquad(work / "xquad.json", max(args.examples // 4, 8))
    figures = {"device": args.device, "batch_size": args.batch_size, "model": "gpt2 4x128 (random)"}
    for share in (True, False):
        config = EvalConfig(task="xcopa", lang="sw", data_path=xcopa, prompt_format="harness",
                            batch_size=args.batch_size, share_context=share, progress=False)
        run_evaluation(model, tokenizer, EvalConfig(**{**config.__dict__, "limit": args.batch_size}))  # warm-up
        results, _ = run_evaluation(model, tokenizer, config)
        figures[f"xcopa_{'shared_context' if share else 'full_rows'}_examples_per_s"] = results["examples_per_second"]
    config = EvalConfig(task="xquad", lang="hi", data_path=xquad, batch_size=args.batch_size, max_new_tokens=16,
                        progress=False)
    results, _ = run_evaluation(model, tokenizer, config)
    figures["xquad_generation_examples_per_s"] = results["examples_per_second"]
    figures["xquad_examples"] = results["n_examples"]
    figures["xcopa_examples"] = args.examples
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
