"""A resumed run and every DDP rank compute the sense layer's path of the run they continue, whatever the
timing in their own process: tests/sense_path_probe.py makes the path
the rule picks slow in the resumed process, which a stopwatch would have answered with the other path."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import run_adaptation
import run_clm
from langadapt.clm.arguments import parse_clm_arguments
from langadapt.clm.runner import train_clm
from test_adaptation_run import base_args, parallel_data, records, run_killed_after_checkpoint  # noqa: F401 (a fixture)
from test_clm_train import StopAt, clm_args, one_thread, weights  # noqa: F401 (one_thread: autouse, as there)

ROOT = Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "sense_path_probe.py"


def probed(script, argv, record, slow="fused", slow_rank=None, torchrun=False, cwd=None):
    """Run `script` in new processes with the `slow` path slowed (on `slow_rank` only, when given), on as many
    threads as this process (CPU reductions round by thread count); the paths each rank computed."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(torch.get_num_threads()), SLOW_SENSE_PATH=slow,
               SENSE_PATH_RECORD=str(record))
    if slow_rank is not None:
        env["SLOW_SENSE_PATH_RANK"] = str(slow_rank)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"] \
        if torchrun else [sys.executable]
    result = subprocess.run([*launcher, str(PROBE), str(ROOT / script), *argv], env=env, cwd=cwd,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return {rank.suffix[1:]: rank.read_text().split() for rank in record.parent.glob(record.name + ".*")}


def assert_same_weights(expected, resumed):
    assert expected.keys() == resumed.keys()
    for name in expected:
        assert torch.equal(expected[name], resumed[name]), name


@pytest.mark.slow
def test_run_clm_resumed_in_a_process_where_the_fused_path_is_slow(tiny_backpack_dir, tmp_path):
    common = ["--do_train", "--max_steps", "8", "--save_steps", "4", "--max_train_samples", "24",
              "--per_device_train_batch_size", "2", "--logging_steps", "1"]
    whole = tmp_path / "whole"
    assert run_clm.main(clm_args(tiny_backpack_dir, whole, *common)) == 0
    cut = tmp_path / "cut"
    train_clm(*parse_clm_arguments(clm_args(tiny_backpack_dir, cut, *common)), callbacks=[StopAt(4)])

    ran = probed("run_clm.py", clm_args(tiny_backpack_dir, cut, *common, "--resume_from_checkpoint"),
                 tmp_path / "paths")
    assert ran == {"0": ["fused"]}
    assert_same_weights(weights(whole), weights(cut))
    logged = [json.loads((run / "trainer_state.json").read_text())["log_history"] for run in (whole, cut)]
    assert [entry for entry in logged[0] if "loss" in entry] == [entry for entry in logged[1] if "loss" in entry]


@pytest.mark.slow
def test_run_adaptation_resumed_in_a_process_where_the_fused_path_is_slow(tiny_backpack_dir, parallel_data,
                                                                        tmp_path, monkeypatch):
    overrides = {"--max_steps": "6", "--save_every": "3", "--train_batch_size": "8", "--log_every_n_steps": "1"}
    whole = tmp_path / "whole"
    run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, whole, **overrides))
    interrupted = tmp_path / "interrupted"
    run_killed_after_checkpoint(monkeypatch, 3, base_args(tiny_backpack_dir, parallel_data, interrupted, **overrides))
    ran = probed("run_adaptation.py", base_args(tiny_backpack_dir, parallel_data, interrupted, **overrides,
                                                **{"--resume_from_checkpoint": True}), tmp_path / "paths")
    assert ran == {"0": ["fused"]}
    assert_same_weights(load_file(str(whole / "model.safetensors")),
                        load_file(str(interrupted / "model.safetensors")))
    timings = ("tokens_per_second", "mfu")
    steps = lambda run: {r["step"]: {k: v for k, v in r.items() if "time" not in k and k not in timings}  # noqa: E731
                         for r in records(run, "train")}
    assert steps(whole) == steps(interrupted)


@pytest.mark.slow
def test_two_ddp_ranks_take_the_same_path_when_one_would_time_it_slower(tiny_backpack_dir, tmp_path):
    argv = clm_args(tiny_backpack_dir, tmp_path / "ddp", "--do_train", "--max_steps", "2", "--save_strategy", "no",
                    "--per_device_train_batch_size", "2", "--use_cpu", "--ddp_backend", "gloo")
    ran = probed("run_clm.py", argv, tmp_path / "paths", slow_rank=1, torchrun=True, cwd=tmp_path)
    assert ran == {"0": ["fused"], "1": ["fused"]}
