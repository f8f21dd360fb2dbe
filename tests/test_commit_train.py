"""commit_train.py end to end on a tiny Llama: both seed commands, exact resume, bad input, torchrun."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from safetensors.torch import load_file

from commit_train import main
from langadapt.cli import run_cli
from langadapt.commit.data import ExampleEncoder, PackedStream
from langadapt.commit.optim import masked_row_mean_loss
from folder_digest import folder_digest
from killed_runs import as_killed_after
from test_commit_args import align_command, commit_command

ROOT = Path(__file__).resolve().parents[1]
ALPACA = str(ROOT / "examples/data/alpaca_sample.json")
HINDI = str(ROOT / "examples/data/hi_text_sample.jsonl")
DICTS = str(ROOT / "dicts" / "sample")
SMALL = dict(total_steps=16, seq_length=64, batch_size=4)
FAST = ["--optimizer.adamw_optimizer.lr=3e-3", "--optimizer.adamw_optimizer.lr_warmup_steps=2"]


def held_out_loss(model_dir, mode, data_file):
    """Masked loss of a model on the first rows of the unmixed data, in eval mode (no dropout, no FCM)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    records = json.load(open(data_file)) if data_file.endswith(".json") else \
        [json.loads(line) for line in open(data_file, encoding="utf-8")]
    stream = PackedStream(Dataset.from_list(records), ExampleEncoder(tokenizer, mode), 64, shuffle=False)
    rows = stream.next_rows(8)
    with torch.no_grad():
        logits = model(rows["input_ids"]).logits
    return masked_row_mean_loss(logits, rows["targets"], rows["loss_mask"]).item()


@pytest.mark.slow
def test_seed_commands_train_both_stages_and_loss_falls(tiny_llama_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    aligned, tuned = str(tmp_path / "aligned"), str(tmp_path / "commit")
    wikipedia = tmp_path / "wikipedia"  # a local clone laid out by config: the seed's 20230601.hi applies
    (wikipedia / "data" / "20230601.hi").mkdir(parents=True)
    shutil.copy(HINDI, wikipedia / "data" / "20230601.hi" / "train-00000.jsonl")
    main(align_command(model=tiny_llama_dir, out=aligned, data=str(wikipedia), dicts=DICTS, **SMALL) + FAST)
    main(commit_command(model=aligned, out=tuned, data=ALPACA, dicts=DICTS, **SMALL) + FAST)
    assert held_out_loss(aligned, "text", HINDI) < held_out_loss(tiny_llama_dir, "text", HINDI) - 0.3
    assert held_out_loss(tuned, "alpaca", ALPACA) < held_out_loss(aligned, "alpaca", ALPACA) - 0.3
    results = json.loads((tmp_path / "commit" / "train_results.json").read_text())
    assert results["step"] == 16 and 0 < results["codemix"]["replaced"] < results["codemix"]["in_dictionary"]
    assert (tmp_path / "commit" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "commit" / "config.json").read_text())["attention_dropout"] == 0.0


FINAL_FILES = ("model.safetensors", "config.json", "train_results.json")


def metrics(folder):
    return [json.loads(line) for line in (Path(folder) / "metrics.jsonl").read_text().splitlines()]


def run_small(model, out, *extra):
    main(["--model_name_or_path", model, "--dataset_name", ALPACA, "--codemix_dict_path", f"{DICTS}/en-hi.txt",
          "--seq_length", "32", "--batch_size", "2", "--total_steps", "8", "--lr", "3e-3", "--warmup_steps", "2",
          "--lr_decay_steps", "8", "--save_steps", "4", "--log_steps", "1", "--output_dir", out, *extra])


@pytest.mark.slow
@pytest.mark.parametrize("extra, logged", [([], list(range(1, 9))),
                                           (["--gradient_accumulation_steps", "2", "--log_steps", "2"], [2, 4, 6, 8])])
def test_kill_and_resume_is_bit_identical(tiny_llama_dir, tmp_path, extra, logged):
    full = tmp_path / "full"
    run_small(tiny_llama_dir, str(full), *extra)
    resumed = as_killed_after(full, tmp_path / "resumed", 4, FINAL_FILES)
    run_small(tiny_llama_dir, str(resumed), "--resume_from_checkpoint", *extra)
    want, got = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    timeless = lambda path: [{k: v for k, v in record.items() if k != "tokens_per_second"}
                             for record in metrics(path) if record["kind"] == "train"]
    assert timeless(full) == timeless(resumed) and [r["step"] for r in timeless(resumed)] == logged
    assert [r["kind"] for r in metrics(resumed)] == ["train"] * len(logged) + ["final"]
    mixing = [json.loads((run / "train_results.json").read_text())["codemix"] for run in (full, resumed)]
    assert mixing[0] == mixing[1] and mixing[0]["words"] > 0

def test_accumulation_counts_batches_in_total_steps_as_easylm(tiny_llama_dir, tmp_path):
    """optax.MultiSteps: 8 batches with k=2 are 4 optimiser steps, and the schedule counts those."""
    run_small(tiny_llama_dir, str(tmp_path / "o"), "--gradient_accumulation_steps", "2", "--save_steps", "8")
    state = torch.load(tmp_path / "o" / "checkpoints" / "step-000000000008" / "training_state.pt", weights_only=True)
    assert state["scheduler"]["last_epoch"] == 4
    assert json.loads((tmp_path / "o" / "train_results.json").read_text())["train_tokens"] == 8 * 2 * 32


def test_sentencepiece_tokenizer_model_is_used_as_pasted(tmp_path, monkeypatch, capsys):
    """`--tokenizer.vocab_file=tokenizer.model`: converted when the file is there, else the model's own."""
    from sentencepiece import SentencePieceProcessor
    from transformers import AutoTokenizer

    from langadapt.commit.setup import sentencepiece_tokenizer
    from langadapt.toy_models import save_tiny_model, tiny_llama_config

    spm = ROOT / "tests/fixtures/tiny-spm/tokenizer.model"
    model = save_tiny_model(tiny_llama_config(500), sentencepiece_tokenizer(spm), tmp_path / "llama-spm")
    monkeypatch.chdir(tmp_path)
    flags = ["--total_steps=2", "--save_milestone_freq=0", "--train_dataset.huggingface_dataset.seq_length=32",
             "--train_dataset.huggingface_dataset.batch_size=2"]
    main(commit_command(model=model, out="absent", data=ALPACA, dicts=DICTS) + flags)
    assert "--tokenizer.vocab_file tokenizer.model not found: using the tokenizer of" in capsys.readouterr().err
    shutil.copyfile(spm, tmp_path / "tokenizer.model")
    main(commit_command(model=model, out="present", data=ALPACA, dicts=DICTS) + flags)
    assert "not found" not in capsys.readouterr().err
    assert json.loads((tmp_path / "present" / "train_results.json").read_text())["step"] == 2
    saved = AutoTokenizer.from_pretrained(tmp_path / "present")  # the model folder encodes as training did
    texts = [" Paris", "  two  spaces\n\nघर", "Paris"]
    expected = SentencePieceProcessor(model_file=str(spm)).encode(texts)
    assert saved(texts, add_special_tokens=False)["input_ids"] == expected


@pytest.mark.parametrize("extra, message", [
    (["--seq_length", "4096"], "exceeds the model's context"),
    (["--codemix_dict_path", "nowhere/en-th.txt"], "fetch_muse.py en-th"),
])
def test_bad_input_exits_2_with_one_line(tiny_llama_dir, tmp_path, capsys, extra, message):
    argv = ["--model_name_or_path", tiny_llama_dir, "--dataset_name", ALPACA, "--output_dir", str(tmp_path / "o"),
            "--total_steps", "1", "--seq_length", "32", "--batch_size", "1"] + extra
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error:") and message in error
    assert not (tmp_path / "o" / "config.json").exists()


def test_alpaca_data_without_output_column_is_refused(tiny_llama_dir, tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"instruction": "x", "response": "y"}\n')
    with pytest.raises(SystemExit):
        run_cli(main, ["--model_name_or_path", tiny_llama_dir, "--dataset_name", str(data), "--output_dir",
                       str(tmp_path / "o"), "--seq_length", "32"])
    assert "missing column(s) output" in capsys.readouterr().err


def torchrun_commit(model, out, *extra):
    """commit_train.py in two CPU processes (gloo) under torchrun; fails the test with the log tail if it fails."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
               str(ROOT / "commit_train.py"), "--model_name_or_path", model, "--dataset_name", ALPACA,
               "--codemix_dict_path", f"{DICTS}/en-hi.txt", "--batch_size", "4", "--output_dir", str(out), *extra]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(command, cwd=Path(out).parent, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_two_process_torchrun_on_cpu(tiny_llama_dir, tmp_path):
    out = tmp_path / "ddp"
    torchrun_commit(tiny_llama_dir, out, "--seq_length", "32", "--total_steps", "3", "--save_steps", "3")
    state = torch.load(out / "checkpoints" / "step-000000000003" / "training_state.pt", weights_only=True)
    assert json.loads((out / "run.json").read_text())["settings"]["world_size"] == 2 and len(state["ranks"]) == 2
    positions = [rank["data"]["tokens"].tolist() for rank in state["ranks"]]
    assert positions[0] != positions[1]  # each process packs its own shard
    assert (out / "model.safetensors").is_file()


def test_training_model_has_fp32_master_weights_whatever_the_checkpoint_dtype(tiny_llama_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from langadapt.commit.args import parse_args
    from langadapt.commit.setup import load_training_model

    half = tmp_path / "bf16-model"
    AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16).save_pretrained(half)
    model, _ = load_training_model(parse_args(["--model_name_or_path", str(half), "--output_dir", "o",
                                               "--seq_length", "32"]))
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_overwrite_with_data_too_small_for_a_batch_keeps_the_finished_run(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "finished"
    run_small(tiny_llama_dir, str(out), "--total_steps", "2", "--save_steps", "0")
    before = folder_digest(out)
    tiny = tmp_path / "tiny.json"
    tiny.write_text(json.dumps([{"instruction": "Hi.", "input": "", "output": "Yes."}]))
    argv = ["--model_name_or_path", tiny_llama_dir, "--dataset_name", str(tiny), "--output_dir", str(out),
            "--seq_length", "64", "--batch_size", "4", "--total_steps", "2", "--overwrite_output_dir"]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    assert exit_info.value.code == 2
    assert "too few tokens for one batch" in capsys.readouterr().err
    assert folder_digest(out) == before
