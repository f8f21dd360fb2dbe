#!/usr/bin/env python
"""Throughput of one sense-adaptation training step, and how much of it is not the model.

A step is: collate a batch of tokenised pairs, two Backpack forwards (source, target with LM labels)
returning per-sense contributions, sense pooling + last-token vectors + two InfoNCE + LM loss, backward,
gradient clipping and the AdamW step. The figure that matters is the share of the step spent outside the
model's forward and backward passes (target: under 10%): the adaptation code must not be the bottleneck.
Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from langadapt.sense_adaptation.losses import LossSchedule  # noqa: E402
from langadapt.backpack import BackpackGPT2Config, BackpackGPT2LMHeadModel  # noqa: E402
from langadapt.sense_adaptation.data import PairCollator  # noqa: E402
from langadapt.sense_adaptation.trainer import StepSettings, adaptation_step  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class TimedModel:
    """Calls the model and adds the wall time of each forward to `seconds`."""

    def __init__(self, model, device):
        self.model, self.device, self.seconds = model, device, 0.0

    def __call__(self, **kwargs):
        synchronize(self.device)
        start = time.perf_counter()
        out = self.model(**kwargs)
        synchronize(self.device)
        self.seconds += time.perf_counter() - start
        return out


def random_rows(count: int, vocab: int, max_length: int, rng: random.Random) -> list[dict[str, list[int]]]:
    def sentence():
        return [rng.randrange(1, vocab) for _ in range(rng.randint(max_length // 2, max_length))]

    return [{"input_ids_src": sentence(), "input_ids_tgt": sentence()} for _ in range(count)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--n_embd", type=int, default=256)
    p.add_argument("--n_layer", type=int, default=4)
    p.add_argument("--n_head", type=int, default=4)
    p.add_argument("--num_senses", type=int, default=16)
    p.add_argument("--vocab_size", type=int, default=8192)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--max_length", type=int, default=64)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup_steps", type=int, default=2)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast")
    args = p.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    config = BackpackGPT2Config(vocab_size=args.vocab_size, n_positions=max(args.max_length, 128), n_embd=args.n_embd,
                                n_layer=args.n_layer, n_head=args.n_head, num_senses=args.num_senses)
    model = BackpackGPT2LMHeadModel(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)  # as in the trainer
    collate = PairCollator(pad_id=0)
    settings = StepSettings(sense_pool_temp=0.7, normalize_context=True, normalize_senses=True, symmetric=True,
                            use_lm=True, label_smoothing=0.05)
    schedule = LossSchedule()
    rng = random.Random(0)
    timed = TimedModel(model, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    step_seconds = forward_seconds = backward_seconds = 0.0
    for step in range(1, args.warmup_steps + args.steps + 1):
        rows = random_rows(args.batch_size, args.vocab_size, args.max_length, rng)
        synchronize(device)
        start = time.perf_counter()
        timed.seconds = 0.0
        batch = {k: v.to(device, non_blocking=True) for k, v in collate(rows).items()}
        with autocast:
            losses = adaptation_step(timed, batch, schedule.at(step, args.steps), settings)
        synchronize(device)
        backward_start = time.perf_counter()
        losses.total.backward()
        synchronize(device)
        backward = time.perf_counter() - backward_start
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize(device)
        if step > args.warmup_steps:
            step_seconds += time.perf_counter() - start
            forward_seconds += timed.seconds
            backward_seconds += backward

    outside = step_seconds - forward_seconds - backward_seconds
    print(json.dumps({
        "benchmark": "sense_adaptation_step", "device": str(device), "bf16": args.bf16,
        "model": {"n_embd": args.n_embd, "n_layer": args.n_layer, "num_senses": args.num_senses,
                  "vocab_size": args.vocab_size, "parameters": sum(p.numel() for p in model.parameters())},
        "batch_size": args.batch_size, "max_length": args.max_length, "steps_timed": args.steps,
        "steps_per_second": round(args.steps / step_seconds, 3),
        "pairs_per_second": round(args.steps * args.batch_size / step_seconds, 1),
        "ms_per_step": round(1000 * step_seconds / args.steps, 2),
        "model_forward_ms": round(1000 * forward_seconds / args.steps, 2),
        "model_backward_ms": round(1000 * backward_seconds / args.steps, 2),
        "outside_model_ms": round(1000 * outside / args.steps, 2),
        "outside_model_share": round(outside / step_seconds, 4),
        "target_outside_model_share": 0.10,
    }, sort_keys=True))


if __name__ == "__main__":
    main()
