"""The shared dataset loader: local files and folders in every format, and its errors."""
import json

import pytest

from langadapt.data import load_any_dataset, require_columns
from langadapt.errors import LangAdaptError


def test_local_formats_load_as_train(tmp_path):
    rows = [{"text": "a b"}, {"text": "c d"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "d.csv").write_text("text\na b\nc d\n")
    (tmp_path / "d.txt").write_text("a b\nc d\n")
    for name in ("d.jsonl", "d.csv", "d.txt"):
        data = load_any_dataset(str(tmp_path / name), split="train")
        assert data["text"] == ["a b", "c d"], name
    saved = tmp_path / "saved"
    load_any_dataset(str(tmp_path / "d.jsonl")).save_to_disk(str(saved))
    assert load_any_dataset(str(saved), split="train")["text"] == ["a b", "c d"]


def test_missing_split_lists_the_available_ones(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "x"}\n')
    with pytest.raises(LangAdaptError, match="no split 'test'; available: train"):
        load_any_dataset(str(tmp_path / "d.jsonl"), split="test")


@pytest.mark.parametrize("content", ["", '{"a": 1}\n{broken\n'])
def test_empty_or_malformed_file_names_the_file(tmp_path, content):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(LangAdaptError, match="bad.jsonl: cannot read it as json"):
        load_any_dataset(str(path), split="train")


def test_missing_path_and_unknown_type(tmp_path):
    with pytest.raises(LangAdaptError, match="does not exist"):
        load_any_dataset(str(tmp_path / "nope.jsonl"))
    (tmp_path / "x.xml").write_text("<a/>")
    with pytest.raises(LangAdaptError, match="unsupported file type '.xml'"):
        load_any_dataset(str(tmp_path / "x.xml"))


def test_hub_id_offline_is_a_clear_error():
    with pytest.raises(LangAdaptError, match="cannot load dataset 'someone/nothing-here'"):
        load_any_dataset("someone/nothing-here")


def test_require_columns_names_what_exists(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "x", "id": 1}\n')
    data = load_any_dataset(str(tmp_path / "d.jsonl"), split="train")
    with pytest.raises(LangAdaptError, match="missing column.*translation; columns found: text, id"):
        require_columns(data, ["translation"], "d.jsonl")
