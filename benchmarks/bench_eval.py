"""Throughput of run_eval's engines: XCOPA and Belebele scoring (shared context vs full rows), XQuAD generation.

Prints one JSON object: examples/s per task and engine, on a small random GPT-2 (CPU unless --device).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._eval_fixtures import build_model, expand_xcopa, expand_xquad, make_belebele  # noqa: E402
from langadapt.evaluation.model_io import load_model_for_eval  # noqa: E402
from langadapt.evaluation.runner import EvalConfig, run_evaluation  # noqa: E402


def best_rate(model, tokenizer, config: EvalConfig, repeats: int) -> float:
    """Examples/s of the fastest of `repeats` runs (a shared machine's load only ever slows a run down)."""
    return max(run_evaluation(model, tokenizer, config)[0]["examples_per_second"] for _ in range(repeats))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--examples", type=int, default=400)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--device", default="cpu")
    p.add_argument("--fp16", action="store_true")
    p.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the fastest counts")
    p.add_argument("--n_embd", type=int, default=32, help="model width (32 x 2 layers: the tests' tiny model)")
    p.add_argument("--n_layer", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 keeps a shared machine's noise low)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    model_dir = build_model(work / "model", n_embd=args.n_embd, n_layer=args.n_layer)
    model, tokenizer = load_model_for_eval(model_dir, args.device, args.fp16)
    xcopa = expand_xcopa(work / "xcopa.jsonl", args.examples)
    xquad = expand_xquad(work / "xquad.json", max(args.examples // 4, 8))
    figures = {"device": args.device, "batch_size": args.batch_size, "model": f"gpt2 {args.n_layer}x{args.n_embd} (random), {args.threads} thread(s)"}
    belebele = make_belebele(work / "belebele.jsonl", args.examples)
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
