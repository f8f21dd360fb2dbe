"""run_clm's training throughput: tokens/s and MFU added to the Trainer's log lines and to metrics.jsonl.

The blocks are grouped text of `block_size` tokens (no padding), so every optimiser step trains
batch x accumulation x processes x block_size real tokens. The callback runs before the Trainer's printer
(which the Trainer adds last), so the rates it adds to `logs` show in the progress line too.
"""
from __future__ import annotations

from pathlib import Path

from ..run_folder import METRICS_FILE
from ..throughput import Throughput
from ..training import append_jsonl


def throughput_callback(model, training_args, block_size: int):
    from transformers import TrainerCallback

    rows = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps \
        * training_args.world_size
    precision = "bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "fp32"

    class ThroughputCallback(TrainerCallback):
        def __init__(self):
            self.meter, self.last_step = None, 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.meter = Throughput(model, args.device, precision, args.world_size)
            self.last_step = state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs is None:
                return
            if self.meter is not None and "loss" in logs:  # a training log line (not eval, not the summary)
                steps, self.last_step = state.global_step - self.last_step, state.global_step
                self.meter.add(steps * rows * block_size, steps * rows * block_size * block_size)
                logs.update(self.meter.report())
            if state.is_world_process_zero:
                kind = "train" if "loss" in logs else "eval" if any(k.startswith("eval_") for k in logs) else "final"
                append_jsonl(Path(args.output_dir) / METRICS_FILE, {"kind": kind, "step": state.global_step, **logs})

    return ThroughputCallback()
