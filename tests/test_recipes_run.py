"""A tiny sense-adaptation recipe and a tiny COMMIT recipe on the bundled data, each killed once mid-way
(SIGTERM to the runner, as SLURM preempts) and rerun: complete stages are skipped, the killed one resumes
from its checkpoint, and the table's numbers are the stages' own JSON outputs."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(recipe: str, out: Path, settings: list[str]) -> subprocess.Popen:
    command = [sys.executable, "run_recipe.py", recipe, "--out", str(out)]
    for setting in settings:
        command += ["--set", setting]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"})


def kill_once_training(runner: subprocess.Popen, metrics: Path) -> str:
    """SIGTERM to the runner once the stage logging to `metrics` has trained a step."""
    deadline = time.time() + 300
    while time.time() < deadline and runner.poll() is None:
        if metrics.is_file() and '"kind": "train"' in metrics.read_text():
            runner.send_signal(signal.SIGTERM)
            break
        time.sleep(0.1)
    output, _ = runner.communicate(timeout=300)
    assert runner.returncode == 143, output[-3000:]
    return output


def finish(recipe: str, out: Path, settings: list[str]) -> str:
    runner = start(recipe, out, settings)
    output, _ = runner.communicate(timeout=600)
    assert runner.returncode == 0, output[-3000:]
    return output


def table_cells(out: Path) -> dict[tuple[str, str], dict]:
    with open(out / "results.csv", encoding="utf-8", newline="") as handle:
        return {(row["row"], row["column"]): row for row in csv.DictReader(handle) if row["value"]}


def assert_resumed(run_folder: Path, log: Path) -> None:
    identity = json.loads((run_folder / "run.json").read_text())
    assert identity["completed"]["step"] > 0
    assert "resum" in log.read_text().lower()


@pytest.mark.slow
def test_tiny_sense_adaptation_recipe_killed_and_rerun(tmp_path, tiny_backpack_dir):
    out, settings = tmp_path / "sense", [f"base_model={tiny_backpack_dir}", "steps=8"]
    first = kill_once_training(start("tiny_sense_adaptation", out, settings), out / "adapt-swh" / "metrics.jsonl")
    assert "interrupted in stage adapt-swh" in first
    assert not json.loads((out / "adapt-swh" / "run.json").read_text()).get("completed")
    second = finish("tiny_sense_adaptation", out, settings)
    assert "[corpus-swh] complete: skipped" in second and "adapt-swh=ran" in second
    assert_resumed(out / "adapt-swh", out / "logs" / "adapt-swh.log")
    cells = table_cells(out)
    for column in ("base", "adapted"):
        flores = json.loads((out / "results" / "swh" / column / "flores_ppl.json").read_text())
        xcopa = json.loads((out / "results" / "swh" / column / "xcopa.json").read_text())
        ppl = cells[("FLORES devtest perplexity (swh_Latn)", column)]
        assert float(ppl["value"]) == flores["perplexity"] and int(ppl["n"]) == flores["sentences"]
        bpb = cells[("FLORES devtest bits/byte (swh_Latn)", column)]
        assert float(bpb["stderr"]) == flores["bits_per_byte_stderr"]
        acc = cells[("XCOPA acc (swh)", column)]
        assert float(acc["value"]) == xcopa["metrics"]["acc"] and int(acc["n"]) == xcopa["n_examples"] == 200
    records = [json.loads(line) for line in (out / "adapt-swh" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    retrieval = cells[("FLORES dev R@1, senses (run_adaptation eval) (swh)", "adapted")]
    assert float(retrieval["value"]) == evals[-1]["sns_r1_avg"] and evals[-1]["step"] == 8
    assert float(cells[("FLORES dev R@1, senses (run_adaptation eval) (swh)", "base")]["value"]) == \
        evals[0]["sns_r1_avg"]
    markdown = (out / "results.md").read_text()
    assert "| XCOPA acc (swh) |" in markdown and (out / "results.png").is_file()


@pytest.mark.slow
def test_tiny_commit_recipe_killed_and_rerun(tmp_path, tiny_llama_dir):
    out, settings = tmp_path / "commit", [f"llama={tiny_llama_dir}", "steps=6"]
    first = kill_once_training(start("tiny_commit", out, settings), out / "naive_alpaca-hi" / "metrics.jsonl")
    assert "interrupted in stage naive_alpaca-hi" in first
    second = finish("tiny_commit", out, settings)
    assert "[align-hi] complete: skipped" in second
    assert_resumed(out / "naive_alpaca-hi", out / "logs" / "naive_alpaca-hi.log")
    cells = table_cells(out)
    for variant, column in (("naive_alpaca-hi", "naive Alpaca"), ("align_commit-hi", "align + COMMIT")):
        for code, prompt in (("hi", "native"), ("enhi", "english")):
            result = json.loads((out / "results" / "hi" / variant / f"xquad_{code}.json").read_text())
            for metric, key in (("EM", "exact_match"), ("F1", "f1")):
                cell = cells[(f"XQuAD {metric} ({code}, {prompt} prompt)", column)]
                assert float(cell["value"]) == result["metrics"][key] and int(cell["n"]) == result["n_examples"] == 4
    third = finish("tiny_commit", out, settings)  # everything done: only the table is rebuilt
    assert third.count("complete: skipped") == 7
    changed = start("tiny_commit", out, [f"llama={tiny_llama_dir}", "steps=7"])  # the script refuses, as alone
    output, _ = changed.communicate(timeout=300)
    assert changed.returncode == 2 and "error: stage align-hi (commit_train.py) exited 2" in output
    assert "holds another run (" in output and "total_steps: 6 there, 7 now" in output
