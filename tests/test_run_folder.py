"""The run-folder contract, script by script: inputs never inside outputs, identity-checked resume, logs cut back
to the checkpoint, finished runs left alone, one line and exit 130/143 on Ctrl-C/SIGTERM."""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import build_opus_corpus
import commit_train
import run_adaptation
import run_clm
from killed_runs import as_killed_after
from langadapt.cli import run_cli
from langadapt.clm.arguments import parse_clm_arguments
from langadapt.clm.runner import train_clm
from langadapt.run_folder import trim_jsonl
from test_adaptation_run import base_args, parallel_data  # noqa: F401  (fixture)
from test_clm_train import clm_args, one_thread  # noqa: F401  (fixture)
from test_commit_train import ALPACA, DICTS, metrics

ROOT = Path(__file__).resolve().parent.parent


def exit_of(main, argv, capsys):
    """(exit status, last stderr line) of a script run as its CLI runs it."""
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    lines = capsys.readouterr().err.strip().splitlines()
    return exit_info.value.code, lines[-1] if lines else ""


def commit_args(model, out, *extra, steps="6"):
    return ["--model_name_or_path", str(model), "--dataset_name", ALPACA, "--codemix_dict_path",
            f"{DICTS}/en-hi.txt", "--seq_length", "32", "--batch_size", "2", "--total_steps", steps, "--lr", "3e-3",
            "--warmup_steps", "1", "--lr_decay_steps", steps, "--save_steps", "2", "--log_steps", "1",
            "--output_dir", str(out), *extra]


@pytest.fixture
def restore_sigterm():
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


# ------------------------------------------------------------------------------------ nested inputs
def test_adaptation_refuses_a_model_inside_save_dir_before_deleting_anything(tiny_backpack_dir, parallel_data,
                                                                            tmp_path, capsys):
    save_dir = tmp_path / "run"
    model = shutil.copytree(tiny_backpack_dir, save_dir / "base")
    status, error = exit_of(run_adaptation.main, base_args(str(model), parallel_data, save_dir,
                                                           **{"--overwrite_output_dir": True}), capsys)
    assert status == 2 and f"--model_id {model} lies inside --save_dir {save_dir}" in error
    assert (model / "config.json").is_file()


def test_commit_refuses_a_dictionary_inside_output_dir(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "run"
    (out / "dicts").mkdir(parents=True)
    dictionary = shutil.copy(f"{DICTS}/en-hi.txt", out / "dicts" / "en-hi.txt")
    argv = commit_args(tiny_llama_dir, out, "--overwrite_output_dir")
    argv[argv.index("--codemix_dict_path") + 1] = str(dictionary)
    status, error = exit_of(commit_train.main, argv, capsys)
    assert status == 2 and "--codemix_dict_path" in error and f"--output_dir {out}" in error
    assert Path(dictionary).is_file()


def test_commit_overwrite_deletes_only_after_the_inputs_load(tiny_llama_dir, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.txt").write_text("an earlier run's numbers")
    argv = commit_args(tiny_llama_dir, out, "--overwrite_output_dir")
    argv[argv.index("--dataset_name") + 1] = str(tmp_path / "missing.json")
    status, error = exit_of(commit_train.main, argv, capsys)
    assert status == 2 and error.startswith("error:")
    assert (out / "results.txt").read_text() == "an earlier run's numbers"


def test_run_clm_refuses_training_text_inside_output_dir_even_without_overwrite(tiny_backpack_dir, tmp_path,
                                                                                capsys):
    out = tmp_path / "run"
    out.mkdir()
    text = out / "train.txt"
    text.write_text("some text\n" * 20)
    argv = clm_args(tiny_backpack_dir, out, "--do_train", "--max_steps", "1")
    argv[argv.index("--train_file") + 1] = str(text)
    status, error = exit_of(run_clm.main, argv, capsys)
    assert status == 2 and f"--train_file {text} lies inside --output_dir {out}" in error


@pytest.mark.parametrize("layout", ["hf_out inside work_dir", "work_dir inside hf_out"])
def test_corpus_builder_refuses_nested_output_folders(tmp_path, capsys, layout):
    outer = tmp_path / "data"
    hf_out, work = (outer / "out", outer) if layout == "hf_out inside work_dir" else (outer, outer / "work")
    argv = ["--src", "eng", "--tgt", "swh", "--hf_out", str(hf_out), "--work_dir", str(work), "--corpora", "X",
            "--labse_threshold", "0", "--opus_download_dir", str(tmp_path / "cache"), "--cleanup_work_dir_on_success"]
    status, error = exit_of(build_opus_corpus.main, argv, capsys)
    assert status == 2 and "lies inside" in error and "--hf_out" in error and "--work_dir" in error


def test_corpus_builder_refuses_its_download_cache_inside_work_dir(tmp_path, capsys):
    argv = ["--src", "eng", "--tgt", "swh", "--hf_out", str(tmp_path / "out"), "--work_dir", str(tmp_path / "work"),
            "--corpora", "X", "--opus_download_dir", str(tmp_path / "work" / "opus"), "--cleanup_work_dir_on_success"]
    status, error = exit_of(build_opus_corpus.main, argv, capsys)
    assert status == 2 and "--opus_download_dir" in error and "lies inside --work_dir" in error


def test_demo_refuses_a_folder_that_is_not_an_earlier_demo(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "examples"))
    import demo

    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "chapter1.tex").write_text("months of work")
    status, error = exit_of(demo.main, ["--output_dir", str(tmp_path / "thesis")], capsys)
    assert status == 2 and "not an earlier demo's output" in error
    assert (tmp_path / "thesis" / "chapter1.tex").read_text() == "months of work"


# ------------------------------------------------------------------------------------ start and resume
@pytest.mark.parametrize("script", ["run_adaptation", "commit_train", "run_clm"])
def test_overwrite_with_resume_is_refused_in_every_script(script, tiny_backpack_dir, tiny_llama_dir, parallel_data,
                                                         tmp_path, capsys):
    out = tmp_path / "run"
    argv = {"run_adaptation": lambda: base_args(tiny_backpack_dir, parallel_data, out),
            "commit_train": lambda: commit_args(tiny_llama_dir, out),
            "run_clm": lambda: clm_args(tiny_backpack_dir, out, "--do_train")}[script]()
    main = {"run_adaptation": run_adaptation, "commit_train": commit_train, "run_clm": run_clm}[script].main
    status, error = exit_of(main, argv + ["--overwrite_output_dir", "--resume_from_checkpoint"], capsys)
    assert status == 2 and "--overwrite_output_dir would delete the checkpoint" in error


def test_run_clm_bare_resume_flag_starts_fresh_in_an_empty_folder(tiny_backpack_dir, tmp_path, caplog):
    out = tmp_path / "new"
    with caplog.at_level("INFO", logger="langadapt"):
        train_clm(*parse_clm_arguments(clm_args(tiny_backpack_dir, out, "--do_train", "--max_steps", "2",
                                                "--resume_from_checkpoint")))
    assert "starting fresh" in caplog.text
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 2
    identity = json.loads((out / "run.json").read_text())
    assert identity["script"] == "run_clm.py" and identity["completed"]["step"] == 2
    assert identity["settings"]["max_steps"] == 2 and "learning_rate" in identity["defining"]
    assert {"train_runtime", "train_loss"} <= set(json.loads((out / "train_results.json").read_text()))


def test_run_clm_finished_run_resumed_again_is_a_no_op(tiny_backpack_dir, tmp_path, caplog):
    out = tmp_path / "done"
    argv = clm_args(tiny_backpack_dir, out, "--do_train", "--do_eval", "--max_steps", "2", "--save_steps", "2")
    train_clm(*parse_clm_arguments(argv))
    assert {"eval_loss", "perplexity"} <= set(json.loads((out / "eval_results.json").read_text()))
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with caplog.at_level("INFO", logger="langadapt"):
        assert train_clm(*parse_clm_arguments(argv + ["--resume_from_checkpoint"])) == {}
    assert "is complete (step 2): nothing to do" in caplog.text
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_adaptation_resume_into_another_runs_folder_names_each_difference(tiny_backpack_dir, parallel_data,
                                                                         tmp_path, capsys):
    save_dir = tmp_path / "run"
    assert run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, save_dir,
                                         **{"--max_steps": "2", "--save_every": "1"})) == 0
    before = (save_dir / "metrics.jsonl").read_text()
    status, error = exit_of(run_adaptation.main, base_args(
        tiny_backpack_dir, parallel_data, save_dir, **{"--max_steps": "2", "--save_every": "1", "--seed": "8",
                                                      "--tgt": "eng", "--resume_from_checkpoint": True}), capsys)
    assert status == 2 and f"--save_dir {save_dir} holds another run" in error
    assert "seed: 7 there, 8 now" in error and "tgt: 'swh' there, 'eng' now" in error
    assert (save_dir / "metrics.jsonl").read_text() == before


def test_adaptation_finished_run_resumed_is_a_no_op_and_logging_may_change(tiny_backpack_dir, parallel_data,
                                                                          tmp_path, capsys):
    save_dir = tmp_path / "run"
    run = {"--max_steps": "2", "--save_every": "0", "--resume_from_checkpoint": True}
    assert run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, save_dir, **run)) == 0
    before = {p.name: p.read_bytes() for p in save_dir.iterdir() if p.is_file()}
    capsys.readouterr()
    assert run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, save_dir, **run,
                                         **{"--log_every_n_steps": "2"})) == 0
    log = capsys.readouterr().err  # the scripts log to stderr
    assert "resuming with log_every_n_steps changed: 1 -> 2" in log and "nothing to do" in log
    assert {p.name: p.read_bytes() for p in save_dir.iterdir() if p.is_file()} == before


@pytest.mark.slow
def test_adaptation_metrics_after_kill_and_resume_equal_an_uninterrupted_runs(tiny_backpack_dir, parallel_data,
                                                                             tmp_path):
    run = {"--max_steps": "6", "--save_every": "2", "--eval_every_n_steps": "3", "--train_batch_size": "8",
           "--resume_from_checkpoint": True}
    whole = tmp_path / "whole"
    assert run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, whole, **run)) == 0
    killed = as_killed_after(whole, tmp_path / "killed", 4, ["model.safetensors", "config.json"])
    assert run_adaptation.main(base_args(tiny_backpack_dir, parallel_data, killed, **run)) == 0
    timeless = lambda folder: [{k: v for k, v in json.loads(line).items() if k not in ("tokens_per_second", "mfu")}
                               for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert timeless(killed) == timeless(whole)  # the throughput fields are timings


def test_log_trimming_keeps_records_up_to_the_checkpoint_and_drops_final_ones(tmp_path):
    log = tmp_path / "metrics.jsonl"
    records = [{"kind": "eval", "step": 0}, {"kind": "train", "step": 1}, {"kind": "train", "step": 2},
               {"kind": "train", "step": 3}, {"kind": "final", "step": 2}]
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    trim_jsonl(log, 2)
    assert [json.loads(line) for line in log.read_text().splitlines()] == records[:3]
    trim_jsonl(log, None)
    assert log.read_text() == ""


# ------------------------------------------------------------------------------------ interruption
def interrupt_commit_after_logging(monkeypatch, step, interrupt):
    from langadapt.commit import loop

    real = loop.append_jsonl

    def append_then_interrupt(path, record):
        real(path, record)
        if record.get("step") == step and record["kind"] == "train":
            interrupt()

    monkeypatch.setattr(loop, "append_jsonl", append_then_interrupt)


def test_ctrl_c_exits_130_with_one_line_naming_the_step_and_checkpoint(tiny_llama_dir, tmp_path, capsys,
                                                                        monkeypatch):
    def ctrl_c():
        raise KeyboardInterrupt

    interrupt_commit_after_logging(monkeypatch, 3, ctrl_c)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(commit_train.main, commit_args(tiny_llama_dir, out))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 130
    assert err[-1] == (f"interrupted at step 3; last checkpoint: {out / 'checkpoints' / 'step-000000000002'}; "
                       f"rerun the command with --resume_from_checkpoint to resume")
    assert not any("Traceback" in line for line in err)


def test_sigterm_saves_a_checkpoint_exits_143_and_the_rerun_resumes_exactly(tiny_llama_dir, tmp_path, capsys,
                                                                            monkeypatch, restore_sigterm):
    whole = tmp_path / "whole"
    assert commit_train.main(commit_args(tiny_llama_dir, whole)) == 0
    interrupt_commit_after_logging(monkeypatch, 3, lambda: os.kill(os.getpid(), signal.SIGTERM))
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_info:
        run_cli(commit_train.main, commit_args(tiny_llama_dir, out))
    assert exit_info.value.code == 143
    checkpoint = out / "checkpoints" / "step-000000000003"
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"interrupted at step 3; last checkpoint: {checkpoint}; rerun the command with --resume_from_checkpoint "
        f"to resume")
    assert (checkpoint / "checkpoint_complete.json").is_file()
    monkeypatch.undo()
    assert commit_train.main(commit_args(tiny_llama_dir, out, "--resume_from_checkpoint")) == 0
    timeless = lambda folder: [{k: v for k, v in r.items() if k != "tokens_per_second"} for r in metrics(folder)
                               if r["kind"] == "train"]
    assert timeless(out) == timeless(whole)


def test_sigint_to_a_real_process_prints_one_line(tmp_path):
    """The signal path itself, outside pytest: a script killed with SIGINT while it works."""
    script = tmp_path / "slow.py"
    script.write_text("import time\nfrom langadapt.cli import run_cli\n"
                      "def main(argv):\n    print('ready', flush=True)\n    time.sleep(60)\n"
                      "run_cli(main)\n")
    # A shell without job control starts background jobs with SIGINT ignored, and Python then keeps it
    # ignored: the child gets the default disposition back, as in a terminal.
    process = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert process.stdout.readline().strip() == "ready"
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err.strip() == "interrupted"
