"""run_clm end to end: check every input, build model and blocks, then train/evaluate with the Trainer.

Everything that can be wrong with the input is checked before the output folder is touched, so a typo
never costs a queued GPU job more than its start-up, nor deletes an earlier run.
"""
from __future__ import annotations

import logging
import signal
from typing import Optional

from ..cli import quiet_libraries
from ..errors import LangAdaptError
from ..run_folder import RunInterrupted, stop_requested, trainer_callback, watch
from ..training import set_seed
from .arguments import ClmTrainingArguments, DataTrainingArguments, ModelArguments, check_sources
from .metrics import metrics_for, perplexity, predictions_from_logits
from .modeling import (build_model, build_tokenizer, causal_label_smoother, check_vocabulary, choose_block_size,
                       count_shifted_labels, freeze_all_but_head)
from .resume import plan_run_folder
from .throughput_log import throughput_callback
from .text_data import (ensure_validation_split, limit, load_raw_text, require_blocks, resolve_text_column,
                        tokenize_and_group)

logger = logging.getLogger(__name__)


def prepare_blocks(data_args: DataTrainingArguments, training_args: ClmTrainingArguments, tokenizer,
                   block_size: int, cache_dir: Optional[str] = None, token: Optional[str] = None):
    """(train, eval) block datasets; None where the run does not need that split."""
    raw = load_raw_text(data_args, cache_dir=cache_dir, token=token)
    source = data_args.dataset_name or data_args.train_file or data_args.validation_file
    text_column = resolve_text_column(next(iter(raw.values())), data_args.text_column_name, source)
    for split, dataset in raw.items():
        resolve_text_column(dataset, text_column, f"{source} ({split})")
    with training_args.main_process_first(desc="tokenising and grouping"):
        raw = ensure_validation_split(raw, data_args.validation_split_percentage,
                                      need_validation=training_args.do_eval)
        blocks = tokenize_and_group(raw, tokenizer, text_column, block_size,
                                    num_proc=data_args.preprocessing_num_workers,
                                    overwrite_cache=data_args.overwrite_cache)
    train = eval_ = None
    if training_args.do_train:
        if "train" not in blocks:
            raise LangAdaptError(f"{source} has no 'train' split to train on")
        train = limit(blocks["train"], data_args.max_train_samples)
        require_blocks(train, "training", block_size)
    if training_args.do_eval:
        eval_ = limit(blocks["validation"], data_args.max_eval_samples)
        require_blocks(eval_, "validation", block_size)
    return train, eval_


def sample_count(key: str, blocks, limit: Optional[int]) -> dict:
    """The original run_clm's train_samples / eval_samples: the blocks used (a stream: --max_*_samples)."""
    if hasattr(blocks, "__len__"):
        return {key: len(blocks)}
    return {key: limit} if limit is not None else {}


def train_clm(model_args: ModelArguments, data_args: DataTrainingArguments,
              training_args: ClmTrainingArguments, callbacks: Optional[list] = None) -> dict[str, float]:
    """Run the training/evaluation the arguments ask for; returns the final metrics."""
    from transformers import Trainer, default_data_collator

    check_sources(model_args, data_args)
    folder = plan_run_folder(model_args, data_args, training_args)
    if folder.start.action == "complete":
        return {}
    tokenizer = build_tokenizer(model_args)
    set_seed(training_args.seed)  # a model built from scratch is initialised from this seed
    model = build_model(model_args)
    check_vocabulary(tokenizer, model)
    count_shifted_labels(model)
    block_size = choose_block_size(data_args.block_size, tokenizer, model.config)
    if model_args.freeze_weights:
        freeze_all_but_head(model)
    train_blocks, eval_blocks = prepare_blocks(data_args, training_args, tokenizer, block_size,
                                               cache_dir=model_args.cache_dir, token=model_args.token)
    if training_args.should_save:
        folder.prepare(training_args.overwrite_output_dir)
    watch(folder, saves_on_sigterm=True)

    if training_args.label_names is None:
        # The blocks' targets are "labels"; the Trainer's guess from forward()'s signature also picks up
        # Backpack's `label_smoothing` argument and would then lose the labels in evaluation.
        training_args.label_names = ["labels"]
    trainer = Trainer(
        model=model, args=training_args, train_dataset=train_blocks, eval_dataset=eval_blocks,
        processing_class=tokenizer, data_collator=default_data_collator,
        callbacks=[trainer_callback(folder), throughput_callback(model, training_args, block_size),
                   *(callbacks or [])],
        compute_loss_func=causal_label_smoother(model, training_args.label_smoothing_factor),
        compute_metrics=metrics_for(training_args.label_smoothing_factor) if training_args.do_eval else None,
        preprocess_logits_for_metrics=predictions_from_logits(model.config.vocab_size,
                                                              training_args.label_smoothing_factor)
        if training_args.do_eval else None,
    )
    quiet_libraries(logging.getLogger().getEffectiveLevel())  # the Trainer set transformers' level to --log_level
    metrics: dict[str, float] = {}
    if training_args.do_train:
        start = folder.start.checkpoint
        result = trainer.train(resume_from_checkpoint=str(start) if start else None)
        if stop_requested():  # SIGTERM: the callback saved a checkpoint and stopped the Trainer
            raise RunInterrupted(signal.SIGTERM)
        trainer.save_model()
        # PrinterCallback (--disable_tqdm) pops total_flos from the metrics it prints, which are these
        train_metrics = {**result.metrics, "total_flos": trainer.state.total_flos,
                         **sample_count("train_samples", train_blocks, data_args.max_train_samples)}
        trainer.log_metrics("train", train_metrics)
        trainer.save_metrics("train", train_metrics)  # train_results.json (and all_results.json)
        trainer.save_state()
        metrics.update(train_metrics)
    if training_args.do_eval:
        eval_metrics = {**trainer.evaluate(), **sample_count("eval_samples", eval_blocks, data_args.max_eval_samples)}
        eval_metrics["perplexity"] = perplexity(eval_metrics["eval_loss"])
        trainer.log_metrics("eval", eval_metrics)
        trainer.save_metrics("eval", eval_metrics)  # eval_results.json (and all_results.json)
        metrics.update(eval_metrics)
    state = trainer.state
    if training_args.should_save and (not training_args.do_train or state.global_step >= state.max_steps):
        folder.complete(state.global_step)
    return metrics
