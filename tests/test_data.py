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
    with pytest.raises(LangAdaptError, match="nope.jsonl: no such file or folder"):
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


# --- layouts as datasets.load_dataset(folder, name) reads them ---------------------------------------------

def _parquet(path, rows):
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)


def _jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_split_names_come_from_file_names_in_every_format(tmp_path):
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "train.txt").write_text("a\nb\nc\n")
    (tmp_path / "txt" / "validation.txt").write_text("v\n")
    _jsonl(tmp_path / "json" / "train.jsonl", [{"text": "a"}, {"text": "b"}, {"text": "c"}])
    _jsonl(tmp_path / "json" / "validation.jsonl", [{"text": "v"}])
    _parquet(tmp_path / "pq" / "data" / "train-00000-of-00001.parquet", {"text": ["a", "b", "c"]})
    _parquet(tmp_path / "pq" / "data" / "validation-00000-of-00001.parquet", {"text": ["v"]})
    for name in ("txt", "json", "pq"):
        data = load_any_dataset(str(tmp_path / name))
        assert sorted(data) == ["train", "validation"], name
        assert data["train"]["text"] == ["a", "b", "c"] and data["validation"]["text"] == ["v"], name


def test_run_clm_folder_with_train_and_validation_files_keeps_both(tmp_path):
    from langadapt.clm.arguments import DataTrainingArguments
    from langadapt.clm.text_data import load_raw_text

    (tmp_path / "train.txt").write_text("one\ntwo\n")
    (tmp_path / "validation.txt").write_text("held out\n")
    raw = load_raw_text(DataTrainingArguments(dataset_name=str(tmp_path)))
    assert raw["validation"]["text"] == ["held out"] and raw["train"]["text"] == ["one", "two"]


def _pair_clone(root):
    for pair, text in (("eng-swh", "nyumba"), ("eng-hau", "gida")):
        _parquet(root / pair / "train-00000.parquet",
                 {"translation": [{"eng": "house", pair[4:]: text}, {"eng": "a house", pair[4:]: text + "!"}]})
    return root


def test_config_subfolders_are_configs(tmp_path):
    clone = _pair_clone(tmp_path / "clone")
    hau = load_any_dataset(str(clone), "eng-hau", split="train")
    assert [row["translation"]["hau"] for row in hau] == ["gida", "gida!"]
    with pytest.raises(LangAdaptError, match=r"subfolders \(eng-hau, eng-swh\) do not read as one dataset; pass a "
                                             r"config"):  # datasets reads every file and fails on their two schemas
        load_any_dataset(str(clone), split="train")
    with pytest.raises(LangAdaptError, match="no config 'eng-yor'; configs there: eng-hau, eng-swh"):
        load_any_dataset(str(clone), "eng-yor")


def test_wikipedia_style_clone_and_readme_configs(tmp_path):
    wiki = tmp_path / "wikipedia"
    _jsonl(wiki / "data" / "20230601.hi" / "train-0.jsonl", [{"text": "नमस्ते"}])
    _jsonl(wiki / "data" / "20230601.el" / "train-0.jsonl", [{"text": "γεια"}])
    assert load_any_dataset(str(wiki), "20230601.el", split="train")["text"] == ["γεια"]
    declared = tmp_path / "declared"
    (declared / "README.md").parent.mkdir()
    (declared / "README.md").write_text("---\nconfigs:\n- config_name: a\n  data_files: a/*.jsonl\n"
                                        "- config_name: b\n  data_files: b/*.jsonl\n---\n# card\n")
    _jsonl(declared / "a" / "x.jsonl", [{"text": "A"}])
    _jsonl(declared / "b" / "x.jsonl", [{"text": "B"}])
    assert load_any_dataset(str(declared), "b", split="train")["text"] == ["B"]
    with pytest.raises(LangAdaptError, match="no config 'c'; configs there: a, b"):
        load_any_dataset(str(declared), "c")


def test_commit_config_flag_selects_the_config_of_a_local_clone(tmp_path):
    from langadapt.commit.args import parse_args

    wiki = tmp_path / "wikipedia"
    _jsonl(wiki / "data" / "20230601.hi" / "train-0.jsonl", [{"text": "नमस्ते"}])
    _jsonl(wiki / "data" / "20230601.th" / "train-0.jsonl", [{"text": "สวัสดี"}])
    args = parse_args(["--model_name_or_path", "m", "--output_dir", str(tmp_path / "out"), "--mode", "text",
                       f"--train_dataset.huggingface_dataset.path={wiki}",
                       "--train_dataset.huggingface_dataset.name=20230601.th"])
    assert load_any_dataset(args.dataset_name, args.dataset_config_name, split=args.dataset_split)["text"] == \
        ["สวัสดี"]


def test_a_config_that_cannot_be_applied_is_an_error(tmp_path):
    _jsonl(tmp_path / "d.jsonl", [{"text": "x"}])
    with pytest.raises(LangAdaptError, match="single file: it has no config 'eng-swh'"):
        load_any_dataset(str(tmp_path / "d.jsonl"), "eng-swh")
    load_any_dataset(str(tmp_path / "d.jsonl")).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(LangAdaptError, match="save_to_disk folder: it has no config 'x'"):
        load_any_dataset(str(tmp_path / "saved"), "x")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "train.txt").write_text("a\n")
    with pytest.raises(LangAdaptError, match="has no config 'x'; it has no configs"):
        load_any_dataset(str(tmp_path / "plain"), "x")


@pytest.mark.parametrize("saved", [False, True])
def test_split_slices_as_datasets_reads_them(tmp_path, saved):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.txt").write_text("".join(f"t{i}\n" for i in range(10)))
    (tmp_path / "d" / "validation.txt").write_text("v0\nv1\n")
    source = tmp_path / "d"
    if saved:
        load_any_dataset(str(source)).save_to_disk(str(tmp_path / "saved"))
        source = tmp_path / "saved"
    texts = lambda split: load_any_dataset(str(source), split=split)["text"]  # noqa: E731
    assert texts("train[:3]") == ["t0", "t1", "t2"]
    assert texts("train[:50%]") == [f"t{i}" for i in range(5)]
    assert texts("train[-2:]") == ["t8", "t9"]
    assert texts("train[:1]+validation") == ["t0", "v0", "v1"]
    with pytest.raises(LangAdaptError, match="no split 'test'; available: train, validation"):
        texts("test[:3]")
    with pytest.raises(LangAdaptError, match=r"train\[:3: not a split name or slice"):
        texts("train[:3")


def test_streamed_slices_and_the_percentage_refusal(tmp_path):
    (tmp_path / "train.txt").write_text("".join(f"t{i}\n" for i in range(10)))
    stream = load_any_dataset(str(tmp_path), split="train[2:5]", streaming=True)
    assert [row["text"] for row in stream] == ["t2", "t3", "t4"]
    with pytest.raises(LangAdaptError, match="percentage slices need the dataset's length"):
        load_any_dataset(str(tmp_path), split="train[:10%]", streaming=True)


def test_evaluation_data_path_takes_slices(tmp_path):
    from langadapt.evaluation.tasks.loading import pick_local_split

    _jsonl(tmp_path / "xcopa.jsonl", [{"premise": str(i)} for i in range(6)])
    rows = pick_local_split(load_any_dataset(str(tmp_path / "xcopa.jsonl")), "test[:2]", "xcopa.jsonl")
    assert rows["premise"] == ["0", "1"]


def _datasets_rows(folder, split="train"):
    """What `datasets.load_dataset` itself reads from a local folder: the reference for our rules."""
    import datasets

    return datasets.load_dataset(str(folder), split=split)["text"]


def test_hub_clone_with_a_side_folder_reads_data(tmp_path):
    """data/ plus metadata/stats.json and a README without YAML: datasets reads data/ (40 rows)."""
    clone = tmp_path / "clone"
    _jsonl(clone / "data" / "train.jsonl", [{"text": f"row {i}"} for i in range(40)])
    _jsonl(clone / "metadata" / "stats.json", [{"text": "NOT DATA stats"}])
    (clone / "README.md").write_text("# a card without a YAML header\n")
    expected = _datasets_rows(clone)
    assert len(expected) == 40 and "NOT DATA stats" not in expected
    assert load_any_dataset(str(clone), split="train")["text"] == expected


def test_part_folders_without_readme_read_as_datasets_does(tmp_path):
    _jsonl(tmp_path / "parts" / "part1" / "train.jsonl", [{"text": f"p1 {i}"} for i in range(10)])
    _jsonl(tmp_path / "parts" / "part2" / "train.jsonl", [{"text": f"p2 {i}"} for i in range(12)])
    expected = _datasets_rows(tmp_path / "parts")
    assert len(expected) == 22
    assert load_any_dataset(str(tmp_path / "parts"), split="train")["text"] == expected
    assert load_any_dataset(str(tmp_path / "parts"), "part2", split="train")["text"] == expected[10:]


def test_a_saved_single_dataset_has_only_its_own_split(tmp_path):
    from datasets import Dataset

    Dataset.from_list([{"text": "x"}, {"text": "y"}]).save_to_disk(str(tmp_path / "saved"))
    assert load_any_dataset(str(tmp_path / "saved"), split="train[:1]")["text"] == ["x"]
    with pytest.raises(LangAdaptError, match="no split 'validation'; available: train"):  # datasets: Unknown split
        load_any_dataset(str(tmp_path / "saved"), split="validation")
    _jsonl(tmp_path / "v.jsonl", [{"text": "v"}])
    load_any_dataset(str(tmp_path / "v.jsonl"), split="train").save_to_disk(str(tmp_path / "named"))
    assert load_any_dataset(str(tmp_path / "named"), split="train")["text"] == ["v"]
