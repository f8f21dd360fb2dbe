"""Text -> blocks: grouping, the original's first-N% validation hold-out, file formats and text columns."""
import json

import pytest
from datasets import Dataset, DatasetDict, load_dataset

from langadapt.clm.arguments import DataTrainingArguments
from langadapt.clm.text_data import (ensure_validation_split, group_texts, load_raw_text, resolve_text_column,
                                     tokenize_and_group)
from langadapt.errors import LangAdaptError

TEXTS = [f"Line {i}: the {['red', 'green', 'blue'][i % 3]} kite number {i * 7} flies over hill {i % 11}."
         for i in range(200)]


def test_group_texts_concatenates_and_drops_the_short_tail():
    out = group_texts([[1, 2, 3], [4, 5], [6, 7, 8, 9]], block_size=4)
    assert out["input_ids"] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert out["labels"] == out["input_ids"] and out["labels"][0] is not out["input_ids"][0]


@pytest.mark.parametrize("percentage", [5, 10, 33])
def test_held_out_validation_is_the_first_percent_as_the_original_slices_it(tmp_path, percentage):
    """The original loads `train[:N%]` as validation and `train[N%:]` as training."""
    path = tmp_path / "d.txt"
    path.write_text("\n".join(TEXTS[:187]) + "\n")  # 187 rows: 5% = 9.35, 10% = 18.7, 33% = 61.71 rows
    original = {split: list(load_dataset("text", data_files=str(path), split=slice_, keep_linebreaks=True)["text"])
                for split, slice_ in (("validation", f"train[:{percentage}%]"), ("train", f"train[{percentage}%:]"))}
    raw = ensure_validation_split(load_raw_text(DataTrainingArguments(train_file=str(path))), percentage,
                                  need_validation=True)
    assert {split: list(raw[split]["text"]) for split in ("validation", "train")} == original


def test_streamed_hold_out_is_the_first_rows_of_every_hundred(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("\n".join(TEXTS) + "\n")
    raw = ensure_validation_split(load_raw_text(DataTrainingArguments(train_file=str(path), streaming=True,
                                                                      keep_linebreaks=False)), 10, need_validation=True)
    assert [ex["text"] for ex in raw["validation"]] == TEXTS[0:10] + TEXTS[100:110]
    assert [ex["text"] for ex in raw["train"]] == TEXTS[10:100] + TEXTS[110:200]


def write_formats(folder):
    (folder / "d.txt").write_text("\n".join(TEXTS) + "\n")
    (folder / "d.jsonl").write_text("\n".join(json.dumps({"text": t, "n": i}) for i, t in enumerate(TEXTS)) + "\n")
    Dataset.from_dict({"text": TEXTS}).to_csv(str(folder / "d.csv"))
    Dataset.from_dict({"text": TEXTS}).to_parquet(str(folder / "d.parquet"))
    DatasetDict({"train": Dataset.from_dict({"text": TEXTS})}).save_to_disk(str(folder / "saved"))
    return ["d.txt", "d.jsonl", "d.csv", "d.parquet", "saved"]


def blocks_of(raw, tokenizer, block_size=16):
    column = resolve_text_column(raw["train"], None, "test")
    return tokenize_and_group(raw, tokenizer, column, block_size)


def test_every_file_format_gives_the_same_blocks_and_split(tmp_path, tiny_tokenizer):
    names = write_formats(tmp_path)
    for streaming in (False, True):
        results = []
        for name in names:
            key = "dataset_name" if name == "saved" else "train_file"
            if name == "saved" and streaming:
                continue  # a save_to_disk folder is already local arrow: nothing to stream
            args = DataTrainingArguments(**{key: str(tmp_path / name)}, streaming=streaming, keep_linebreaks=False)
            raw = ensure_validation_split(load_raw_text(args), 10, need_validation=True)
            blocks = blocks_of(raw, tiny_tokenizer)
            results.append({split: [b["input_ids"] for b in ds] for split, ds in blocks.items()})
        assert all(r == results[0] for r in results[1:])
        assert len(results[0]["validation"]) > 0 and len(results[0]["train"]) > 5 * len(results[0]["validation"])


def test_existing_validation_split_is_kept(tmp_path):
    (tmp_path / "t.txt").write_text("\n".join(TEXTS[:50]))
    (tmp_path / "v.txt").write_text("\n".join(TEXTS[50:60]))
    raw = load_raw_text(DataTrainingArguments(train_file=str(tmp_path / "t.txt"),
                                              validation_file=str(tmp_path / "v.txt")))
    raw = ensure_validation_split(raw, 10, need_validation=True)
    assert list(raw["validation"]["text"]) == [t + "\n" for t in TEXTS[50:59]] + [TEXTS[59]]  # run_clm keeps line breaks
    assert len(raw["train"]) == 50


def test_no_validation_and_zero_percent_is_refused(tmp_path):
    raw = DatasetDict({"train": Dataset.from_dict({"text": TEXTS})})
    with pytest.raises(LangAdaptError, match="--validation_split_percentage is 0"):
        ensure_validation_split(raw, 0, need_validation=True)


def test_text_column_resolution():
    two_strings = Dataset.from_dict({"body": ["a"], "title": ["b"]})
    assert resolve_text_column(Dataset.from_dict({"body": ["a"], "n": [1]}), None, "s") == "body"
    assert resolve_text_column(two_strings, "title", "s") == "title"
    with pytest.raises(LangAdaptError, match="body, title"):
        resolve_text_column(two_strings, None, "s")
    with pytest.raises(LangAdaptError, match="'content' does not exist; columns found: body, title"):
        resolve_text_column(two_strings, "content", "s")
