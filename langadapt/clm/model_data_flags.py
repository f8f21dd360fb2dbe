"""run_clm's model and data flags (transformers' run_clm groups), apart from TrainingArguments so that
`run_clm.py --help` can list them without importing transformers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import LangAdaptError

RESUME_LATEST = "latest"
DTYPES = ("auto", "bfloat16", "float16", "float32")


@dataclass
class ModelArguments:
    """Which model, config and tokenizer to start from."""

    model_name_or_path: Optional[str] = field(default=None, metadata={
        "help": "Checkpoint to start from (hub id or local folder; Backpack checkpoints in either format). A "
                "folder holding only config.json builds a fresh model from that config."})
    model_type: Optional[str] = field(default=None, metadata={
        "help": "Model type to build from scratch when neither --model_name_or_path nor --config_name is given "
                "(e.g. gpt2, llama, backpack-gpt2)."})
    config_overrides: Optional[str] = field(default=None, metadata={
        "help": "Override config fields of a model built from scratch, e.g. n_embd=10,resid_pdrop=0.2"})
    config_name: Optional[str] = field(default=None, metadata={
        "help": "Config (hub id or folder) when it differs from --model_name_or_path."})
    tokenizer_name: Optional[str] = field(default=None, metadata={
        "help": "Tokenizer (hub id or folder) when it differs from --model_name_or_path."})
    cache_dir: Optional[str] = field(default=None, metadata={"help": "Where hub downloads are cached."})
    model_revision: str = field(default="main", metadata={"help": "Hub revision (branch, tag or commit)."})
    token: Optional[str] = field(default=None, metadata={"help": "Hub token for private models/datasets."})
    dtype: Optional[str] = field(default=None, metadata={
        "help": "Dtype to load the weights in; 'auto' takes the checkpoint's.", "choices": DTYPES})
    attn_implementation: Optional[str] = field(default=None, metadata={
        "help": "Attention kernel: sdpa, eager or flash_attention_2 (needs flash-attn installed)."})
    freeze_weights: bool = field(default=False, metadata={
        "help": "Train only the LM head (the output embedding); every other parameter stays fixed."})
    use_flash_attn: bool = field(default=False, metadata={
        "help": "Use FlashAttention 2 (the original's flag; same as --attn_implementation flash_attention_2). "
                "An error where the flash-attn package is not installed."})
    use_fast_tokenizer: bool = field(default=True, metadata={
        "help": "Use the fast (Rust `tokenizers`) tokenizer; --no_use_fast_tokenizer for the slow Python one."})
    trust_remote_code: bool = field(default=False, metadata={
        "help": "Accepted for the original's command lines; langadapt never executes code from the hub "
                "(Backpack checkpoints of both published formats load with its own model code)."})


@dataclass
class DataTrainingArguments:
    """What to train and evaluate on, and how to cut it into blocks."""

    dataset_name: Optional[str] = field(default=None, metadata={
        "help": "Dataset: hub id or local path (save_to_disk folder, txt/json/jsonl/csv/parquet file or folder)."})
    dataset_config_name: Optional[str] = field(default=None, metadata={"help": "Config name of the hub dataset."})
    train_file: Optional[str] = field(default=None, metadata={
        "help": "Training data file (txt, json, jsonl, csv, parquet) or save_to_disk folder."})
    validation_file: Optional[str] = field(default=None, metadata={"help": "Validation data, same formats."})
    text_column_name: Optional[str] = field(default=None, metadata={
        "help": "Column holding the text; default 'text', or the only string column."})
    max_train_samples: Optional[int] = field(default=None, metadata={
        "help": "Keep only this many training blocks (for debugging or quick runs)."})
    max_eval_samples: Optional[int] = field(default=None, metadata={
        "help": "Keep only this many evaluation blocks."})
    streaming: bool = field(default=False, metadata={
        "help": "Stream the dataset instead of downloading it whole (needs --max_steps)."})
    block_size: Optional[int] = field(default=None, metadata={
        "help": "Tokens per training block; default the tokenizer's max length capped at 1024 and at the "
                "model's positions."})
    overwrite_cache: bool = field(default=False, metadata={"help": "Recompute the tokenised datasets."})
    validation_split_percentage: int = field(default=5, metadata={
        "help": "Percent of the training data held out for validation when there is no validation split: the "
                "first N%% of the texts, as the original (streamed: the first N of every 100)."})
    preprocessing_num_workers: Optional[int] = field(default=None, metadata={
        "help": "Processes for tokenising and grouping (not with --streaming)."})
    keep_linebreaks: bool = field(default=True, metadata={"help": "Keep line breaks when reading txt files."})

    def __post_init__(self):
        if not 0 <= self.validation_split_percentage < 100:
            raise LangAdaptError("--validation_split_percentage must lie in [0, 100)")
        for flag in ("max_train_samples", "max_eval_samples", "block_size", "preprocessing_num_workers"):
            value = getattr(self, flag)
            if value is not None and value <= 0:
                raise LangAdaptError(f"--{flag} must be a positive integer, got {value}")
