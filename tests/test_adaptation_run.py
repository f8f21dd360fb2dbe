"""run_adaptation.py end to end on a tiny Backpack and a tiny synthetic parallel set."""
import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import run_adaptation
from folder_digest import folder_digest
from langadapt.cli import run_cli

EN = "house people live family building dog fox quick brown lazy instruction task answer question".split()
SW = "nyumba watu wanaishi familia jengo mbwa mbweha haraka kahawia mvivu maelekezo kazi jibu swali".split()
REPO = Path(__file__).resolve().parent.parent


def word_pairs(count, seed):
    """Word-for-word 'translations': an alignment the model can learn in a few steps."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        words = [rng.randrange(len(EN)) for _ in range(rng.randint(3, 6))]
        pairs.append((" ".join(EN[i] for i in words), " ".join(SW[i] for i in words)))
    return pairs


@pytest.fixture(scope="module")
def parallel_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("adaptation-data")
    train = root / "train.jsonl"
    train.write_text("".join(json.dumps({"translation": {"eng": s, "swh": t}}) + "\n" for s, t in word_pairs(64, 0)))
    dev = word_pairs(32, 1)
    (root / "flores" / "devtest").mkdir(parents=True)
    (root / "flores" / "devtest" / "eng_Latn.devtest").write_text("\n".join(s for s, _ in dev) + "\n")
    (root / "flores" / "devtest" / "swh_Latn.devtest").write_text("\n".join(t for _, t in dev) + "\n")
    return {"train": str(train), "flores": str(root / "flores"), "root": root}


def base_args(model, data, save_dir, **overrides):
    args = {"--model_id": model, "--dataset_name": data["train"], "--src": "eng", "--tgt": "swh",
            "--validation_file": data["flores"], "--save_dir": str(save_dir), "--max_length": "16",
            "--train_batch_size": "16", "--test_batch_size": "32", "--learning_rate": "3e-3",
            "--warmup_ratio": "0.05", "--max_steps": "12", "--eval_every_n_steps": "0", "--log_every_n_steps": "1",
            "--align_pct": "0.2", "--polish_pct": "0.5", "--seed": "7"}
    args.update(overrides)
    argv = []
    for key, value in args.items():
        if value is None:
            continue
        argv += [key] if value is True else [key, value]
    return argv


def records(save_dir, kind):
    lines = (Path(save_dir) / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def run_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_cli(run_adaptation.main, argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.slow
def test_short_run_aligns_the_languages(tiny_backpack_dir, parallel_data, tmp_path):
    from langadapt.models import is_backpack, load_causal_lm

    save_dir = tmp_path / "run"
    assert run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, save_dir,
                                         **{"--eval_every_n_steps": "12"})) == 0
    train = records(save_dir, "train")
    assert [r["step"] for r in train] == list(range(1, 13))
    assert train[-1]["context_loss"] < 0.5 * train[0]["context_loss"]
    assert train[-1]["sense_loss"] < 0.5 * train[0]["sense_loss"]
    evals = records(save_dir, "eval")
    assert [e["step"] for e in evals] == [0, 12]
    before, after = evals
    assert after["ctx_r1_avg"] > before["ctx_r1_avg"] + 0.3
    assert after["sns_r1_avg"] > before["sns_r1_avg"] + 0.3
    assert 1.0 < after["tgt_ppl"] < 1000
    assert 0 < after["tgt_sense_entropy"] <= math.log(4) + 1e-6  # 4 senses in the tiny Backpack
    final = json.loads((save_dir / "final_metrics.json").read_text())
    assert final["ranks_in_sync"] and final["eval"]["step"] == 12
    assert (save_dir / "schedule_and_losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = load_causal_lm(str(save_dir))
    assert is_backpack(model)
    saved = load_file(str(save_dir / "model.safetensors"))
    assert not torch.equal(saved["backpack.sense_weight_net.c_attn.weight"],
                           load_file(os.path.join(tiny_backpack_dir, "model.safetensors"))[
                               "backpack.sense_weight_net.c_attn.weight"])


class Killed(Exception):
    """Stands in for the scheduler killing the job right after a checkpoint."""


def run_killed_after_checkpoint(monkeypatch, step, argv):
    """run_adaptation.main(argv), killed right after it saves the checkpoint of `step`."""
    from langadapt.training import CheckpointManager

    real_save = CheckpointManager.save

    def save_then_die(self, saved_step, *args, **kwargs):
        path = real_save(self, saved_step, *args, **kwargs)
        if saved_step == step:
            raise Killed()
        return path

    with monkeypatch.context() as patch:
        patch.setattr(CheckpointManager, "save", save_then_die)
        with pytest.raises(Killed):
            run_adaptation.main(argv)


@pytest.mark.slow
def test_resume_after_a_kill_is_bit_identical(tiny_backpack_dir, parallel_data, tmp_path, monkeypatch):
    overrides = {"--max_steps": "8", "--save_every": "3", "--train_batch_size": "8", "--log_every_n_steps": "0",
                 "--freeze_sense_during_polish": True, "--label_smoothing": "0.1"}
    whole = tmp_path / "whole"
    run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, whole, **overrides))

    interrupted = tmp_path / "interrupted"
    run_killed_after_checkpoint(monkeypatch, 6, base_args(tiny_backpack_dir, parallel_data, interrupted, **overrides))
    assert not (interrupted / "model.safetensors").exists()
    run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, interrupted, **overrides,
                                  **{"--resume_from_checkpoint": True}))

    expected, resumed = load_file(str(whole / "model.safetensors")), load_file(str(interrupted / "model.safetensors"))
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name
    checkpoints = sorted(p.name for p in (interrupted / "checkpoints").iterdir())
    assert checkpoints == ["step-000000000003", "step-000000000006"]


@pytest.mark.slow
def test_two_process_torchrun_keeps_ranks_in_sync_with_global_negatives(tiny_backpack_dir, parallel_data, tmp_path):
    save_dir = tmp_path / "ddp"
    argv = base_args(tiny_backpack_dir, parallel_data, save_dir, **{"--max_steps": "3", "--train_batch_size": "4",
                                                                    "--eval_every_n_steps": "3"})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "--standalone", str(REPO / "run_adaptation.py"), *argv],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    final = json.loads((save_dir / "final_metrics.json").read_text())
    assert final["world_size"] == 2
    fingerprints = final["rank_parameter_fingerprints"]
    assert len(fingerprints) == 2 and fingerprints[0] == fingerprints[1]
    train = records(save_dir, "train")
    assert [r["step"] for r in train] == [1, 2, 3]  # rank 0 alone writes
    assert all(r["contrastive_batch"] == 8 for r in train)  # 2 ranks x 4 pairs


# ------------------------------------------------------------------------------------------ bad input
def test_dataset_without_translation_column(tiny_backpack_dir, parallel_data, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a", "label": 1}) + "\n")
    err = run_error(base_args(tiny_backpack_dir, parallel_data, tmp_path / "out", **{"--dataset_name": str(bad)}),
                    capsys)
    assert "missing column(s) translation" in err and "text, label" in err
    assert not (tmp_path / "out").exists()


def test_dataset_without_the_language_keys_names_the_keys_found(tiny_backpack_dir, parallel_data, tmp_path, capsys):
    err = run_error(base_args(tiny_backpack_dir, parallel_data, tmp_path / "out", **{"--tgt": "tur"}), capsys)
    assert "--tgt 'tur'" in err and "keys found: eng, swh" in err


def test_model_that_is_not_a_backpack(tiny_gpt2_dir, parallel_data, tmp_path, capsys):
    err = run_error(base_args(tiny_gpt2_dir, parallel_data, tmp_path / "out"), capsys)
    assert "is not a Backpack model" in err and "gpt2" in err


def test_weights_that_sum_to_zero(tiny_backpack_dir, parallel_data, tmp_path, capsys):
    zero = {f"--w_{kind}_tail": "0" for kind in ("ctx", "sns", "lm")}
    err = run_error(base_args(tiny_backpack_dir, parallel_data, tmp_path / "out", **zero), capsys)
    assert "tail phase sum to zero" in err


def test_align_and_polish_over_one(tiny_backpack_dir, parallel_data, tmp_path, capsys):
    err = run_error(base_args(tiny_backpack_dir, parallel_data, tmp_path / "out",
                              **{"--align_pct": "0.6", "--polish_pct": "0.5"}), capsys)
    assert "--align_pct + --polish_pct must not exceed 1" in err


def test_non_empty_save_dir_without_resume_or_overwrite(tiny_backpack_dir, parallel_data, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("earlier run")
    err = run_error(base_args(tiny_backpack_dir, parallel_data, tmp_path / "out"), capsys)
    assert "not empty" in err and "--overwrite_output_dir" in err
    assert (tmp_path / "out" / "keep.txt").read_text() == "earlier run"


@pytest.mark.slow
def test_non_finite_loss_stops_with_the_step_and_keeps_the_checkpoint(tiny_backpack_dir, parallel_data, tmp_path,
                                                                      capsys):
    save_dir = tmp_path / "out"
    err = run_error(base_args(tiny_backpack_dir, parallel_data, save_dir,
                              **{"--learning_rate": "1e30", "--clip_grad_norm": "0", "--warmup_ratio": "0",
                                 "--save_every": "1", "--max_steps": "6", "--train_batch_size": "4",
                                 "--log_every_n_steps": "0"}), capsys)
    assert "non-finite loss" in err and "at step 2" in err and "step-000000000001" in err
    assert (save_dir / "checkpoints" / "step-000000000001" / "checkpoint_complete.json").is_file()
    assert not (save_dir / "model.safetensors").exists()


def test_overwrite_with_a_model_that_fails_to_load_keeps_the_finished_run(tiny_backpack_dir, parallel_data, tmp_path,
                                                                        capsys):
    import shutil

    save_dir = tmp_path / "finished"
    assert run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, save_dir, **{"--max_steps": "1"})) == 0
    before = folder_digest(save_dir)
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_backpack_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(SystemExit) as exit_info:
        run_cli(run_adaptation.main, base_args(str(broken), parallel_data, save_dir,
                                               **{"--max_steps": "1", "--overwrite_output_dir": True}))
    assert exit_info.value.code != 0
    assert folder_digest(save_dir) == before
