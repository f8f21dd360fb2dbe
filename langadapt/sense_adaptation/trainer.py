"""The sense-adaptation training loop: two forwards per step, a scheduled three-term loss, exact resume.

Data parallelism goes through Accelerate (DDP; torchrun, `accelerate launch` and srun alike): gradients
are synchronised by DDP and the sentence vectors are all-gathered with gradient, so InfoNCE negatives
span the global batch. Only rank 0 logs, evaluates and writes files.

Exact resume: the checkpoint holds weights, optimiser, LR schedule, grad scaler, every rank's RNG state
and the data position (optimiser steps x per-rank batch); the loss schedule is a function of the step.
"""
from __future__ import annotations

import json
import logging
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.distributed as dist
from ..progress import progress_bar
from transformers import get_scheduler

from .losses import LossSchedule, ScheduleValues, StepLosses, adaptation_losses
from ..data import parse_split
from ..distributed import build_accelerator
from ..errors import LangAdaptError
from ..languages import get_language
from ..preflight import (check_dataset_source, check_model_source, check_path_or_hub_id, check_tokenizer_files,
                         has_accelerator, usable_precision)
from ..models import is_backpack_checkpoint, load_causal_lm, load_tokenizer, max_positions, read_config_dict
from ..run_folder import METRICS_FILE, RunFolder, RunInterrupted, check_separate, stop_requested, watch
from ..throughput import Throughput, rate_postfix, row_lengths
from ..training import (CheckpointManager, NonFiniteLossError, ResumableSampler, append_jsonl, capture_rng_state,
                        init_wandb, restore_rng_state, save_final_model, set_seed, write_json_atomic)
from .data import PairCollator, TokenizedPairs, load_flores_pairs, load_translation_pairs, target_labels
from .evaluate import evaluate_pairs
from .plot import plot_run

logger = logging.getLogger(__name__)

FINAL_METRICS_FILE = "final_metrics.json"
PLOT_FILE = "schedule_and_losses.png"
CHECKPOINT_DIR = "checkpoints"
# Settings a resume may change: they decide what is logged, evaluated and kept, not what a step computes.
MAY_CHANGE_ON_RESUME = ("save_dir", "resume_from_checkpoint", "overwrite_output_dir", "eval_every_n_steps",
                        "save_every", "max_checkpoints", "log_every_n_steps", "num_workers", "test_batch_size",
                        "validation_dataset", "validation_file", "validation_split", "use_wandb", "wandb_project",
                        "wandb_run_name", "wandb_run_id")


@dataclass
class AdaptationConfig:
    """Everything run_adaptation.py passes in; defaults live in the script's argparse."""
    model_id: str
    dataset_name: str
    dataset_config: Optional[str]
    dataset_split: str
    src: str
    tgt: str
    save_dir: str
    schedule: LossSchedule
    max_length: int
    learning_rate: float
    train_batch_size: int
    test_batch_size: int
    warmup_ratio: float
    clip_grad_norm: float
    label_smoothing: float
    sense_pool_temp: float
    normalize_sense_pooling: bool
    normalize_last_token_embeds: bool
    add_lm_loss: bool
    symmetric_infonce: bool
    freeze_sense_during_polish: bool
    use_fp16: bool
    bf16: bool
    max_steps: int
    eval_every_n_steps: int
    save_every: int
    max_checkpoints: int
    log_every_n_steps: int
    resume_from_checkpoint: bool
    overwrite_output_dir: bool
    validation_dataset: Optional[str]
    validation_file: Optional[str]
    validation_split: str
    num_workers: int
    use_wandb: bool
    wandb_project: Optional[str]
    wandb_run_name: Optional[str]
    wandb_run_id: Optional[str]
    seed: int

    def validate(self) -> None:
        positive = ("max_length", "learning_rate", "train_batch_size", "test_batch_size", "max_steps",
                    "sense_pool_temp")
        for name in positive:
            if getattr(self, name) <= 0:
                raise LangAdaptError(f"--{name} must be > 0, got {getattr(self, name)}")
        for name in ("eval_every_n_steps", "save_every", "max_checkpoints", "log_every_n_steps", "num_workers",
                     "clip_grad_norm"):
            if getattr(self, name) < 0:
                raise LangAdaptError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.warmup_ratio <= 1.0:
            raise LangAdaptError(f"--warmup_ratio must lie in [0, 1], got {self.warmup_ratio}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise LangAdaptError(f"--label_smoothing must lie in [0, 1), got {self.label_smoothing}")
        if not self.save_dir:
            raise LangAdaptError("--save_dir is required")

    def check_sources(self) -> None:
        """Model, data and FLORES flags name things that load, before the model and the pairs do."""
        check_model_source("--model_id", self.model_id)
        check_tokenizer_files("--model_id", self.model_id)
        check_dataset_source("--dataset_name", self.dataset_name)
        parse_split(self.dataset_split, "--dataset_split")
        if not self.eval_every_n_steps:
            return
        for flag, code in (("--src", self.src), ("--tgt", self.tgt)):
            get_language(code, flag)  # FLORES files are named by language code
        if self.validation_file:
            check_path_or_hub_id("--validation_file", self.validation_file, kind=None)
        elif self.validation_dataset:
            check_dataset_source("--validation_dataset", self.validation_dataset,
                                 fix="pass --validation_file with a local flores200_dataset folder")

    def as_record(self) -> dict[str, Any]:
        record = asdict(self)
        record.update(record.pop("schedule"))
        return record


@dataclass(frozen=True)
class StepSettings:
    sense_pool_temp: float
    normalize_context: bool
    normalize_senses: bool
    symmetric: bool
    use_lm: bool
    label_smoothing: float


def adaptation_step(model, batch: dict[str, torch.Tensor], values: ScheduleValues, settings: StepSettings
                    ) -> StepLosses:
    """The two forwards (source without labels, target with LM labels) and the scheduled loss."""
    src_out = model(input_ids=batch["src_ids"], attention_mask=batch["src_mask"], output_sense_contributions=True)
    labels = target_labels(batch["tgt_ids"], batch["tgt_mask"]) if settings.use_lm else None
    tgt_out = model(input_ids=batch["tgt_ids"], attention_mask=batch["tgt_mask"], labels=labels,
                    label_smoothing=settings.label_smoothing, output_sense_contributions=True)
    return adaptation_losses(src_out, tgt_out, batch["src_mask"], batch["tgt_mask"], values,
                             sense_pool_temp=settings.sense_pool_temp,
                             normalize_context=settings.normalize_context,
                             normalize_senses=settings.normalize_senses, symmetric=settings.symmetric,
                             use_lm=settings.use_lm)


def set_sense_modules_trainable(model, trainable: bool) -> None:
    """Freeze/unfreeze the sense network and the sense weight network (the polish-phase option)."""
    backpack = model.backpack
    for module in (backpack.sense_network, backpack.sense_weight_net):
        for parameter in module.parameters():
            parameter.requires_grad_(trainable)


def mixed_precision(config: AdaptationConfig) -> str:
    """--bf16 wins over --use_fp16 (on by default), as the help says; the machine's limits as everywhere."""
    asked, flag = ("bf16", "--bf16") if config.bf16 else ("fp16", "--use_fp16") if config.use_fp16 else ("no", "")
    return usable_precision(asked, flag, on_cpu=not has_accelerator(), fp16_flag="--use_fp16")


def check_model(config: AdaptationConfig) -> None:
    if not is_backpack_checkpoint(config.model_id):
        model_type = read_config_dict(config.model_id).get("model_type", "unknown")
        raise LangAdaptError(f"--model_id {config.model_id} is not a Backpack model (model_type {model_type!r}); "
                             f"sense adaptation needs per-sense contributions")
    n_positions = max_positions(read_config_dict(config.model_id))
    if n_positions and config.max_length > n_positions:
        raise LangAdaptError(f"--max_length {config.max_length} exceeds the model's n_positions ({n_positions})")


def all_finite(loss: torch.Tensor) -> bool:
    """True on every rank only when the loss is finite on every rank (so all stop together)."""
    flag = torch.isfinite(loss.detach()).all().float().reshape(1)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def mean_over_ranks(value: torch.Tensor) -> float:
    value = value.detach().float().reshape(1).clone()
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return value.item()


def gather_rng_states() -> list[dict[str, Any]]:
    """Every rank's RNG streams (dropout masks differ per rank), collected on all ranks."""
    state = capture_rng_state()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [state]
    states: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(states, state)
    return states


class AdaptationRun:
    """One run of `run_adaptation.py`: set-up, the step loop, evaluation, checkpoints and final outputs."""

    def __init__(self, config: AdaptationConfig):
        from accelerate.utils import DistributedDataParallelKwargs

        config.validate()
        config.check_sources()
        self.config = config
        # Freezing modules mid-run leaves their parameters without gradients, which DDP must be told about.
        ddp_kwargs = DistributedDataParallelKwargs(find_unused_parameters=config.freeze_sense_during_polish)
        self.accelerator = build_accelerator(mixed_precision(config), kwargs_handlers=[ddp_kwargs])
        self.is_main = self.accelerator.is_main_process
        self.settings = StepSettings(config.sense_pool_temp, config.normalize_last_token_embeds,
                                     config.normalize_sense_pooling, config.symmetric_infonce,
                                     config.add_lm_loss, config.label_smoothing)
        self.save_dir = Path(config.save_dir)
        self.metrics_path = self.save_dir / METRICS_FILE
        self.checkpoints = CheckpointManager(self.save_dir / CHECKPOINT_DIR, max_keep=config.max_checkpoints or None)
        settings = {**config.as_record(), "world_size": self.accelerator.num_processes}
        self.folder = RunFolder(self.save_dir, flag="--save_dir", script="run_adaptation.py", settings=settings,
                                defining=[key for key in settings if key not in MAY_CHANGE_ON_RESUME])

    # ------------------------------------------------------------------------------------------- set-up
    def _load_inputs(self):
        config = self.config
        check_model(config)
        if config.train_batch_size * self.accelerator.num_processes < 2:
            raise LangAdaptError("--train_batch_size: InfoNCE needs at least 2 pairs per global batch")
        tokenizer = load_tokenizer(config.model_id, "--model_id")
        sources, targets = load_translation_pairs(config.dataset_name, config.dataset_config,
                                                  config.dataset_split, config.src, config.tgt)
        train_pairs = TokenizedPairs(tokenizer, sources, targets, config.max_length)
        if len(train_pairs) == 0:
            raise LangAdaptError(f"--dataset_name {config.dataset_name}: no pair has text on both sides")
        if train_pairs.dropped:
            logger.warning("dropped %d pairs with an empty side", train_pairs.dropped)
        eval_pairs = None
        if config.eval_every_n_steps and (config.validation_file or config.validation_dataset):
            flores_src, flores_tgt = load_flores_pairs(config.src, config.tgt, config.validation_split,
                                                       config.validation_file, config.validation_dataset)
            eval_pairs = TokenizedPairs(tokenizer, flores_src, flores_tgt, config.max_length)
        elif config.eval_every_n_steps:
            logger.warning("--eval_every_n_steps is set but neither --validation_file nor --validation_dataset")
        return tokenizer, train_pairs, eval_pairs

    def _loader(self, pairs, batch_size: int, sampler=None) -> torch.utils.data.DataLoader:
        # A private generator: the loader's per-iterator seed draw must not consume the global RNG stream,
        # or a resumed run's dropout masks would differ from an uninterrupted run's.
        return torch.utils.data.DataLoader(
            pairs, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=self.config.num_workers,
            collate_fn=PairCollator(self.tokenizer.pad_token_id), generator=torch.Generator(),
            pin_memory=torch.cuda.is_available())

    def _training_state(self, step: int, frozen: bool) -> dict[str, Any]:
        consumed = step * self.config.train_batch_size
        scaler = self.accelerator.scaler
        return {"step": step, "sampler": self.sampler.state_dict(consumed),
                "optimizer": self.optimizer.state_dict(), "lr_scheduler": self.lr_scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "loss_schedule": asdict(self.config.schedule), "frozen": frozen,
                "rng": gather_rng_states(), "wandb_run_id": self.wandb_run_id,
                "args": self.config.as_record()}

    def _resume(self, model, checkpoint: Optional[Path]) -> Optional[dict[str, Any]]:
        if checkpoint is None:
            return None
        logger.info("resuming from %s", checkpoint)
        CheckpointManager.load_weights(checkpoint, model)
        self.folder.last_checkpoint = checkpoint
        return CheckpointManager.load_training_state(checkpoint)

    # --------------------------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        config, accelerator, folder = self.config, self.accelerator, self.folder
        check_separate({"--save_dir": config.save_dir}, {"--model_id": config.model_id,
                                                          "--dataset_name": config.dataset_name,
                                                          "--validation_file": config.validation_file})
        start = folder.plan(overwrite=config.overwrite_output_dir, resume=config.resume_from_checkpoint,
                            latest=self.checkpoints.latest, checkpoint_step=CheckpointManager.step_of)
        if start.action == "complete":
            return {}
        self.tokenizer, train_pairs, eval_pairs = self._load_inputs()
        set_seed(config.seed)
        model = load_causal_lm(config.model_id, flag="--model_id")  # an input: loaded before any deletion
        if self.is_main:
            folder.prepare(config.overwrite_output_dir)
        accelerator.wait_for_everyone()
        watch(folder, saves_on_sigterm=True)

        model.config.pad_token_id = self.tokenizer.pad_token_id
        state = self._resume(model, start.checkpoint)
        model.train()
        frozen = bool(state and state.get("frozen"))
        if frozen:
            set_sense_modules_trainable(model, False)

        self.sampler = ResumableSampler(len(train_pairs), seed=config.seed, rank=accelerator.process_index,
                                        world_size=accelerator.num_processes)
        # The fused kernel: several times faster than the per-tensor loop, where the step is a real share.
        optimizer = torch.optim.AdamW(list(model.parameters()), lr=config.learning_rate, fused=True)
        self.lr_scheduler = get_scheduler("linear", optimizer,
                                          num_warmup_steps=int(config.max_steps * config.warmup_ratio),
                                          num_training_steps=config.max_steps)
        model, self.optimizer = accelerator.prepare(model, optimizer)
        start = 0
        if state is not None:
            start = int(state["step"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.lr_scheduler.load_state_dict(state["lr_scheduler"])
            if accelerator.scaler is not None and state.get("scaler"):
                accelerator.scaler.load_state_dict(state["scaler"])
            self.sampler.load_state_dict(state["sampler"])
            restore_rng_state(state["rng"][accelerator.process_index])
        self.wandb_run_id = (state or {}).get("wandb_run_id") or config.wandb_run_id
        wandb_run = init_wandb(config.use_wandb and self.is_main, config.wandb_project, config.wandb_run_name,
                               config.as_record(), resume_id=self.wandb_run_id) if self.is_main else None
        if wandb_run is not None:
            self.wandb_run_id = wandb_run.id

        train_loader = self._loader(train_pairs, config.train_batch_size, self.sampler)
        eval_loader = self._loader(eval_pairs, config.test_batch_size) if eval_pairs is not None else None
        unwrapped = accelerator.unwrap_model(model)

        def evaluate(step: int) -> None:
            accelerator.wait_for_everyone()
            if self.is_main and eval_loader is not None:
                metrics = evaluate_pairs(unwrapped, eval_loader, accelerator.device,
                                         sense_pool_temp=config.sense_pool_temp,
                                         normalize_context=config.normalize_last_token_embeds,
                                         normalize_senses=config.normalize_sense_pooling,
                                         autocast=accelerator.autocast)
                self._record({"kind": "eval", "step": step, **metrics}, wandb_run, "eval")
                logger.info("step %d eval: ctx R@1 %.3f/%.3f sense R@1 %.3f/%.3f tgt ppl %.2f", step,
                            metrics["ctx_r1_src2tgt"], metrics["ctx_r1_tgt2src"], metrics["sns_r1_src2tgt"],
                            metrics["sns_r1_tgt2src"], metrics["tgt_ppl"])
            accelerator.wait_for_everyone()

        if start == 0:
            evaluate(0)
        progress = progress_bar(total=config.max_steps, initial=start, desc="sense adaptation", disable=not self.is_main)
        batches = iter(train_loader)
        # both sides' real tokens; summed over processes only when a line is logged (no per-step sync)
        throughput = Throughput(unwrapped, accelerator.device, accelerator.mixed_precision.replace("no", "fp32"),
                                accelerator.num_processes)
        local_counts = [0, 0]
        last_eval = 0 if start == 0 else None
        for step in range(start + 1, config.max_steps + 1):
            values = config.schedule.at(step, config.max_steps)
            if config.freeze_sense_during_polish and values.phase == "polish" and not frozen:
                set_sense_modules_trainable(unwrapped, False)
                frozen = True
                logger.info("step %d: polish phase, sense network and sense weight network frozen", step)
            cpu_batch = next(batches)
            for side in ("src_mask", "tgt_mask"):
                local_counts = [a + b for a, b in zip(local_counts, row_lengths(cpu_batch[side]))]
            batch = {k: v.to(accelerator.device, non_blocking=True) for k, v in cpu_batch.items()}
            losses = adaptation_step(model, batch, values, self.settings)
            if not all_finite(losses.total):
                where = f"; the last good checkpoint is {folder.last_checkpoint}" if folder.last_checkpoint else ""
                raise NonFiniteLossError(f"non-finite loss ({losses.total.item()}) at step {step}{where}")
            accelerator.backward(losses.total)
            if config.clip_grad_norm > 0:
                accelerator.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], config.clip_grad_norm)
            self.optimizer.step()
            if not accelerator.optimizer_step_was_skipped:
                self.lr_scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            folder.step = step
            progress.update(1)

            if config.log_every_n_steps and step % config.log_every_n_steps == 0:
                record = {"kind": "train", "step": step, "phase": values.phase, "w_ctx": values.w_ctx,
                          "w_sns": values.w_sns, "w_lm": values.w_lm, "tau_ctx": values.tau_ctx,
                          "tau_sns": values.tau_sns, "lr": self.lr_scheduler.get_last_lr()[0],
                          "context_loss": losses.context.item(), "sense_loss": losses.sense.item(),
                          "lm_loss": mean_over_ranks(losses.lm), "loss": mean_over_ranks(losses.total),
                          "src_sense_entropy": mean_over_ranks(losses.src_entropy),
                          "tgt_sense_entropy": mean_over_ranks(losses.tgt_entropy),
                          "contrastive_batch": losses.negatives, "sense_modules_frozen": frozen}
                counts = accelerator.reduce(torch.tensor(local_counts, device=accelerator.device), reduction="sum")
                throughput.add(*counts.tolist())
                local_counts = [0, 0]
                record.update(throughput.report())
                if self.is_main:
                    self._record(record, wandb_run, "train")
                    progress.set_postfix(ctx=f"{record['context_loss']:.3f}", sns=f"{record['sense_loss']:.3f}",
                                         lm=f"{record['lm_loss']:.3f}", **rate_postfix(record))
            if config.eval_every_n_steps and step % config.eval_every_n_steps == 0:
                evaluate(step)
                last_eval = step
            stopping = stop_requested()
            if (config.save_every and step % config.save_every == 0) or stopping:
                self._save_checkpoint(step, frozen, unwrapped)
            if stopping:
                raise RunInterrupted(signal.SIGTERM)
        progress.close()
        if config.eval_every_n_steps and last_eval != config.max_steps:
            evaluate(config.max_steps)
        return self._finish(unwrapped, wandb_run)

    # ------------------------------------------------------------------------------------------ outputs
    def _record(self, record: dict[str, Any], wandb_run, prefix: str) -> None:
        append_jsonl(self.metrics_path, record)
        if wandb_run is not None:
            wandb_run.log({f"{prefix}/{k}": v for k, v in record.items() if isinstance(v, (int, float))},
                          step=record["step"])

    def _save_checkpoint(self, step: int, frozen: bool, unwrapped) -> None:
        state = self._training_state(step, frozen)  # collective (RNG gather): every rank takes part
        if self.is_main:
            self.folder.last_checkpoint = self.checkpoints.save(step, unwrapped, state, tokenizer=self.tokenizer)
        self.accelerator.wait_for_everyone()

    def _finish(self, unwrapped, wandb_run) -> dict[str, Any]:
        fingerprints = parameter_fingerprints(unwrapped)
        summary: dict[str, Any] = {}
        if self.is_main:
            save_final_model(unwrapped, self.tokenizer, self.save_dir)
            records = read_metrics(self.metrics_path)
            evals = [r for r in records if r["kind"] == "eval"]
            summary = {"kind": "final", "step": self.config.max_steps, "world_size": self.accelerator.num_processes,
                       "rank_parameter_fingerprints": fingerprints,
                       "ranks_in_sync": len(set(fingerprints)) == 1,
                       **({"eval": evals[-1]} if evals else {})}
            append_jsonl(self.metrics_path, summary)
            write_json_atomic(self.save_dir / FINAL_METRICS_FILE, summary)
            plot_run(self.save_dir / PLOT_FILE, self.config.schedule, self.config.max_steps,
                     [r for r in records if r["kind"] == "train"])
            if wandb_run is not None:
                wandb_run.finish()
            if not summary["ranks_in_sync"]:
                raise LangAdaptError(f"ranks ended with different parameters ({fingerprints}): data-parallel "
                                     f"gradient synchronisation failed")
            self.folder.complete(self.config.max_steps)
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()
        return summary


def parameter_fingerprints(model) -> list[float]:
    """A checksum of the parameters per rank: equal on all ranks when DDP kept them in sync."""
    with torch.no_grad():
        total = sum(float(p.detach().double().sum()) * (i + 1) for i, p in enumerate(model.parameters()))
    value = torch.tensor([total], dtype=torch.float64)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [value.item()]
    parts = [torch.zeros_like(value) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, value)
    return [p.item() for p in parts]


def read_metrics(path: Path) -> list[dict[str, Any]]:


    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def train_adaptation(config: AdaptationConfig) -> dict[str, Any]:
    return AdaptationRun(config).run()
