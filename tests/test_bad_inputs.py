"""Every bad input a new user was seen to give, in one table: exit status 2, exactly one `error:` line that
names the flag, no traceback, and no input file changed.

Most rows run a script's `main` through `run_cli` in this process (the same path as the command line,
without paying the imports again per row); `test_the_command_line_itself` runs one row per training script
as a real subprocess. Rows marked `new` were tracebacks, rc 0 or messages without their flag before issue
25; the others were already right and are kept here so they stay so (tests/test_fail_fast.py,
tests/test_corpus_build.py, tests/test_analysis_scripts.py, tests/test_eval_cli.py hold their details).
"""
import hashlib
import importlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from langadapt.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "data"
XCOPA = EXAMPLES / "eval" / "xcopa_sw_test.jsonl"
FLORES = EXAMPLES / "eval" / "flores"
PARALLEL = EXAMPLES / "hf_parallel_eng_swh"
ALPACA = EXAMPLES / "alpaca_sample.json"

BELEBELE_ROW = {"flores_passage": "Soko hufunguliwa mapema.", "question": "Soko hufunguliwa lini?",
                "mc_answer1": "Usiku", "mc_answer2": "Asubuhi", "mc_answer3": "Jioni", "mc_answer4": "Kamwe",
                "correct_answer_num": "2", "dialect": "swh_Latn", "question_number": 1}
STORY_ROW = {**{f"input_sentence_{i}": f"Sentensi {i}." for i in range(1, 5)}, "sentence_quiz1": "Mwisho mzuri.",
             "sentence_quiz2": "Mwisho mbaya.", "answer_right_ending": 1}
QA_ROW = {"id": "q1", "context": "Mumbai ni mji.", "question": "Mji gani?", "answers": {"text": ["Mumbai"],
                                                                                        "answer_start": [0]}}


def _jsonl(path: Path, rows) -> str:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def _without(row: dict, field: str) -> dict:
    return {key: value for key, value in row.items() if key != field}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, tiny_gpt2_dir, tiny_llama_dir, tiny_backpack_dir):
    """Every input a row points at: the tiny models, broken copies of them, and small data files."""
    import shutil

    from safetensors.torch import load_file

    root = tmp_path_factory.mktemp("bad-inputs")
    paths = {"gpt2": tiny_gpt2_dir, "llama": tiny_llama_dir, "backpack": tiny_backpack_dir, "xcopa": str(XCOPA),
             "flores": str(FLORES), "parallel": str(PARALLEL), "alpaca": str(ALPACA), "root": str(root)}
    (root / "a_file").write_text("not a folder\n")
    paths["file"] = str(root / "a_file")
    (root / "empty_folder").mkdir()
    paths["empty_folder"] = str(root / "empty_folder")
    (root / "empty.txt").write_text("")
    (root / "empty.json").write_text("[]\n")
    (root / "texts").write_text("a line of text\n")  # no suffix: no reader for it
    (root / "train.txt").write_text((EXAMPLES / "english_train.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (root / "malformed.json").write_text("{not json")
    for name in ("empty.txt", "empty.json", "texts", "train.txt", "malformed.json"):
        paths[name.replace(".", "_")] = str(root / name)
    xcopa = [json.loads(line) for line in XCOPA.read_text(encoding="utf-8").splitlines()]
    paths["xcopa_missing"] = _jsonl(root / "xcopa_missing.jsonl", [xcopa[0], _without(xcopa[1], "choice2")])
    paths["xcopa_null"] = _jsonl(root / "xcopa_null.jsonl", [xcopa[0], {**xcopa[1], "choice2": None}])
    paths["belebele_null"] = _jsonl(root / "belebele.jsonl", [BELEBELE_ROW, {**BELEBELE_ROW, "mc_answer3": None}])
    paths["story_missing"] = _jsonl(root / "story.jsonl", [STORY_ROW, _without(STORY_ROW, "sentence_quiz2")])
    paths["xquad_null"] = _jsonl(root / "xquad.jsonl", [QA_ROW, {**QA_ROW, "answers": None}])
    dictionary = root / "en-hi.txt"
    dictionary.write_text("house\tघर\nthree words here\n", encoding="utf-8")
    paths["bad_dictionary"] = str(dictionary)

    def broken_copy(source: str, name: str) -> Path:
        folder = root / name
        shutil.copytree(source, folder)
        return folder

    for model in ("gpt2", "backpack"):  # pytorch_model.bin cut to 5,000 bytes
        folder = broken_copy(paths[model], f"{model}_truncated")
        weights = load_file(str(folder / "model.safetensors"))
        (folder / "model.safetensors").unlink()
        torch.save(weights, folder / "pytorch_model.bin")
        (folder / "pytorch_model.bin").write_bytes((folder / "pytorch_model.bin").read_bytes()[:5000])
        paths[f"{model}_truncated"] = str(folder)
        folder = broken_copy(paths[model], f"{model}_wider")  # a config that does not fit its weights
        config = json.loads((folder / "config.json").read_text())
        config["vocab_size"] += 8
        (folder / "config.json").write_text(json.dumps(config))
        paths[f"{model}_wider"] = str(folder)
    folder = broken_copy(paths["llama"], "llama_no_spm")  # a LLaMA folder whose tokenizer.model is missing
    (folder / "tokenizer.json").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "LlamaTokenizer"}))
    paths["llama_no_spm"] = str(folder)
    folder = broken_copy(paths["backpack"], "backpack_no_tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    paths["backpack_no_tokenizer"] = str(folder)
    return paths


def fingerprint(paths: dict) -> dict:
    """sha256 of every file under every input (the per-row output folders live elsewhere)."""
    digests = {}
    for key in ("gpt2", "llama", "backpack", "root", "xcopa", "flores", "parallel", "alpaca"):
        top = Path(paths[key])
        for path in sorted([top] if top.is_file() else top.rglob("*")):
            if path.is_file():
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


@pytest.fixture(autouse=True)
def offline_and_empty_cache(monkeypatch, tmp_path):
    """Offline, with a hub cache that holds nothing, whatever this machine has downloaded; the libraries'
    log levels and the root logger as they were after each row."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))
    for variable in ("TRANSFORMERS_VERBOSITY", "DATASETS_VERBOSITY", "TQDM_DISABLE"):
        monkeypatch.setenv(variable, "")
    import transformers

    root = logging.getLogger()
    handlers, level, verbosity = root.handlers[:], root.level, transformers.logging.get_verbosity()
    yield
    root.handlers[:], root.level = handlers, level
    transformers.logging.set_verbosity(verbosity)


# (id, script, argv with {placeholders} from `inputs` plus {out}, the flag the error must name, new)
CORPUS = ["--src", "eng", "--tgt", "swh", "--hf_out", "{out}/hf", "--work_dir", "{out}/work", "--labse_threshold",
          "0", "--no-langid"]
CLM = ["--model_name_or_path", "{backpack}", "--train_file", "{train_txt}", "--do_train", "--output_dir",
       "{out}/clm", "--max_steps", "1", "--block_size", "16"]
ADAPT = ["--model_id", "{backpack}", "--dataset_name", "{parallel}", "--src", "eng", "--tgt", "swh", "--save_dir",
         "{out}/adapt", "--eval_every_n_steps", "0", "--max_length", "64", "--max_steps", "1"]
COMMIT = ["--model_name_or_path", "{llama}", "--dataset_name", "{alpaca}", "--output_dir", "{out}/commit",
          "--total_steps", "1", "--seq_length", "32", "--batch_size", "1"]
EVAL = ["--model_path", "{gpt2}", "--task", "xcopa", "--lang", "sw", "--data_path", "{xcopa}", "--device", "cpu"]
ABLATIONS = ["--model", "{backpack}", "--src", "eng", "--tgt", "swh", "--out_dir", "{out}/ablations", "--dataset",
             "{flores}", "--aligner", "eflomal"]
COLLAPSE = ["--ckpt", "{backpack}", "--dataset", "{flores}", "--lang", "swh_Latn", "--device", "cpu"]
INSPECT = ["--model", "{backpack}", "--words", "house", "--out_dir", "{out}/inspect", "--device", "cpu"]
FLORES_PPL = ["--model_path", "{gpt2}", "--lang", "swh", "--dataset", "{flores}", "--device", "cpu"]

CASES = [
    # ---------------------------------------------------------------- new: an output folder under a file
    ("clm-output-under-file", "run_clm", [*CLM, "--output_dir", "{file}/out"], "--output_dir", True),
    ("adapt-save-under-file", "run_adaptation", [*ADAPT, "--save_dir", "{file}/out"], "--save_dir", True),
    ("commit-output-under-file", "commit_train", [*COMMIT, "--output_dir", "{file}/out"], "--output_dir", True),
    ("corpus-hf-out-under-file", "build_opus_corpus", [*CORPUS, "--corpora", "--hf_corpora", "{parallel}",
                                                       "--hf_out", "{file}/out"], "--hf_out", True),
    ("corpus-work-dir-is-file", "build_opus_corpus", [*CORPUS, "--corpora", "--hf_corpora", "{parallel}",
                                                      "--work_dir", "{file}"], "--work_dir", True),
    ("ablations-out-under-file", "run_ablations", [*ABLATIONS, "--out_dir", "{file}/o"], "--out_dir", True),
    # ------------------------------------------------------------------------ new: sizes, data, rows
    ("clm-batch-size-0", "run_clm", [*CLM, "--per_device_train_batch_size", "0"], "--per_device_train_batch_size",
     True),
    ("clm-eval-batch-size-negative", "run_clm", [*CLM, "--per_device_eval_batch_size", "-1"],
     "--per_device_eval_batch_size", True),
    ("commit-empty-json-list", "commit_train", [*COMMIT, "--dataset_name", "{empty_json}"], "--dataset_name", True),
    ("eval-xcopa-choice2-missing", "run_eval", [*EVAL, "--data_path", "{xcopa_missing}"], "--data_path", True),
    ("eval-xcopa-choice2-null", "run_eval", [*EVAL, "--data_path", "{xcopa_null}"], "--data_path", True),
    ("eval-belebele-mc-answer3-null", "run_eval", [*EVAL, "--task", "belebele", "--lang", "swh_Latn",
                                                   "--data_path", "{belebele_null}"], "--data_path", True),
    ("eval-xstorycloze-quiz2-missing", "run_eval", [*EVAL, "--task", "xstorycloze", "--data_path",
                                                    "{story_missing}"], "--data_path", True),
    ("eval-xquad-answers-null", "run_eval", [*EVAL, "--task", "xquad", "--lang", "hi", "--data_path",
                                             "{xquad_null}"], "--data_path", True),
    ("corpus-empty-hf-folder", "build_opus_corpus", [*CORPUS, "--corpora", "--hf_corpora", "{empty_folder}"],
     "--hf_corpora", True),
    ("corpus-bad-split-slice", "build_opus_corpus", [*CORPUS, "--corpora", "--hf_corpora", "{parallel}",
                                                     "--hf_corpora_split", "train[:abc]"], "--hf_corpora_split", True),
    ("corpus-missing-split", "build_opus_corpus", [*CORPUS, "--corpora", "--hf_corpora", "{parallel}",
                                                   "--hf_corpora_split", "test[:10%]"], "--hf_corpora_split", True),
    # ------------------------------------------------------------------------- new: the flag is named
    ("clm-empty-train-file", "run_clm", [*CLM, "--train_file", "{empty_txt}"], "--train_file", True),
    ("commit-bad-slice", "commit_train", [*COMMIT, "--dataset_split", "train[:abc]"], "--dataset_split", True),
    ("adapt-bad-slice", "run_adaptation", [*ADAPT, "--dataset_split", "test[:-]"], "--dataset_split", True),
    ("eval-bad-slice", "run_eval", [*EVAL, "--split", "test[:-]"], "--split", True),
    ("clm-bogus-config", "run_clm", [*CLM[:2], "--dataset_name", "{parallel}", *CLM[4:],
                                     "--dataset_config_name", "bogus"], "--dataset_config_name", True),
    ("commit-bogus-config", "commit_train", [*COMMIT, "--dataset_config_name", "bogus"], "--dataset_config_name",
     True),
    ("adapt-bogus-config", "run_adaptation", [*ADAPT, "--dataset_config", "bogus"], "--dataset_config", True),
    ("clm-validation-file-without-suffix", "run_clm", [*CLM, "--do_eval", "--validation_file", "{texts}"],
     "--validation_file", True),
    ("corpus-opus-download-dir-is-file", "build_opus_corpus", [*CORPUS, "--corpora", "CorpA",
                                                               "--opus_download_dir", "{file}"],
     "--opus_download_dir", True),
    ("corpus-none-available", "build_opus_corpus", [*CORPUS, "--corpora", "Nope", "--opus_download_dir",
                                                    "{out}/opus"], "--corpora", True),
    ("ablations-missing-model", "run_ablations", [*ABLATIONS, "--model", "{root}/nope"], "--model", True),
    ("collapse-missing-ckpt", "run_ablation_sense_collapse", [*COLLAPSE, "--ckpt", "{root}/nope"], "--ckpt", True),
    ("inspect-missing-model", "inspect_senses", [*INSPECT, "--model", "{root}/nope"], "--model", True),
    # ------------------------------------------------------------------ new: misleading messages fixed
    ("eval-tokenizer-model-missing", "run_eval", [*EVAL, "--model_path", "{llama_no_spm}"], "--model_path", True),
    ("commit-tokenizer-model-missing", "commit_train", [*COMMIT, "--model_name_or_path", "{llama_no_spm}"],
     "--model_name_or_path", True),
    ("ablations-tokenizer-missing", "run_ablations", [*ABLATIONS, "--model", "{backpack_no_tokenizer}"], "--model",
     True),
    ("ablations-bad-tokenizer-flag", "run_ablations", [*ABLATIONS, "--tokenizer", "{empty_folder}"], "--tokenizer",
     True),
    ("eval-truncated-backpack-bin", "run_eval", [*EVAL, "--model_path", "{backpack_truncated}"], "--model_path",
     True),
    ("eval-truncated-gpt2-bin", "run_eval", [*EVAL, "--model_path", "{gpt2_truncated}"], "--model_path", True),
    ("clm-truncated-backpack-bin", "run_clm", [*CLM, "--model_name_or_path", "{backpack_truncated}"],
     "--model_name_or_path", True),
    ("eval-gpt2-shape-mismatch", "run_eval", [*EVAL, "--model_path", "{gpt2_wider}"], "--model_path", True),
    ("eval-backpack-shape-mismatch", "run_eval", [*EVAL, "--model_path", "{backpack_wider}"], "--model_path", True),
    # ---------------------------------------------------------------------------- already right
    ("ppl-unknown-language", "run_flores_ppl", [*FLORES_PPL, "--lang", "swahili"], "--lang", False),
    ("ppl-hub-model-offline", "run_flores_ppl", [*FLORES_PPL, "--model_path", "nobody/no-model"], "--model_path",
     False),
    ("ppl-folder-without-config", "run_flores_ppl", [*FLORES_PPL, "--model_path", "{empty_folder}"],
     "--model_path", False),
    ("ppl-hub-dataset-offline", "run_flores_ppl", [*FLORES_PPL, "--dataset", "openlanguagedata/flores_plus"],
     "--dataset", False),
    ("corpus-unknown-src", "build_opus_corpus", [*CORPUS, "--src", "english"], "--src", False),
    ("corpus-unknown-tgt", "build_opus_corpus", [*CORPUS, "--tgt", "xyz"], "--tgt", False),
    ("corpus-labse-missing-folder", "build_opus_corpus", [*CORPUS, "--labse_threshold", "0.5", "--labse_model",
                                                          "/nope"], "--labse_model", False),
    ("corpus-labse-hub-offline", "build_opus_corpus", [*CORPUS, "--labse_threshold", "0.5", "--labse_model",
                                                       "nobody/labse"], "--labse_model", False),
    ("corpus-len-ratio", "build_opus_corpus", [*CORPUS, "--len_ratio_low", "2.5"], "--len_ratio_low", False),
    ("corpus-labse-threshold", "build_opus_corpus", [*CORPUS, "--labse_threshold", "1.5"], "--labse_threshold",
     False),
    ("corpus-missing-hf-folder", "build_opus_corpus", [*CORPUS, "--hf_corpora", "./no/such/folder"], "--hf_corpora",
     False),
    ("corpus-batch-size-0", "build_opus_corpus", [*CORPUS, "--batch_size", "0"], "--batch_size", False),
    ("corpus-min-over-max", "build_opus_corpus", [*CORPUS, "--min_len", "5", "--max_len", "2"], "--min_len", False),
    ("corpus-out-inside-input", "build_opus_corpus", [*CORPUS, "--corpora", "--hf_corpora", "{parallel}",
                                                      "--hf_out", "{parallel}/out"], "--hf_out", False),
    ("adapt-hub-validation-offline", "run_adaptation", [*ADAPT, "--eval_every_n_steps", "2"], "--validation_dataset",
     False),
    ("adapt-unknown-tgt", "run_adaptation", [*ADAPT, "--eval_every_n_steps", "2", "--tgt", "swahili"], "--tgt",
     False),
    ("adapt-max-length-over-positions", "run_adaptation", [*ADAPT, "--max_length", "512"], "--max_length", False),
    ("clm-hub-dataset-offline", "run_clm", [*CLM[:2], "--dataset_name", "nobody/texts", *CLM[4:]], "--dataset_name",
     False),
    ("clm-warmup-ratio", "run_clm", [*CLM, "--warmup_ratio", "1.5"], "--warmup_ratio", False),
    ("clm-train-without-data", "run_clm", [*CLM[:2], *CLM[4:]], "--do_train", False),
    ("clm-validation-percentage", "run_clm", [*CLM, "--validation_split_percentage", "100"],
     "--validation_split_percentage", False),
    ("clm-missing-model", "run_clm", [*CLM, "--model_name_or_path", "{root}/nope"], "--model_name_or_path", False),
    ("commit-missing-load-checkpoint", "commit_train", [*COMMIT[2:], "--load_checkpoint=params::/nope",
                                                        "--train_dataset.text_processor.alpaca=True"],
     "--load_checkpoint", False),
    ("commit-malformed-dictionary", "commit_train", [*COMMIT, "--codemix_dict_path", "{bad_dictionary}"],
     "--codemix_dict_path", False),
    ("commit-missing-dictionary", "commit_train", [*COMMIT, "--codemix_dict_path", "{root}/en-th.txt"],
     "--codemix_dict_path", False),
    ("commit-llama-config-not-json", "commit_train", [*COMMIT, "--update_llama_config", "{{nope"],
     "--update_llama_config", False),
    ("eval-unknown-task", "run_eval", [*EVAL, "--task", "xcopaa"], "--task", False),
    ("eval-missing-data-path", "run_eval", [*EVAL, "--data_path", "./no/xcopa.jsonl"], "--data_path", False),
    ("eval-not-a-device", "run_eval", [*EVAL, "--device", "gpu"], "--device", False),
    ("eval-unknown-language", "run_eval", [*EVAL, "--lang", "xx"], "--lang", False),
    ("eval-negative-subset", "run_eval", [*EVAL, "--subset", "-1"], "--subset", False),
    ("eval-fp16-and-bf16", "run_eval", [*EVAL, "--fp16", "--bf16"], "--fp16", False),
    ("ablations-not-a-backpack", "run_ablations", [*ABLATIONS, "--model", "{gpt2}"], "--model", False),
    ("ablations-batch-size-0", "run_ablations", [*ABLATIONS, "--batch_size", "0"], "--batch_size", False),
    ("collapse-not-a-backpack", "run_ablation_sense_collapse", [*COLLAPSE, "--ckpt", "{gpt2}"], "--ckpt", False),
    ("collapse-topk-over-senses", "run_ablation_sense_collapse", [*COLLAPSE, "--inference-topk", "9"],
     "--inference-topk", False),
    ("inspect-top-tokens-0", "inspect_senses", [*INSPECT, "--top_tokens", "0"], "--top_tokens", False),
]
if not torch.cuda.is_available():
    CASES.append(("eval-no-cuda", "run_eval", [*EVAL, "--device", "cuda"], "--device", False))


def expand(argv, paths: dict, out: Path) -> list[str]:
    return [arg.format(**paths, out=out) for arg in argv]


def check_one_error(stderr: str, flag: str, new: bool) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr[-3000:]
    assert flag in errors[0], errors[0]
    if new:  # the issue's form: `error: <flag> <value>: what is wrong; fix`
        assert errors[0].startswith(f"error: {flag} "), errors[0]
    return errors[0]


def test_the_table_holds_the_issue_rows_and_the_rows_already_right():
    assert len({case[0] for case in CASES}) == len(CASES)
    assert sum(not case[4] for case in CASES) >= 29
    assert sum(case[4] for case in CASES) >= 30


@pytest.mark.parametrize("name, script, argv, flag, new", CASES, ids=[case[0] for case in CASES])
def test_bad_input(name, script, argv, flag, new, inputs, tmp_path, capsys):
    before = fingerprint(inputs)
    with pytest.raises(SystemExit) as stop:
        run_cli(importlib.import_module(script).main, expand(argv, inputs, tmp_path))
    stderr = capsys.readouterr().err
    assert stop.value.code == 2, stderr[-3000:]
    check_one_error(stderr, flag, new)
    assert fingerprint(inputs) == before


SUBPROCESS_CASES = ["corpus-hf-out-under-file",  # the three others import torch first: 20 s each on 2 cores
                    *(pytest.param(name, marks=pytest.mark.slow) for name in
                      ("clm-output-under-file", "adapt-save-under-file", "commit-output-under-file"))]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_the_command_line_itself(name, inputs, tmp_path):
    """The four training scripts as commands: an output folder under a file is refused before any input
    loads (the data file is malformed and the model's weights are cut short, so loading either would fail
    with another message)."""
    _, script, argv, flag, new = next(case for case in CASES if case[0] == name)
    argv = expand(argv, {**inputs, "train_txt": inputs["malformed_json"], "alpaca": inputs["malformed_json"],
                         "backpack": inputs["backpack_truncated"], "gpt2": inputs["gpt2_truncated"]}, tmp_path)
    before = fingerprint(inputs)
    result = subprocess.run([sys.executable, str(ROOT / f"{script}.py"), *argv], capture_output=True, text=True,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    line = check_one_error(result.stderr, flag, new)
    assert "is a file, not a folder" in line
    assert fingerprint(inputs) == before


def test_a_label_past_the_vocabulary_is_a_value_error_naming_id_and_size():
    from langadapt.errors import LangAdaptError
    from langadapt.toy_models import tiny_backpack_model

    model = tiny_backpack_model()
    input_ids = torch.randint(0, 61, (2, 8), generator=torch.Generator().manual_seed(0))
    labels = input_ids.clone()
    labels[0, 3] = -100  # "no target" stays allowed
    assert torch.isfinite(model(input_ids=input_ids, labels=labels).loss)
    labels[1, 5] = 61
    with pytest.raises(ValueError, match=r"label id 61 is outside the model's vocabulary of 61 ids \(0\.\.60, or "
                                         r"-100 for no target\)") as raised:
        model(input_ids=input_ids, labels=labels)
    assert isinstance(raised.value, LangAdaptError)  # a CLI prints it as its one `error:` line


def test_run_ablations_uses_its_tokenizer_flag(inputs):
    """--tokenizer was parsed and ignored: the model folder's own tokenizer was loaded instead."""
    from langadapt.evaluation.model_io import load_model_for_eval

    _, tokenizer = load_model_for_eval(inputs["backpack_no_tokenizer"], "cpu", flag="--model",
                                       tokenizer=("--tokenizer", inputs["backpack"]))
    assert tokenizer.name_or_path == inputs["backpack"]


def test_hf_corpora_split_percentages_are_applied(tmp_path):
    """`datasets` split strings, percentages included, read the same rows as datasets' own slicing."""
    from datasets import Dataset

    from langadapt.corpus.hf_reader import HFSource

    rows = [{"translation": {"eng": f"sentence {i}", "swh": f"sentensi {i}"}} for i in range(20)]
    path = tmp_path / "pairs.jsonl"
    Dataset.from_list(rows).to_json(str(path))
    expected = Dataset.from_list(rows).select(range(5, 10))
    pairs = list(HFSource(str(path), "eng", "swh", split="train[25%:50%]").pairs())
    assert pairs == [(row["translation"]["eng"], row["translation"]["swh"]) for row in expected]
