"""run_clm under `torchrun --nproc_per_node 2` on CPU (gloo): both ranks train, one writes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"


@pytest.mark.slow
@pytest.mark.parametrize("device_flags", [["--use_cpu", "--ddp_backend", "gloo"], []],
                         ids=["use_cpu", "no_flags"])
def test_two_process_torchrun_trains_and_saves_once(tiny_backpack_dir, tmp_path, device_flags):
    """Without --use_cpu on a GPU-less machine it must still be one data-parallel run, not two trainings
    into one folder."""
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "run_clm.py"), "--model_name_or_path", tiny_backpack_dir,
               "--train_file", str(DATA / "english_train.txt"), "--validation_file", str(DATA / "english_valid.txt"),
               "--do_train", "--do_eval", "--max_steps", "4", "--save_steps", "2", "--block_size", "32",
               "--per_device_train_batch_size", "2", "--max_eval_samples", "8", "--output_dir", str(out),
               "--report_to", "none", *device_flags, "--disable_tqdm", "true"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics_lines = [line for line in result.stdout.splitlines() if line.startswith('{"')]
    assert len(metrics_lines) == 1  # only the main process reports
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert state["train_batch_size"] == 2
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert sorted(p.name for p in out.glob("*.safetensors")) == ["model.safetensors"]
    assert sorted(p.name for p in (out / "checkpoint-4").glob("rng_state*")) == ["rng_state_0.pth", "rng_state_1.pth"]
    assert json.loads(metrics_lines[0])["eval_loss"] > 0


@pytest.mark.slow
def test_two_process_eval_loss_of_an_uneven_split_counts_every_token_once(tiny_backpack_dir, tmp_path):
    """9 eval blocks over 2 processes: the sampler repeats a block to even them out, and the Trainer's
    eval_loss (a mean of per-batch means, the repeat included) was off by about 1e-4; ours is exact."""
    import torch
    from transformers import AutoTokenizer

    from langadapt.models import load_causal_lm
    from test_clm_train import blocks_as_the_original_makes_them

    out = tmp_path / "ddp-eval"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(ROOT / "run_clm.py"), "--model_name_or_path", tiny_backpack_dir,
               "--validation_file", str(DATA / "english_valid.txt"), "--do_eval", "--block_size", "32",
               "--per_device_eval_batch_size", "2", "--max_eval_samples", "9", "--output_dir", str(out),
               "--report_to", "none", "--use_cpu", "--ddp_backend", "gloo", "--disable_tqdm", "true"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "eval_results.json").read_text())
    ids = blocks_as_the_original_makes_them(str(DATA / "english_valid.txt"),
                                            AutoTokenizer.from_pretrained(tiny_backpack_dir), 32, 9)
    with torch.no_grad():
        logits = load_causal_lm(tiny_backpack_dir).eval()(ids).logits
    expected = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).double(),
                                                 ids[:, 1:].reshape(-1)).item()
    assert metrics["eval_samples"] == 9
    assert metrics["eval_loss"] == pytest.approx(expected, abs=1e-6)
