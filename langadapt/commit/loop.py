"""The COMMIT training loop: Accelerate data parallelism, exact resume, final HF checkpoint.

Runs unchanged in one process, under `torchrun --nproc_per_node N` / `accelerate launch` (DDP) and under
SLURM `srun`; `--fsdp` shards the model over the processes instead (FSDP2) for 7B-class models, and saves
gathered full weights plus one optimiser shard per process (see the README's "GPUs and clusters").
`--batch_size` counts rows over all processes per micro-step, as EasyLM's global batch; each process packs
its own shard of the examples. As in EasyLM (optax.MultiSteps), a step is one batch: with
`--gradient_accumulation_steps k` the optimiser and the lr schedule advance every k steps. A checkpoint
holds the weights, optimiser, schedule, loss scaler, and, for every process, its RNG streams (dropout,
FCM) and data position, so a resumed run is bit-identical to an uninterrupted one on the same hardware
and process count.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import time
from pathlib import Path
from typing import Any, Optional

import torch
from ..progress import progress_bar

from ..distributed import (build_accelerator, full_model_state_dict, load_local_optimizer_state,
                           local_optimizer_state, shard_model)
from ..errors import LangAdaptError
from ..preflight import has_accelerator, usable_precision
from ..run_folder import METRICS_FILE, RunFolder, RunInterrupted, check_separate, stop_requested, watch
from ..throughput import Throughput, rate_postfix
from ..training import (COMPLETE_MARKER, CheckpointManager, append_jsonl, capture_rng_state, check_finite,
                        init_wandb, restore_rng_state, save_final_model, set_seed, write_json_atomic)
from .args import check_commit_sources
from .fcm import ForgetfulCausalMask
from .optim import build_optimizer, build_scheduler, masked_row_mean_loss
from .setup import build_mixer, build_stream, load_training_model, load_training_tokenizer

logger = logging.getLogger(__name__)

RESULTS_FILE = "train_results.json"
# Settings a resume may change: they decide what is logged and kept, not what a step computes.
MAY_CHANGE_ON_RESUME = ("output_dir", "overwrite_output_dir", "resume_from_checkpoint", "save_steps",
                        "save_total_limit", "log_steps", "report_to", "run_name", "log_level")


def _accelerator(args: argparse.Namespace):
    if args.fsdp:  # FSDP's mixed-precision policy casts (shard_model), not Accelerate's autocast
        return build_accelerator("no")
    asked = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
    return build_accelerator(usable_precision(asked, f"--{asked}", on_cpu=not has_accelerator()))


def _run_folder(args: argparse.Namespace, world_size: int, manager: CheckpointManager) -> RunFolder:
    """The output folder checked and its start decided, before the model and data load."""
    check_separate({"--output_dir": args.output_dir},
                   {"--model_name_or_path": args.model_name_or_path, "--tokenizer_name": args.tokenizer_name,
                    "--dataset_name": args.dataset_name, "--codemix_dict_path": args.codemix_dict_path})
    settings = {**vars(args), "world_size": world_size}
    folder = RunFolder(args.output_dir, flag="--output_dir", script="commit_train.py", settings=settings,
                       defining=[key for key in settings if key not in MAY_CHANGE_ON_RESUME])
    explicit = args.resume_from_checkpoint if args.resume_from_checkpoint not in (None, "latest") else None
    if explicit and not (Path(explicit) / COMPLETE_MARKER).is_file():
        raise LangAdaptError(f"--resume_from_checkpoint: {explicit} is not a complete checkpoint folder")
    folder.plan(overwrite=args.overwrite_output_dir, resume=bool(args.resume_from_checkpoint), explicit=explicit,
                latest=manager.latest, checkpoint_step=CheckpointManager.step_of)
    return folder


def _save_final(model, tokenizer, output_dir: Path, original_config: dict[str, Any], weights=None) -> None:
    """The final model with the dropout settings changed for training restored in its config."""
    changed = {name: getattr(model.config, name) for name in original_config}
    for name, value in original_config.items():
        setattr(model.config, name, value)
    try:
        save_final_model(model, tokenizer, output_dir, state_dict=weights)
    finally:
        for name, value in changed.items():
            setattr(model.config, name, value)


def train(args: argparse.Namespace) -> dict[str, Any]:
    """Run (or resume) a COMMIT stage; returns the final metrics."""
    check_commit_sources(args)
    accelerator = _accelerator(args)
    rank, world_size = accelerator.process_index, accelerator.num_processes
    if args.batch_size % world_size:
        raise LangAdaptError(f"--batch_size {args.batch_size} must be divisible by the number of processes "
                             f"({world_size})")
    rows = args.batch_size // world_size
    output_dir = Path(args.output_dir)
    manager = CheckpointManager(output_dir / "checkpoints", max_keep=args.save_total_limit)
    folder = _run_folder(args, world_size, manager)
    if folder.start.action == "complete":
        return {"step": folder.start.step, "complete": True}
    resume_from = folder.start.checkpoint

    set_seed(args.seed)
    mixer = build_mixer(args)  # a bad dictionary line fails before the model loads
    tokenizer = load_training_tokenizer(args)
    stream = build_stream(args, tokenizer, rank, world_size, mixer)  # bad data fails before the model loads
    stream.check_holds_a_batch(rows)
    model, original_config = load_training_model(args)
    fcm = ForgetfulCausalMask(args.fcm_min_ratio, args.fcm_max_ratio, model.config._attn_implementation)
    if accelerator.is_main_process:
        folder.prepare(args.overwrite_output_dir)
    accelerator.wait_for_everyone()
    watch(folder, saves_on_sigterm=True)

    step, wandb_id, state = 0, None, None
    if resume_from is not None:
        state = CheckpointManager.load_training_state(resume_from)
        CheckpointManager.load_weights(resume_from, model)
        step, wandb_id = int(state["step"]), state.get("wandb_id")
        folder.step, folder.last_checkpoint = step, resume_from
    sharded = args.fsdp and world_size > 1
    if args.fsdp and not sharded:
        logger.info("--fsdp with one process: nothing to shard, training a plain replica")
    if sharded:  # the optimiser must hold the sharded parameters it steps
        model = shard_model(model, accelerator.device.type, torch.bfloat16 if args.bf16 else None)
    optimizer = build_optimizer(model, args.lr, args.b1, args.b2, args.weight_decay, args.bf16_momentum)
    scheduler = build_scheduler(optimizer, args.lr, args.init_lr, args.end_lr, args.warmup_steps,
                                args.lr_decay_steps)
    if not sharded:
        model, optimizer = accelerator.prepare(model, optimizer)
    if state is not None:
        if sharded:
            load_local_optimizer_state(optimizer, CheckpointManager.load_process_state(resume_from, rank)["optimizer"])
        else:
            optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if accelerator.scaler is not None and "scaler" in state:
            accelerator.scaler.load_state_dict(state["scaler"])
        own = state["ranks"][rank]
        stream.load_state_dict(own["data"])
        restore_rng_state(own["rng"])
        logger.info("resumed from %s at step %d", resume_from, step)
    else:
        set_seed(args.seed + rank)  # each process its own dropout / FCM draws

    log_path = output_dir / METRICS_FILE
    run = init_wandb(args.report_to == "wandb" and accelerator.is_main_process, None, args.run_name,
                     vars(args), resume_id=wandb_id)
    tokens_per_step = args.batch_size * args.seq_length
    accumulate = args.gradient_accumulation_steps
    stage = "code-mixed alignment" if args.mode == "text" else "instruction tuning"
    progress = progress_bar(total=args.total_steps, initial=step, desc=stage, unit="step",
                            disable=not accelerator.is_main_process)
    started, loss, grad_norm = time.perf_counter(), float("nan"), None
    # packed rows: every position is a real token; the peak is the one the step's matmuls run at
    throughput = Throughput(accelerator.unwrap_model(model), accelerator.device,
                            "bf16" if args.bf16 else "fp16" if args.fp16 else "fp32", world_size)
    shown_rates: dict = {}
    step_loss = torch.zeros((), device=accelerator.device)
    while step < args.total_steps:
        model.train()
        batch = {k: v.to(accelerator.device) for k, v in stream.next_rows(rows).items()}
        attention_mask = fcm(batch["input_ids"], training=model.training)
        # FSDP reduce-scatters every micro-step: deferring it would hold full unsharded gradients
        update = (step + 1) % accumulate == 0
        with (accelerator.no_sync(model) if not update and not sharded else contextlib.nullcontext()):
            logits = model(input_ids=batch["input_ids"], attention_mask=attention_mask, use_cache=False).logits
            micro_loss = masked_row_mean_loss(logits, batch["targets"], batch["loss_mask"])
            accelerator.backward(micro_loss / accumulate)
        step_loss += micro_loss.detach() / accumulate
        step += 1
        throughput.add(tokens_per_step, tokens_per_step * args.seq_length)
        folder.step = step
        if update:
            step_loss = accelerator.reduce(step_loss, reduction="mean")
            check_finite(step_loss, step, folder.last_checkpoint)
            grad_norm = _clip_gradients(accelerator, model, args.clip_grad_norm, sharded) \
                if args.clip_grad_norm > 0 else None
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss, step_loss = step_loss.item(), torch.zeros((), device=accelerator.device)
        if step % args.log_steps == 0 or step == args.total_steps:
            rates = throughput.report()  # since the last log line
            shown_rates = rate_postfix(rates)
            record = {"kind": "train", "step": step, "loss": loss, "lr": scheduler.get_last_lr()[0],
                      "grad_norm": float(grad_norm) if grad_norm is not None else None, **rates}
            if accelerator.is_main_process:
                append_jsonl(log_path, record)
                if run is not None:
                    run.log(record, step=step)
        progress.set_postfix(loss=f"{loss:.4f}", **shown_rates)
        progress.update(1)
        stopping = update and stop_requested()  # a checkpoint holds no half-accumulated gradients
        if (args.save_steps > 0 and (step % args.save_steps == 0 or step == args.total_steps)) or stopping:
            folder.last_checkpoint = _save_checkpoint(accelerator, manager, model, optimizer, scheduler, stream,
                                                      tokenizer, args, step, run, sharded)
        if stopping:
            raise RunInterrupted(signal.SIGTERM)
    progress.close()

    stats = _codemix_stats(accelerator, stream)
    results = {"step": step, "final_loss": loss, "codemix": stats,
               "train_tokens": tokens_per_step * step, "seconds_this_run": time.perf_counter() - started}
    weights = full_model_state_dict(model) if sharded else None  # a collective: every process gathers
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _save_final(accelerator.unwrap_model(model), tokenizer, output_dir, original_config, weights)
        write_json_atomic(output_dir / RESULTS_FILE, results)
        append_jsonl(log_path, {"kind": "final", **results})
        folder.complete(step)
    accelerator.wait_for_everyone()
    if run is not None:
        run.finish()
    accelerator.end_training()
    return results


def _clip_gradients(accelerator, model, max_norm: float, sharded: bool) -> torch.Tensor:
    if sharded:  # torch's clip reduces the norm over all shards (a DTensor); Accelerate's expects a replica
        return torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm).full_tensor()
    return accelerator.clip_grad_norm_(model.parameters(), max_norm)


def _save_checkpoint(accelerator, manager, model, optimizer, scheduler, stream, tokenizer, args, step, run,
                     sharded):
    """Every process takes part (gathers are collectives); the main process writes and renames the folder.

    Sharded: full weights gathered into the safetensors, and each process's optimiser shard in its own file
    (a 7B AdamW state is 56 GB: no process holds all of it).
    """
    from accelerate.utils import gather_object

    own = {"rng": capture_rng_state(), "data": stream.state_dict()}
    ranks = gather_object([own])
    weights = full_model_state_dict(model) if sharded else None
    if accelerator.is_main_process:
        manager.start(step)
    accelerator.wait_for_everyone()
    if sharded:
        manager.save_process_state(step, accelerator.process_index, {"optimizer": local_optimizer_state(optimizer)})
        accelerator.wait_for_everyone()
    path = None
    if accelerator.is_main_process:
        state = {"step": step, "scheduler": scheduler.state_dict(),
                 "ranks": ranks, "wandb_id": run.id if run is not None else None}
        if not sharded:
            state["optimizer"] = optimizer.state_dict()
        if accelerator.scaler is not None:
            state["scaler"] = accelerator.scaler.state_dict()
        path = manager.finish(step, accelerator.unwrap_model(model), state, tokenizer, state_dict=weights)
    accelerator.wait_for_everyone()
    return path or manager.root / f"step-{step:012d}"


def _codemix_stats(accelerator, stream) -> Optional[dict[str, float]]:
    """The code-mixing of what every rank trained on (not of what it encoded ahead)."""
    from accelerate.utils import gather_object

    from .codemix import CodeMixStats

    if stream.encoder.mixer is None:
        return None
    total = CodeMixStats()
    for counts in gather_object([stream.trained.as_list()]):
        total.add(CodeMixStats(*counts))
    return total.as_dict()
