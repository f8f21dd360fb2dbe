#!/usr/bin/env python
"""Training throughput of run_clm's code path against a bare PyTorch loop on the same model and batches.

Both train the same small Backpack from the same initial weights on the same blocks (built by run_clm's
data pipeline), with the same optimiser work per step (AdamW, linear schedule, gradient clipping at 1.0).
Steps after a warm-up are timed, alternating the two paths `--repeats` times; the best of each is kept so
that noise from other work on the machine counts against neither. Prints one JSON object.
Target: run_clm within 10% of the bare loop (ratio >= 0.9).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from langadapt.clm.arguments import parse_clm_arguments
from langadapt.clm.runner import train_clm  # noqa: E402
from langadapt.clm.runner import prepare_blocks  # noqa: E402
from langadapt.models import load_causal_lm, load_tokenizer  # noqa: E402
from langadapt.toy_models import save_tiny_model, tiny_backpack_config, train_byte_bpe_tokenizer  # noqa: E402

TRAIN_TEXT = ROOT / "examples" / "data" / "english_train.txt"


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class StepClock(TrainerCallback):
    """Wall time at the end of every optimizer step."""

    def __init__(self, device: str):
        self.device, self.times = device, []

    def on_step_end(self, args, state, control, **kwargs):
        synchronize(self.device)
        self.times.append(time.perf_counter())


def tokens_per_second(times: list[float], warmup: int, tokens_per_step: int) -> float:
    timed = times[warmup:]
    return (len(timed) - 1) * tokens_per_step / (timed[-1] - timed[0])


def run_clm_path(argv: list[str], device: str, warmup: int, tokens_per_step: int) -> float:
    clock = StepClock(device)
    train_clm(*parse_clm_arguments(argv), callbacks=[clock])
    return tokens_per_second(clock.times, warmup, tokens_per_step)


def bare_loop(model_dir: str, batches: list[torch.Tensor], steps: int, lr: float, device: str, warmup: int,
              tokens_per_step: int, dtype) -> float:
    torch.manual_seed(0)
    model = load_causal_lm(model_dir).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    times = []
    for step in range(steps):
        batch = batches[step % len(batches)].to(device, non_blocking=True)
        with torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype is not None):
            loss = model(batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize(device)
        times.append(time.perf_counter())
    return tokens_per_second(times, warmup, tokens_per_step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--block_size", type=int, default=128)
    parser.add_argument("--n_embd", type=int, default=128)
    parser.add_argument("--n_layer", type=int, default=4)
    parser.add_argument("--num_senses", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast in both paths (GPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"

    work = Path(tempfile.mkdtemp(prefix="bench_clm_"))
    lines = TRAIN_TEXT.read_text(encoding="utf-8").splitlines()
    tokenizer = train_byte_bpe_tokenizer(lines, vocab_size=2048)
    config = tiny_backpack_config(len(tokenizer), n_positions=args.block_size, n_embd=args.n_embd,
                                  n_layer=args.n_layer, n_head=4, num_senses=args.num_senses)
    model_dir = save_tiny_model(config, tokenizer, work / "model")
    # enough text for every step to see a new block, as a real pretraining run would
    corpus = work / "train.txt"
    corpus.write_text("\n".join(lines * max(1, args.steps * args.batch_size * args.block_size // 12000 + 1)) + "\n")

    lr = 1e-4
    argv = ["--model_name_or_path", model_dir, "--train_file", str(corpus), "--do_train", "--max_steps",
            str(args.steps), "--block_size", str(args.block_size), "--per_device_train_batch_size",
            str(args.batch_size), "--learning_rate", str(lr), "--lr_scheduler_type", "linear", "--report_to", "none",
            "--save_strategy", "no", "--logging_steps", str(args.steps), "--disable_tqdm", "true", "--seed", "0",
            "--overwrite_output_dir", "--output_dir", str(work / "out"), "--dataloader_pin_memory",
            str(device == "cuda").lower()]
    if args.bf16:
        argv.append("--bf16")
    model_args, data_args, training_args = parse_clm_arguments(argv)
    train_blocks, _ = prepare_blocks(data_args, training_args, load_tokenizer(model_dir), args.block_size)
    ids = torch.tensor(train_blocks["input_ids"][: args.steps * args.batch_size])
    batches = list(ids.split(args.batch_size))
    tokens_per_step = args.batch_size * args.block_size

    trainer_runs, bare_runs = [], []
    for _ in range(args.repeats):
        bare_runs.append(bare_loop(model_dir, batches, args.steps, lr, device, args.warmup, tokens_per_step,
                                   torch.bfloat16 if args.bf16 else None))
        trainer_runs.append(run_clm_path(argv, device, args.warmup, tokens_per_step))
    best_trainer, best_bare = max(trainer_runs), max(bare_runs)
    print(json.dumps({
        "benchmark": "run_clm training throughput vs bare PyTorch loop",
        "device": torch.cuda.get_device_name() if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "model": {"n_embd": args.n_embd, "n_layer": args.n_layer, "num_senses": args.num_senses,
                  "vocab_size": len(tokenizer), "parameters": sum(p.numel() for p in load_causal_lm(model_dir).parameters())},
        "batch_size": args.batch_size, "block_size": args.block_size, "timed_steps": args.steps - args.warmup - 1,
        "bf16": args.bf16,
        "run_clm_tokens_per_s": round(best_trainer, 1), "bare_loop_tokens_per_s": round(best_bare, 1),
        "run_clm_runs": [round(x, 1) for x in trainer_runs], "bare_loop_runs": [round(x, 1) for x in bare_runs],
        "ratio": round(best_trainer / best_bare, 4), "target_ratio": 0.9,
        "within_target": best_trainer / best_bare >= 0.9,
    }, indent=2))


if __name__ == "__main__":
    main()
