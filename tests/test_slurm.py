"""SLURM job scripts: each layout launches the right process tree, and every flag exists in the script.

No cluster is needed: `LANGADAPT_DRY_RUN=1` makes `slurm/launch.sh` print the command instead of running it.
"""
import functools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
JOB_SCRIPTS = sorted((ROOT / "slurm").glob("*.sbatch"))
TRAINING = {"run_clm.py", "run_adaptation.py", "commit_train.py"}
LAYOUTS = {
    "single": {},
    "node": {"SLURM_GPUS_ON_NODE": "4"},
    "multinode": {"SLURM_NNODES": "2", "SLURM_GPUS_ON_NODE": "4", "SLURM_JOB_ID": "77"},
}


def dry_run(script: Path, extra_env: dict) -> list[list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(LANGADAPT_DRY_RUN="1", MODEL="/models/base", SCRATCH="/scratch/me", PYTHON=sys.executable,
               PATH=os.environ["PATH"], **extra_env)
    out = subprocess.run(["bash", str(script)], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return [shlex.split(line) for line in out.stdout.splitlines() if line.strip()]


@functools.lru_cache(maxsize=None)
def help_text(script: str) -> str:
    out = subprocess.run([sys.executable, str(ROOT / script), "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, f"{script} --help failed: {out.stderr[-2000:]}"
    return out.stdout


def script_and_flags(command: list[str]) -> tuple[str, list[str]]:
    position = next(i for i, token in enumerate(command) if token.endswith(".py"))
    flags = [token.split("=")[0] for token in command[position + 1:] if token.startswith("--")]
    return Path(command[position]).name, flags


def test_there_is_a_job_script_for_every_stage():
    names = {p.name for p in JOB_SCRIPTS}
    assert {"build_opus_corpus.sbatch", "run_clm.sbatch", "run_adaptation.sbatch", "commit_align.sbatch",
            "commit_train.sbatch", "evaluate.sbatch"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("job", JOB_SCRIPTS, ids=lambda p: p.name)
def test_every_flag_of_the_job_exists_in_its_script(job):
    for command in dry_run(job, {}):
        script, flags = script_and_flags(command)
        documented = set(re.findall(r"--[A-Za-z0-9_.\-]+", help_text(script)))
        unknown = [flag for flag in flags if flag not in documented]
        assert not unknown, f"{job.name}: {script} does not know {unknown}"


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("job", [p for p in JOB_SCRIPTS if p.stem in {"run_clm", "run_adaptation",
                                                                          "commit_align", "commit_train"}],
                         ids=lambda p: p.name)
def test_training_jobs_pick_the_layout_and_resume(job, layout):
    (command,) = dry_run(job, LAYOUTS[layout])
    text = " ".join(command)
    if layout == "single":
        assert command[0] == sys.executable and "torch.distributed.run" not in text
    elif layout == "node":
        assert "torch.distributed.run --standalone --nproc_per_node 4" in text and command[0] != "srun"
    else:
        assert command[0] == "srun" and "--nnodes 2 --nproc_per_node 4" in text
        assert "--rdzv_backend c10d" in text and "--rdzv_id 77" in text
    assert "--resume_from_checkpoint" in command
    header = job.read_text()
    assert "#SBATCH --requeue" in header and re.search(r"#SBATCH --signal=B:USR1@\d+", header)


@pytest.mark.slow
def test_run_clm_job_starts_a_fresh_run_then_resumes_a_killed_one(tiny_backpack_dir, tmp_path):
    """The job's own command (always `--resume_from_checkpoint`), shrunk to a tiny run by flags appended after it."""
    import json
    import shutil

    from datasets import Dataset, DatasetDict

    text = [f"line {i} of some english text about houses and dogs" for i in range(64)]
    data = tmp_path / "text"
    DatasetDict({"train": Dataset.from_dict({"text": text}),
                 "validation": Dataset.from_dict({"text": text[:8]})}).save_to_disk(str(data))
    out = tmp_path / "clm"
    (command,) = dry_run(ROOT / "slurm" / "run_clm.sbatch",
                         {"MODEL_CONFIG": tiny_backpack_dir, "TOKENIZER": tiny_backpack_dir, "DATASET": str(data),
                          "OUTPUT_DIR": str(out), "REPORT_TO": "none"})
    command += ["--max_steps", "4", "--save_steps", "2", "--per_device_train_batch_size", "2",
                "--per_device_eval_batch_size", "2", "--gradient_accumulation_steps", "1", "--block_size", "32",
                "--bf16", "false", "--max_eval_samples", "4", "--dataloader_pin_memory", "false",
                "--log_level", "info"]

    def job(folder):
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT)))
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads((folder / "trainer_state.json").read_text())["global_step"] == 4
        return done.stderr

    assert "starting fresh" in job(out)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    # what a job killed after its step-2 checkpoint leaves: the requeued job runs the same command
    shutil.rmtree(out / "checkpoint-4")
    for name in ("model.safetensors", "trainer_state.json", "train_results.json", "all_results.json"):
        (out / name).unlink()
    identity = json.loads((out / "run.json").read_text())
    identity.pop("completed")
    (out / "run.json").write_text(json.dumps(identity))
    assert f"resuming from checkpoint {out / 'checkpoint-2'}" in job(out)
