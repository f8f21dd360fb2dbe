"""Parity and speed of `run_eval --prompt_format harness` against lm-evaluation-harness 0.4 on XCOPA.

Both run the same small local GPT-2 on the same local XCOPA rows (the harness through a task config that
reads the JSONL file and uses the harness's own xcopa prompt functions), CPU, same batch size.
Prints one JSON object: accuracies, the largest per-option log-likelihood difference, examples/s of each
(end to end: data loading, prompts, scoring, metrics; best of alternating repeats) and the speed ratio.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._eval_fixtures import build_model, expand_xcopa  # noqa: E402
from langadapt.evaluation.model_io import load_model_for_eval  # noqa: E402
from langadapt.evaluation.runner import EvalConfig, run_evaluation  # noqa: E402


def harness_xcopa_utils():
    """The harness's own xcopa prompt functions (its task folder is not an importable package)."""
    import lm_eval

    path = Path(lm_eval.__file__).parent / "tasks" / "xcopa" / "utils.py"
    spec = importlib.util.spec_from_file_location("harness_xcopa_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_harness(model, tokenizer, data_file: str, batch_size: int) -> tuple[list[dict], float, float]:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM

    utils = harness_xcopa_utils()
    task = {"task": "xcopa_sw_local", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": data_file}},
            "test_split": "test", "output_type": "multiple_choice", "doc_to_text": utils.doc_to_text_sw,
            "doc_to_target": "label", "doc_to_choice": utils.doc_to_choice, "metric_list": [{"metric": "acc"}]}
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, device="cpu")
    start = time.perf_counter()
    out = simple_evaluate(model=lm, tasks=[task], log_samples=True, bootstrap_iters=0)
    seconds = time.perf_counter() - start
    samples = sorted(out["samples"]["xcopa_sw_local"], key=lambda s: s["doc_id"])
    return samples, out["results"]["xcopa_sw_local"]["acc,none"], seconds


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--examples", type=int, default=400)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="alternating runs of each; the fastest counts")
    p.add_argument("--n_embd", type=int, default=32, help="model width (32 x 2 layers: the tests' tiny model)")
    p.add_argument("--n_layer", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 keeps a shared machine's noise low)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="harness-parity-"))
    model_dir = build_model(work / "model", n_embd=args.n_embd, n_layer=args.n_layer)
    data = expand_xcopa(work / "xcopa.jsonl", args.examples)
    model, tokenizer = load_model_for_eval(model_dir, "cpu")

    config = EvalConfig(task="xcopa", lang="sw", split="test", data_path=data, prompt_format="harness",
                        batch_size=args.batch_size, progress=False)
    run_evaluation(model, tokenizer, EvalConfig(**{**config.__dict__, "limit": args.batch_size}))  # warm-up
    our_seconds, harness_seconds = [], []
    for _ in range(args.repeats):  # alternate, so both see the same load on a shared machine
        ours, our_samples = run_evaluation(model, tokenizer, config)
        our_seconds.append(ours["seconds"])
        harness_samples, harness_acc, seconds = run_harness(model, tokenizer, data, args.batch_size)
        harness_seconds.append(seconds)

    max_diff, same_prediction = 0.0, 0
    for mine, theirs in zip(our_samples, harness_samples):
        their_ll = [resp[0][0] for resp in theirs["resps"]]
        max_diff = max(max_diff, *(abs(a - b) for a, b in zip(mine["loglikelihoods"], their_ll)))
        same_prediction += mine["pred"] == max(range(len(their_ll)), key=their_ll.__getitem__)
    our_rate, harness_rate = args.examples / min(our_seconds), args.examples / min(harness_seconds)
    print(json.dumps({
        "examples": args.examples, "batch_size": args.batch_size, "model": f"gpt2 {args.n_layer}x{args.n_embd} (random), CPU, {args.threads} thread(s)",
        "acc_ours": ours["metrics"]["acc"], "acc_harness": harness_acc,
        "same_prediction_share": same_prediction / len(our_samples),
        "max_abs_loglikelihood_diff": max_diff,
        "examples_per_s_ours": our_rate, "examples_per_s_harness": harness_rate, "speedup": our_rate / harness_rate,
        "repeats": args.repeats,
    }))


if __name__ == "__main__":
    main()
