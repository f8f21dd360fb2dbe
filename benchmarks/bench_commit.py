#!/usr/bin/env python
"""COMMIT training throughput with forgetful causal masking on vs off; prints JSON.

Runs the real training loop (`langadapt.commit.loop.train`) on a small Llama (hidden 256, 4 layers) over
the bundled Alpaca sample with the bundled en-hi dictionary, once with `--fcm_max_ratio 0.1` and once
with 0 (runs interleaved, best of `--repeats`). On CPU, tokens/s are per CPU second of this process:
a run of `--steps` steps minus a run of one step (start-up and the first step cancel out), so that other
work on a shared machine, which moves wall-clock figures by +-30% there, barely affects them. `--threads`
(default 1) keeps torch from oversubscribing such a machine, where a stalled thread stalls every op.
Target: FCM costs at most 15% tokens/s. On a GPU (`--device cuda` via CUDA_VISIBLE_DEVICES) the same
script measures the fused-attention case: SDPA with a boolean mask instead of its causal fast path.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_model(folder: Path, seq_length: int) -> str:
    from langadapt.toy_models import save_tiny_model, tiny_llama_config, train_byte_bpe_tokenizer

    records = json.loads((ROOT / "examples/data/alpaca_sample.json").read_text(encoding="utf-8"))
    texts = [r["instruction"] + " " + r["input"] + " " + r["output"] for r in records]
    tokenizer = train_byte_bpe_tokenizer(texts * 4, vocab_size=2000)
    config = tiny_llama_config(len(tokenizer), max_position_embeddings=seq_length, hidden_size=256,
                               intermediate_size=688, num_hidden_layers=4, num_attention_heads=8,
                               num_key_value_heads=8)
    return save_tiny_model(config, tokenizer, folder)


def train_seconds(model: str, out: Path, fcm: float, steps: int, args) -> float:
    """CPU seconds of a training run on CPU; wall-clock seconds on a GPU, where the CPU mostly waits."""
    import torch

    from langadapt.commit.args import parse_args
    from langadapt.commit.loop import train

    clock = time.perf_counter if torch.cuda.is_available() else time.process_time
    started = clock()
    train(parse_args([
        "--model_name_or_path", model, "--dataset_name", str(ROOT / "examples/data/alpaca_sample.json"),
        "--codemix_dict_path", str(ROOT / "dicts/sample/en-hi.txt"), "--seq_length", str(args.seq_length),
        "--batch_size", str(args.batch_size), "--total_steps", str(steps), "--save_steps", "0",
        "--log_steps", str(steps), "--fcm_max_ratio", str(fcm), "--output_dir", str(out),
        "--overwrite_output_dir", "--log_level", "WARNING"]))
    return clock() - started


def tokens_per_second(model: str, out: Path, fcm: float, args) -> float:
    seconds = train_seconds(model, out, fcm, args.steps, args) - train_seconds(model, out, fcm, 1, args)
    return args.batch_size * args.seq_length * (args.steps - 1) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seq_length", type=int, default=512)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be at least 2: the first step is left out of the timing")
    import torch

    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        model = build_model(Path(tmp) / "model", args.seq_length)
        speeds = {"off": [], "on": []}
        for _ in range(args.repeats):
            for label, fcm in (("off", 0.0), ("on", 0.1)):
                speeds[label].append(tokens_per_second(model, Path(tmp) / f"run-{label}", fcm, args))
    best = {label: max(values) for label, values in speeds.items()}
    print(json.dumps({
        "device": "cuda" if torch.cuda.is_available() else "cpu", "threads": torch.get_num_threads(),
        "timer": "wall clock" if torch.cuda.is_available() else "process CPU time",
        "seq_length": args.seq_length, "batch_size": args.batch_size, "steps": args.steps,
        "tokens_per_second_fcm_off": round(best["off"], 1), "tokens_per_second_fcm_on": round(best["on"], 1),
        "fcm_throughput_cost": round(1 - best["on"] / best["off"], 4), "target_cost": 0.15,
        "load_average_1min": round(os.getloadavg()[0], 2)}, sort_keys=True))


if __name__ == "__main__":
    main()
