"""Raw text -> fixed-length blocks for causal LM training, as transformers' run_clm does it.

Documents are tokenised, concatenated and cut into `block_size` blocks (the tail that does not fill a
block is dropped); labels are the inputs, shifted inside the model. Blocks carry no attention mask: every
position is real, and leaving the mask out lets attention take its fast causal path.
"""
from __future__ import annotations

import logging
from itertools import chain
from typing import Optional

from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

from ..data import builder_for_file, load_any_dataset, looks_local
from ..errors import LangAdaptError
from .arguments import DataTrainingArguments

logger = logging.getLogger(__name__)


def load_raw_text(data_args: DataTrainingArguments, cache_dir: Optional[str] = None, token: Optional[str] = None):
    """A (Iterable)DatasetDict with "train" and, where there is one or one can be held out, "validation"."""
    if data_args.dataset_name:
        hub_kwargs = {} if looks_local(data_args.dataset_name) else {"cache_dir": cache_dir, "token": token}
        raw = load_any_dataset(data_args.dataset_name, data_args.dataset_config_name,
                               streaming=data_args.streaming, flags=("--dataset_name", "--dataset_config_name"),
                               **hub_kwargs)
    else:
        raw = {}
        for split, path in (("train", data_args.train_file), ("validation", data_args.validation_file)):
            if path:
                raw[split] = _load_file(path, data_args, f"--{split}_file")
        raw = (IterableDatasetDict if data_args.streaming else DatasetDict)(raw)
    if "train" not in raw and "validation" not in raw:
        raise LangAdaptError(f"{data_args.dataset_name}: no 'train' or 'validation' split; found "
                             f"{', '.join(raw.keys())}")
    return raw


def _load_file(path: str, data_args: DataTrainingArguments, flag: str):
    kwargs = {}
    try:
        if builder_for_file(path) == "text":
            kwargs["keep_linebreaks"] = data_args.keep_linebreaks
    except LangAdaptError:
        pass  # a folder: load_any_dataset works out what it holds
    return load_any_dataset(path, split="train", streaming=data_args.streaming, flags=(flag,), **kwargs)


def resolve_text_column(dataset, requested: Optional[str], source: str) -> str:
    """The requested column, else "text", else the only string column; errors name the columns found."""
    columns = list(dataset.column_names or _peek(dataset).keys())
    if requested:
        if requested not in columns:
            raise LangAdaptError(f"{source}: --text_column_name {requested!r} does not exist; columns found: "
                                 f"{', '.join(columns)}")
        return requested
    if "text" in columns:
        return "text"
    features = dataset.features or {}
    strings = [c for c in columns if getattr(features.get(c), "dtype", None) in ("string", "large_string")]
    if len(strings) == 1:
        return strings[0]
    raise LangAdaptError(f"{source}: no 'text' column; pass --text_column_name, one of: {', '.join(columns)}")


def _peek(dataset) -> dict:
    for example in dataset:
        return example
    raise LangAdaptError("the dataset is empty")


def validation_cut(num_rows: int, percentage: int) -> int:
    """Rows in `train[:percentage%]` as `datasets` slices it (rounded to the closest row), as the original
    run_clm holds out its validation split."""
    return int(round(percentage * num_rows / 100.0))


def in_streamed_validation(index: int, percentage: int) -> bool:
    """The original's streaming hold-out: the first `percentage` of every 100 streamed rows."""
    return index % 100 < percentage


def ensure_validation_split(raw, percentage: int, need_validation: bool):
    """Hold out the first `percentage`% of "train" as "validation" when the data has no validation split.

    A streamed dataset has no length to take a first share of: there, as in the original, the first
    `percentage` rows of every hundred are held out (the original also drops row `percentage` of each
    hundred from training; here every other row trains).
    """
    if "validation" in raw or not need_validation or "train" not in raw:
        return raw
    if percentage <= 0:
        raise LangAdaptError("--do_eval needs validation data: the data has no 'validation' split and "
                             "--validation_split_percentage is 0; pass --validation_file or a percentage")
    train = raw["train"]
    if isinstance(train, IterableDataset):
        validation = train.filter(lambda _, i: in_streamed_validation(i, percentage), with_indices=True)
        train = train.filter(lambda _, i: not in_streamed_validation(i, percentage), with_indices=True)
        logger.info("no validation split: holding out the first %d of every 100 streamed texts", percentage)
    else:
        cut = validation_cut(len(train), percentage)
        validation, train = train.select(range(cut)), train.select(range(cut, len(train)))
        logger.info("no validation split: held out the first %d%% of the training texts (%d)", percentage, cut)
    return type(raw)({"train": train, "validation": validation})


def tokenize_and_group(raw, tokenizer, text_column: str, block_size: int, num_proc=None,
                       overwrite_cache: bool = False):
    """Tokenise every split and regroup it into `block_size`-token blocks with labels."""
    def tokenize(batch):
        return {"input_ids": tokenizer(batch[text_column], add_special_tokens=True)["input_ids"]}

    def group(batch):
        return group_texts(batch["input_ids"], block_size)

    out = {}
    for split, dataset in raw.items():
        columns = list(dataset.column_names or _peek(dataset).keys())
        if isinstance(dataset, IterableDataset):
            tokenized = dataset.map(tokenize, batched=True, remove_columns=columns)
            out[split] = tokenized.map(group, batched=True)
        else:
            tokenized = dataset.map(tokenize, batched=True, remove_columns=columns, num_proc=num_proc,
                                    load_from_cache_file=not overwrite_cache, desc=f"tokenising {split}")
            out[split] = tokenized.map(group, batched=True, num_proc=num_proc,
                                       load_from_cache_file=not overwrite_cache,
                                       desc=f"grouping {split} into blocks of {block_size}")
    return type(raw)(out)


def group_texts(token_lists: list[list[int]], block_size: int) -> dict[str, list[list[int]]]:
    """Concatenate token lists and cut them into full blocks; the short tail is dropped."""
    joined = list(chain.from_iterable(token_lists))
    usable = len(joined) // block_size * block_size
    blocks = [joined[i: i + block_size] for i in range(0, usable, block_size)]
    return {"input_ids": blocks, "labels": [list(b) for b in blocks]}


def limit(dataset, max_samples: Optional[int]):
    """The first `max_samples` blocks (all of them when None)."""
    if max_samples is None:
        return dataset
    if isinstance(dataset, IterableDataset):
        return dataset.take(max_samples)
    return dataset.select(range(min(max_samples, len(dataset))))


def require_blocks(dataset, split: str, block_size: int) -> None:
    """An empty split would only fail deep inside the Trainer; say why here."""
    if isinstance(dataset, Dataset) and len(dataset) == 0:
        raise LangAdaptError(f"the {split} data yields no block of {block_size} tokens; pass more text or a "
                             f"smaller --block_size")
