"""run_eval.py takes the COMMIT README's harness command line as pasted and writes the fork's results JSON."""
import json
from pathlib import Path

import pytest

import run_eval
from langadapt.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "tests" / "fixtures" / "qa"
MODEL = str(QA / "tiny-llama-spm")
ROWS = str(QA / "de_rows.jsonl")


def test_the_pasted_fork_command_writes_the_forks_json(tmp_path, capsys):
    out = tmp_path / "hf_save_dir" / "result.json"
    argv = ["--model", "hf-causal-experimental", "--model_args", f"pretrained={MODEL}", "--batch_size=2",
            "--tasks", "ogx_xquad_de", "--output_path", str(out), "--device", "cpu", "--data_path", ROWS,
            "--limit", "0.25"]
    assert run_eval.main(argv) == 0
    written = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == written
    assert set(written) == {"results", "versions", "config"}
    assert written["versions"] == {"ogx_xquad_de": 0}
    assert list(written["results"]["ogx_xquad_de"]) == ["exact_match", "f1"]
    assert written["config"] == {"model": "hf-causal-experimental", "model_args": f"pretrained={MODEL}",
                                 "num_fewshot": 0, "batch_size": 2, "device": "cpu", "no_cache": False,
                                 "limit": 0.25, "bootstrap_iters": 100000, "description_dict": {}}
    # the same run through our own flags: 3 rows (ceil(12 * 0.25)), the same engine and end rule
    ours = tmp_path / "ours.json"
    run_eval.main(["--model_path", MODEL, "--task", "xquad", "--lang", "de", "--data_path", ROWS, "--limit", "3",
                   "--batch_size", "2", "--device", "cpu", "--output_file", str(ours)])
    metrics = json.loads(ours.read_text())["metrics"]
    assert written["results"]["ogx_xquad_de"] == {"exact_match": metrics["exact_match"], "f1": metrics["f1"]}


def test_fork_task_names_cover_the_forks_registry():
    from langadapt.evaluation.fork_cli import FORK_TASKS, task_names

    assert len(FORK_TASKS) == 25  # opengptx xquad.LANGS (15) + mlqa.LANGS (10)
    assert FORK_TASKS["ogx_xquad_enhi"] == ("xquad", "enhi", "validation")
    assert FORK_TASKS["ogx_mlqa_enhival"] == ("mlqa", "enhi", "validation")
    assert task_names("ogx_mlqa_hi*") == ["ogx_mlqa_hi", "ogx_mlqa_hival"]


@pytest.mark.parametrize("extra, message", [
    (["--check_integrity"], "--check_integrity: the harness fork's option is not implemented"),
    (["--write_out"], "--write_out: not an option of the harness fork's main.py"),
    (["--model_args", f"pretrained={MODEL},peft=x"], "--model_args peft=x: expected key=value"),
    (["--tasks", "ogx_xquad_xx"], "--tasks ogx_xquad_xx: not a task of the harness fork"),
    (["--model", "gpt3"], "--model: invalid choice"),
    (["--batch_size=two"], "--batch_size: invalid int value"),
    (["--limit", "0"], "--limit 0: must be > 0"),
])
def test_bad_harness_options_are_one_line_errors(capsys, extra, message):
    base = ["--model", "hf-causal", "--model_args", f"pretrained={MODEL}", "--tasks", "ogx_xquad_de",
            "--data_path", ROWS, "--device", "cpu"]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(run_eval.main, base + extra)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
