"""Recipes: the commands equal the seed READMEs' (paths aside), the SLURM chain (fake sbatch/scontrol), the
skip rule, the table and the publish stage (hub client replaced)."""
import functools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from langadapt.errors import LangAdaptError
from langadapt.recipes import load_recipe, state
from langadapt.recipes.slurm import submit_chain

ROOT = Path(__file__).resolve().parent.parent
# The two seed READMEs (jcblaisecruz02/sensia, thnkinbtfly/COMMIT) as the task was given them.
SEEDS = {"sensia": ROOT / "tests" / "fixtures" / "seed_readmes" / "sensia_README.md",
         "commit": ROOT / "tests" / "fixtures" / "seed_readmes" / "COMMIT_README.md"}
# Flags the runner adds to a seed command: where results go, and the resume flag every stage needs.
ADDED = {"--output_file", "--log_samples", "--resume_from_checkpoint", "--hub_repo"}


def seed_commands(paper: str, lang: str) -> list[list[str]]:
    """Every `python ...` command of a seed README's bash blocks, continuation lines joined."""
    text = SEEDS[paper].read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\s*\n", " ", block).replace("${lang}", lang).replace("$lang", lang)
        commands += [shlex.split(line) for line in joined.splitlines() if line.strip().startswith("python")]
    return commands


def pairs(argv: list[str]) -> list[tuple[str, list[str]]]:
    """(flag, values) in order; `--a=b` as `--a b`."""
    out = []
    for token in argv:
        if token.startswith("--"):
            flag, sep, value = token.partition("=")
            out.append((flag, [value] if sep else []))
        else:
            out[-1][1].append(token)
    return out


def same_value(seed: list[str], ours: list[str]) -> bool:
    if any("$" in v or "<" in v for v in seed):
        return True  # a path or name the user fills in
    if len(seed) != len(ours):
        return False
    for a, b in zip(seed, ours):
        try:
            if float(a) != float(b):
                return False
        except ValueError:
            if a != b:
                return False
    return True


def assert_same_command(seed: list[str], ours: list[str]) -> None:
    seed_flags = pairs(seed[seed.index(next(t for t in seed if t.startswith("--"))):])
    our_flags = [(f, v) for f, v in pairs(ours[2:]) if f not in ADDED or f in dict(seed_flags)]
    assert [f for f, _ in our_flags] == [f for f, _ in seed_flags]
    for (flag, seed_value), (_, our_value) in zip(seed_flags, our_flags):
        assert same_value(seed_value, our_value), (flag, seed_value, our_value)


def by_script(recipe, script):
    return [s for s in recipe.stages if s.script == script]


def test_sense_adaptation_commands_equal_the_seed_readme(tmp_path):
    recipe = load_recipe("sense_adaptation", tmp_path, {"retune": "true", "hub_repo": "me/parallel",
                                                        "tasks": "xcopa", "analyses": "false"})
    seeds = {Path(c[1]).name: c for c in seed_commands("sensia", "swh")}
    assert set(seeds) == {"build_opus_corpus.py", "run_clm.py", "run_adaptation.py", "run_flores_ppl.py",
                          "run_eval.py"}
    for script, seed in seeds.items():
        stages = by_script(recipe, script)
        assert stages, script
        for stage in stages:
            assert_same_command(seed, stage.command())
    adapt = recipe.stage("adapt-swh")
    assert adapt.flags["--model_id"] == str(tmp_path / "backpack-clm") and adapt.after == ("corpus-swh", "retune")
    assert adapt.flags["--dataset_name"] == "me/parallel" and adapt.flags["--dataset_config"] == "eng-swh-100k"


def test_commit_commands_equal_the_seed_readme(tmp_path):
    recipe = load_recipe("commit", tmp_path, {"langs": "el"})
    commands = seed_commands("commit", "el")
    pick = lambda text: next(c for c in commands if any(text in token for token in c))  # noqa: E731
    train, align, evaluation = pick("alpaca=True"), pick("fields="), pick("ogx_xquad")
    assert_same_command(train, recipe.stage("commit-el").command())
    assert_same_command(align, recipe.stage("align-el").command())
    # the README's variants: naive Alpaca drops every code-mix setting, Table 4 unblocks the template,
    # Table 3's naive CLM sets the alignment's ratio to 0
    naive = recipe.stage("naive_alpaca-el").flags
    assert not [f for f in naive if "codemix" in f]
    assert_same_command([f for f in train if "codemix" not in f], recipe.stage("naive_alpaca-el").command())
    assert recipe.stage("naive_codemix-el").flags["--train_dataset.text_processor.block_codemix_in_template"] \
        == "False"
    assert recipe.stage("clm-el").flags["--train_dataset.text_processor.codemix_ratio"] == 0.0
    assert recipe.stage("align_commit-el").flags["--load_checkpoint"] == f"params::{tmp_path / 'align-el'}"
    assert recipe.stage("clm_commit-el").after == ("clm-el",)
    # `main.py --tasks ogx_xquad_el` / `ogx_xquad_enel`: run_eval.py's xquad in the same language and batch
    tasks = dict(pairs(evaluation[2:]))
    assert tasks["--tasks"] == ["ogx_xquad_el"] and tasks["--batch_size"] == ["2"]
    for code in ("el", "enel"):
        flags = recipe.stage(f"xquad-{code}-commit-el").flags
        assert (flags["--task"], flags["--lang"], flags["--batch_size"], flags["--device"]) == \
            ("xquad", code, 2, "cuda")
        assert flags["--model_path"] == tmp_path / "commit-el"
    assert {m.reason for m in recipe.missing} == {f"no {code} in MLQA (it has: ar, de, en, es, hi, vi, zh)"
                                                  for code in ("el", "enel")}
    assert not [s for s in recipe.stages if s.name.startswith("mlqa")]


@functools.lru_cache(maxsize=None)
def documented_flags(script: str) -> frozenset:
    out = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return frozenset(re.findall(r"--[A-Za-z0-9_.\-]+", out.stdout))


@pytest.mark.parametrize("name, settings", [
    ("sense_adaptation", {"retune": "true", "hub_repo": "me/data", "flores": "flores200_dataset",
                          "publish_repo": "me/bp-{lang}", "langs": "swh,est"}),
    ("commit", {"langs": "hi,el", "publish_repo": "me/llama-{lang}"}),
    ("tiny_sense_adaptation", {"base_model": "/models/bp"}),
    ("tiny_commit", {"llama": "/models/llama"})])
def test_every_flag_of_every_stage_exists_in_its_script(tmp_path, name, settings):
    for stage in load_recipe(name, tmp_path, settings).stages:
        unknown = [flag for flag in stage.flags if flag not in documented_flags(stage.script)]
        assert not unknown, f"{name}: {stage.name}: {stage.script} does not know {unknown}"


def test_tasks_without_the_language_are_rows_that_say_so(tmp_path):
    recipe = load_recipe("sense_adaptation", tmp_path, {"langs": "est"})
    names = {s.name for s in recipe.stages}
    assert {"xcopa-base-est", "belebele-adapted-est", "tatoeba_retrieval-base-est"} <= names
    assert "xstorycloze-base-est" not in names
    assert [m.row for m in recipe.missing] == ["XStoryCloze acc (est)"]
    assert recipe.missing[0].reason.startswith("no est in XStoryCloze")


def test_bad_settings_are_refused(tmp_path):
    with pytest.raises(LangAdaptError, match="--set steps: recipe sense_adaptation has no such variable"):
        load_recipe("sense_adaptation", tmp_path, {"steps": "3"})
    with pytest.raises(LangAdaptError, match="no such recipe file"):
        load_recipe("nope", tmp_path)
    with pytest.raises(LangAdaptError, match="no stage family adaptt"):
        load_recipe("sense_adaptation", tmp_path).with_flags({"adaptt": {"--max_steps": 3}})
    out = subprocess.run([sys.executable, "run_recipe.py", "commit", "--out", str(tmp_path), "--set", "mlqa=maybe"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == "error: --set mlqa=maybe: expected true or false"


def mark_complete(root, stage):
    """What a finished run leaves: its folder's completion record, and the runner's record of the command."""
    stage.output_path.mkdir(parents=True)
    (stage.output_path / "run.json").write_text(json.dumps({"completed": {"step": 1210}}))
    state.write_pending(root, stage)
    state.finish(root, stage)


def test_skip_needs_a_complete_output_and_the_same_command(tmp_path):
    recipe = load_recipe("commit", tmp_path, {"variants": "commit"})
    stage = recipe.stage("commit-hi")
    assert not state.is_complete(tmp_path, stage)
    mark_complete(tmp_path, stage)
    assert state.is_complete(tmp_path, stage)
    changed = load_recipe("commit", tmp_path, {"variants": "commit", "alpaca": "my/alpaca"}).stage("commit-hi")
    assert not state.is_complete(tmp_path, changed)  # rerun: the script's own identity check decides


FAKE_SBATCH = """#!{python}
import json, os, sys
count = os.path.join(os.environ["FAKE_SLURM"], "next")
job = int(open(count).read()) if os.path.exists(count) else 100
open(count, "w").write(str(job + 1))
with open(os.path.join(os.environ["FAKE_SLURM"], "sbatch.jsonl"), "a") as log:
    log.write(json.dumps({{"argv": sys.argv[1:], "MODE": os.environ.get("MODE"),
                          "STAGE_RECORD": os.environ.get("STAGE_RECORD")}}) + "\\n")
print(f"{{job}};cluster")
"""


def fake_bin(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "sbatch").write_text(FAKE_SBATCH.format(python=sys.executable))
    (bin_dir / "scontrol").write_text('#!/bin/sh\necho "$@" >> "$FAKE_SLURM/scontrol.log"\n')
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir


def test_slurm_chain_waits_for_what_each_stage_needs_and_skips_complete_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", f"{fake_bin(tmp_path)}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(tmp_path))
    root = tmp_path / "out"
    recipe = load_recipe("commit", root, {"variants": "commit,align_commit", "prompts": "native", "mlqa": "false"})
    mark_complete(root, recipe.stage("align-hi"))
    jobs = submit_chain(recipe, root)
    submitted = [json.loads(line) for line in (tmp_path / "sbatch.jsonl").read_text().splitlines()]
    assert jobs == {"align-hi": "skipped", "commit-hi": "100", "align_commit-hi": "101",
                    "xquad-hi-commit-hi": "102", "xquad-hi-align_commit-hi": "103", "table": "104"}
    options = [{a.split("=")[0]: a.partition("=")[2] for a in job["argv"] if a.startswith("--")}
               for job in submitted]
    assert "--dependency" not in options[0] and "--dependency" not in options[1]  # align-hi is done already
    assert options[2]["--dependency"] == "afterok:100" and options[3]["--dependency"] == "afterok:101"
    assert options[4]["--dependency"] == "afterany:100:101:102:103"
    assert options[0]["--gpus-per-node"] == "8" and options[0]["--time"] == "24:00:00"
    assert options[2]["--gpus-per-node"] == "1" and options[2]["--time"] == "04:00:00"
    assert all(o["--requeue"] == "" and o["--signal"] == "B:USR1@180" for o in options)
    assert [job["MODE"] for job in submitted] == ["auto", "auto", "single", "single", "single"]
    job_script = submitted[0]["argv"].index(str(ROOT / "slurm" / "recipe_job.sh"))
    assert submitted[0]["argv"][job_script + 1:] == recipe.stage("commit-hi").command()[1:]
    assert submitted[0]["STAGE_RECORD"] == str(root / "stages" / "commit-hi.json")
    assert (root / "stages" / "commit-hi.json.pending").is_file()


def run_job(tmp_path, python_body: str, extra_env: dict):
    fake_python = tmp_path / "python"
    fake_python.write_text(f"#!/bin/sh\n{python_body}\n")
    fake_python.chmod(0o755)
    record = tmp_path / "stage.json"
    (tmp_path / "stage.json.pending").write_text("{}")
    env = {**os.environ, "PATH": f"{fake_bin(tmp_path)}:{os.environ['PATH']}", "FAKE_SLURM": str(tmp_path),
           "PYTHON": str(fake_python), "STAGE_RECORD": str(record), "LANGADAPT_ROOT": str(ROOT), **extra_env}
    return subprocess.Popen(["bash", str(ROOT / "slurm" / "recipe_job.sh"), "commit_train.py", "--x", "1"],
                            cwd=tmp_path, env=env), record


def test_recipe_job_requeues_on_preemption_and_records_only_success(tmp_path):
    job, record = run_job(tmp_path, "sleep 30", {"SLURM_JOB_ID": "42"})
    time.sleep(1.0)
    job.send_signal(signal.SIGUSR1)
    assert job.wait(timeout=20) == 0
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "42"]
    assert not record.exists() and (tmp_path / "stage.json.pending").exists()
    job, record = run_job(tmp_path, "exit 3", {})
    assert job.wait(timeout=20) == 3 and not record.exists()
    job, record = run_job(tmp_path, 'echo "$@" > "$FAKE_SLURM/ran"', {})
    assert job.wait(timeout=20) == 0 and record.exists()
    assert (tmp_path / "ran").read_text().split() == [str(ROOT / "commit_train.py"), "--x", "1"]
    job, record = run_job(tmp_path, 'mv "$STAGE_RECORD.pending" "$STAGE_RECORD"', {})  # as run_recipe.py does
    assert job.wait(timeout=20) == 0 and record.exists()


def write_results(recipe, root):
    """Stage outputs as the scripts write them, for two COMMIT variants."""
    for stage in recipe.stages:
        if stage.kind == "eval":
            scores = [100.0, 0.0, 50.0, 0.0] if "align" in stage.name else [0.0, 0.0, 100.0, 0.0]
            samples = [{"exact_match": s if s != 50.0 else 0.0, "f1": s} for s in scores]
            Path(stage.flags["--log_samples"]).parent.mkdir(parents=True, exist_ok=True)
            Path(stage.flags["--log_samples"]).write_text("".join(json.dumps(s) + "\n" for s in samples))
            stage.output_path.write_text(json.dumps({"n_examples": 4, "metrics": {
                "exact_match": sum(s["exact_match"] for s in samples) / 4, "f1": sum(scores) / 4}}))


def test_table_cells_are_the_stage_outputs_with_their_errors(tmp_path):
    from langadapt.recipes.table import write_table

    recipe = load_recipe("commit", tmp_path, {"variants": "commit,align_commit", "prompts": "native"})
    write_results(recipe, tmp_path)
    reference = tmp_path / "paper.csv"
    reference.write_text('row,figure\n"XQuAD F1 (hi, native prompt)",37.9 (paper)\n')
    table = write_table(recipe, tmp_path, reference)
    cell = table.cell("XQuAD F1 (hi, native prompt)", "align + COMMIT")
    assert (cell.value, cell.n) == (37.5, 4)
    assert cell.stderr == pytest.approx((((100 - 37.5) ** 2 + 37.5 ** 2 * 2 + 12.5 ** 2) / 4) ** 0.5 / 2)
    markdown = (tmp_path / "results.md").read_text()
    assert "| XQuAD F1 (hi, native prompt) | 25 ± 21.7 (n=4) | 37.5 ± 20.7 (n=4) | 37.9 (paper) |" in markdown
    assert "| MLQA EM (hi, native prompt) | 25 ± 21.7 (n=4)" in markdown
    rows = (tmp_path / "results.csv").read_text().splitlines()
    assert rows[0] == "row,column,value,stderr,n,source" and len(rows) == 1 + 8 + 1
    assert (tmp_path / "results.png").stat().st_size > 0


def test_publish_writes_a_model_card_and_uploads_without_the_network(tmp_path, monkeypatch):
    from langadapt.recipes import publish

    calls = []

    class FakeApi:
        def create_repo(self, **kwargs):
            calls.append(("create_repo", kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))

        def upload_file(self, **kwargs):
            calls.append(("upload_file", kwargs))
            return "https://hub/commit/1"

    monkeypatch.setattr(publish, "hub_api", lambda token: FakeApi())
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    recipe = load_recipe("commit", tmp_path, {"variants": "commit", "prompts": "native", "mlqa": "false",
                                              "publish_repo": "me/llama-commit-{lang}"})
    stage = recipe.stage("publish-hi")
    assert stage.after == ("table", "commit-hi")
    (tmp_path / "commit-hi").mkdir()
    (tmp_path / "commit-hi" / "config.json").write_text("{}")
    (tmp_path / "results.md").write_text("| measure | COMMIT |\n|---|---|\n| XQuAD EM | 1 |\n")
    publish.publish(recipe, stage, tmp_path)
    assert [c[0] for c in calls] == ["create_repo", "upload_folder", "upload_file"]
    assert calls[1][1]["folder_path"] == str(tmp_path / "commit-hi")
    assert "checkpoints/*" in calls[1][1]["ignore_patterns"]
    card = calls[2][1]["path_or_fileobj"].decode()
    assert calls[2][1]["path_in_repo"] == "README.md" and "# me/llama-commit-hi" in card
    assert "| XQuAD EM | 1 |" in card and "- tatsu-lab/alpaca" in card
    assert recipe.stage("commit-hi").shell() in card
    assert json.loads((tmp_path / "published" / "publish-hi.json").read_text())["repo"] == "me/llama-commit-hi"
    assert state.output_complete(stage)


def test_publish_checks_the_token_first(monkeypatch):
    from langadapt.recipes import publish

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    with pytest.raises(LangAdaptError, match="publishing needs a hub token"):
        publish.check_token()


def test_the_table_job_rebuilds_the_recipe_from_its_folder(tmp_path, monkeypatch):
    """What the SLURM chain's last job runs: `run_recipe.py --out DIR --only table`, the recipe read from DIR."""
    sys.path.insert(0, str(ROOT))
    import run_recipe

    out = tmp_path / "out"
    assert run_recipe.main(["commit", "--out", str(out), "--set", "variants=commit", "--set", "langs=th",
                            "--only", "table"]) == 0
    assert json.loads((out / "recipe.json").read_text())["variables"]["langs"] == ["th"]
    (out / "results.md").unlink()
    assert run_recipe.main(["--out", str(out), "--only", "table"]) == 0
    markdown = (out / "results.md").read_text()
    assert "| XQuAD EM (th, native prompt) | not run yet (xquad-th-commit-th) |" in markdown
    assert "| MLQA F1 (enth, english prompt) | no enth in MLQA" in markdown
    with pytest.raises(LangAdaptError, match="no recipe.json"):
        run_recipe.main(["--out", str(tmp_path / "empty"), "--only", "table"])
