"""Fail fast: each script refuses a bad language, model, dataset, dictionary, device or precision before its
first expensive step, with one message naming the flag, the value and the fix."""
import json
import logging
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import build_opus_corpus
import commit_train
import run_adaptation
import run_clm
import run_eval
import run_flores_ppl
from langadapt.errors import LangAdaptError
from langadapt.preflight import has_accelerator, usable_precision, warn_once

ROOT = Path(__file__).resolve().parents[1]
ALPACA = str(ROOT / "examples/data/alpaca_sample.json")
cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="checks what happens without CUDA")


@pytest.fixture(autouse=True)
def offline_and_empty_cache(monkeypatch, tmp_path):
    """Offline, with a hub cache that holds nothing, whatever this machine has downloaded."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets-cache"))


def refusal(main, argv) -> str:
    with pytest.raises(LangAdaptError) as raised:
        main(argv)
    message = str(raised.value)
    assert "\n" not in message
    return message


def never(*_args, **_kwargs):
    raise AssertionError("an expensive step ran before the input check")


# --------------------------------------------------------------------------------------------- languages
def test_unknown_language_names_the_flag_and_close_codes(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setattr("run_flores_ppl.load_flores_sentences", never)
    message = refusal(run_flores_ppl.main, ["--model_path", tiny_gpt2_dir, "--lang", "swahili"])
    assert message.startswith("--lang swahili: unknown language code")
    assert "swa" in message and "swh" in message and "swh_Latn" in message


def test_flores_ppl_cli_exits_2_with_one_line(tiny_gpt2_dir):
    result = subprocess.run([sys.executable, str(ROOT / "run_flores_ppl.py"), "--model_path", tiny_gpt2_dir,
                             "--lang", "swahili"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --lang swahili: unknown language code")


def test_corpus_languages_name_the_flag(tmp_path):
    message = refusal(build_opus_corpus.main, ["--src", "english", "--hf_out", str(tmp_path / "o"),
                                               "--work_dir", str(tmp_path / "w")])
    assert message.startswith("--src english: unknown language code") and "eng" in message


# ------------------------------------------------------------------------------------------ models, data
def test_flores_ppl_checks_model_and_offline_dataset_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr("run_flores_ppl.load_flores_sentences", never)
    message = refusal(run_flores_ppl.main, ["--model_path", "nobody/no-model", "--lang", "swh"])
    assert message.startswith("--model_path nobody/no-model: not a local path and HF_HUB_OFFLINE=1")
    assert "pass a local folder" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    message = refusal(run_flores_ppl.main, ["--model_path", str(empty), "--lang", "swh"])
    assert message.startswith(f"--model_path {empty}: not a model folder (it holds no config.json)")


def test_flores_ppl_offline_hub_dataset_points_at_a_local_copy(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setattr("run_flores_ppl.load_flores_sentences", never)
    message = refusal(run_flores_ppl.main, ["--model_path", tiny_gpt2_dir, "--lang", "swh"])
    assert message.startswith("--dataset openlanguagedata/flores_plus: not a local path and HF_HUB_OFFLINE=1")
    assert "local flores200_dataset folder" in message and "unset HF_HUB_OFFLINE" in message


def test_cached_hub_ids_pass_offline(tmp_path):
    from langadapt.preflight import check_model_source

    snapshot = tmp_path / "hub-cache" / "models--someone--cached" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    check_model_source("--model_path", "someone/cached")


def test_unloadable_labse_is_refused_before_any_corpus_is_read(tmp_path, monkeypatch):
    from langadapt.corpus import pipeline

    monkeypatch.setattr(pipeline, "build_corpus", never)
    monkeypatch.setattr(pipeline, "_read_stage", never)
    base = ["--src", "eng", "--tgt", "swh", "--hf_out", str(tmp_path / "out"), "--work_dir", str(tmp_path / "work"),
            "--corpora", "CorpA", "--labse_threshold", "0.5", "--opus_download_dir", str(tmp_path / "opus")]
    message = refusal(build_opus_corpus.main, [*base, "--labse_model", "/nope"])
    assert message.startswith("--labse_model /nope: no such folder")
    message = refusal(build_opus_corpus.main, [*base, "--labse_model", "nobody/labse"])
    assert message.startswith("--labse_model nobody/labse: not a local path and HF_HUB_OFFLINE=1")
    assert not (tmp_path / "work").exists() and not (tmp_path / "out").exists()


def test_offline_validation_dataset_points_at_validation_file(tiny_backpack_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("langadapt.sense_adaptation.trainer.build_accelerator", never)
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"translation": {"eng": "a house", "swh": "nyumba"}}) + "\n")
    argv = ["--model_id", tiny_backpack_dir, "--dataset_name", str(data), "--src", "eng", "--tgt", "swh",
            "--save_dir", str(tmp_path / "run"), "--eval_every_n_steps", "2"]
    message = refusal(run_adaptation.main, argv)
    assert message.startswith("--validation_dataset openlanguagedata/flores_plus: not a local path and "
                              "HF_HUB_OFFLINE=1")
    assert "pass --validation_file with a local flores200_dataset folder" in message
    message = refusal(run_adaptation.main, [*argv, "--tgt", "swahili"])
    assert message.startswith("--tgt swahili: unknown language code")
    assert not (tmp_path / "run").exists()


def test_run_clm_checks_its_dataset_before_the_model(tiny_backpack_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("langadapt.clm.runner.build_model", never)
    message = refusal(run_clm.main, ["--model_name_or_path", tiny_backpack_dir, "--dataset_name", "nobody/texts",
                                     "--do_train", "--output_dir", str(tmp_path / "out")])
    assert message.startswith("--dataset_name nobody/texts: not a local path and HF_HUB_OFFLINE=1")
    assert "--train_file" in message and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------- COMMIT specifics
def commit_argv(tmp_path, *extra):
    return ["--dataset_name", ALPACA, "--output_dir", str(tmp_path / "o"), "--total_steps", "1",
            "--seq_length", "32", "--batch_size", "1", *extra]


def test_load_checkpoint_path_is_checked_and_named(tmp_path, monkeypatch):
    monkeypatch.setattr("langadapt.commit.loop.load_training_tokenizer", never)
    message = refusal(commit_train.main, commit_argv(tmp_path, "--load_checkpoint=params::/nope",
                                                     "--train_dataset.text_processor.alpaca=True"))
    assert message.startswith("--load_checkpoint params::/nope: no such folder")


def test_malformed_dictionary_line_fails_before_the_model_loads(tiny_llama_dir, tmp_path, monkeypatch):
    monkeypatch.setattr("langadapt.commit.loop.load_training_tokenizer", never)
    monkeypatch.setattr("langadapt.commit.loop.load_training_model", never)
    dictionary = tmp_path / "en-hi.txt"
    dictionary.write_text("house\tघर\nthree words here\n", encoding="utf-8")
    message = refusal(commit_train.main, commit_argv(tmp_path, "--model_name_or_path", tiny_llama_dir,
                                                     "--codemix_dict_path", str(dictionary)))
    assert message.startswith(f"--codemix_dict_path {dictionary}:2: expected `source<TAB>target`")
    missing = tmp_path / "en-th.txt"
    message = refusal(commit_train.main, commit_argv(tmp_path, "--model_name_or_path", tiny_llama_dir,
                                                     "--codemix_dict_path", str(missing)))
    assert message.startswith(f"--codemix_dict_path {missing}: no such dictionary file") and "fetch_muse" in message


# ------------------------------------------------------------------------------------- task and device
def test_unknown_task_and_missing_cuda(tiny_gpt2_dir, monkeypatch):
    monkeypatch.setattr("run_eval.load_model_for_eval", never)
    message = refusal(run_eval.main, ["--model_path", tiny_gpt2_dir, "--task", "xcopaa", "--lang", "sw"])
    assert message.startswith("--task xcopaa: unknown task; supported:") and "xcopa" in message
    message = refusal(run_eval.main, ["--model_path", tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw",
                                      "--data_path", "./no/xcopa.jsonl"])
    assert message.startswith("--data_path ./no/xcopa.jsonl: no such file or folder")
    message = refusal(run_eval.main, ["--model_path", tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw",
                                      "--device", "gpu"])
    assert message.startswith("--device gpu: not a device; use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        message = refusal(run_eval.main, ["--model_path", tiny_gpt2_dir, "--task", "xcopa", "--lang", "sw",
                                          "--device", "cuda"])
        assert message.startswith("--device cuda: CUDA is not available on this machine; use --device cpu")


# ----------------------------------------------------------------------------------------------- precision
@pytest.fixture()
def warnings_seen(caplog):
    warn_once.cache_clear()  # each test sees its own first warning
    caplog.set_level(logging.WARNING, logger="langadapt.preflight")
    return caplog


def test_one_precision_rule_for_every_script(warnings_seen):
    assert usable_precision("fp16", "--use_fp16", on_cpu=True) == "no"
    assert usable_precision("fp16", "--use_fp16", on_cpu=True) == "no"
    assert usable_precision("bf16", "--bf16", on_cpu=True) == "bf16"
    assert usable_precision("bf16", "--bf16", on_cpu=True, cpu_bf16=False) == "no"
    assert usable_precision("fp16", "--fp16", on_cpu=False) == "fp16"
    messages = [r.getMessage() for r in warnings_seen.records]
    assert messages[0] == "--use_fp16: no GPU in use, so this run falls back to fp32 (fp16 needs a GPU)"
    assert len(messages) == 3  # the repeated warning is logged once


def test_bf16_on_a_gpu_without_it_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla V100")
    with pytest.raises(LangAdaptError, match=r"^--bf16: this GPU \(Tesla V100\) has no bf16 support; pass --fp16"):
        usable_precision("bf16", "--bf16", on_cpu=False)


@cpu_only
def test_fp16_on_cpu_falls_back_alike_in_the_training_scripts(warnings_seen, tmp_path, monkeypatch):
    from langadapt.clm.arguments import parse_clm_arguments
    from langadapt.commit import loop
    from langadapt.sense_adaptation.trainer import mixed_precision

    assert not has_accelerator()
    args = parse_clm_arguments(["--model_name_or_path", "m", "--train_file", "t.txt", "--do_train", "--fp16",
                                "--output_dir", str(tmp_path / "o")])[2]
    assert not args.fp16
    chosen = {}
    monkeypatch.setattr(loop, "build_accelerator", lambda precision: chosen.setdefault("commit", precision))
    loop._accelerator(types.SimpleNamespace(fsdp=False, bf16=False, fp16=True))
    assert chosen["commit"] == "no"
    assert mixed_precision(types.SimpleNamespace(bf16=False, use_fp16=True)) == "no"
    messages = {r.getMessage() for r in warnings_seen.records}
    assert messages == {f"{flag}: no GPU in use, so this run falls back to fp32 (fp16 needs a GPU)"
                        for flag in ("--fp16", "--use_fp16")}
