"""One command-line style for every script: `--help` at once, underscores, `--no-` forms, no abbreviations."""
import argparse
import dataclasses
import importlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ("build_opus_corpus", "run_clm", "run_adaptation", "run_flores_ppl", "run_eval", "commit_train",
           "run_recipe")
ANALYSES = ("run_ablations", "run_ablation_sense_collapse", "inspect_senses")
# Hyphenated flags of the original scripts, kept as they are spelled there.
ORIGINAL_HYPHENATED = {"build_opus_corpus": {"--hf-mix"}}
FLAG = re.compile(r"--[a-z][a-z0-9_.]*")


def parser_of(script: str) -> argparse.ArgumentParser:
    if script == "run_clm":
        from langadapt.clm.arguments import build_parser

        return build_parser()
    if script == "commit_train":
        from langadapt.commit.args import build_parser

        return build_parser()
    module = importlib.import_module(script)
    if hasattr(module, "build_parser"):
        return module.build_parser()
    captured = {}

    class Captured(Exception):
        pass

    def capture(self, args=None, namespace=None):
        captured["parser"] = self
        raise Captured

    original = argparse.ArgumentParser.parse_args
    argparse.ArgumentParser.parse_args = capture
    try:
        module.parse_args([])
    except Captured:
        pass
    finally:
        argparse.ArgumentParser.parse_args = original
    return captured["parser"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_answers_at_once_and_shows_defaults(script):
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(ROOT / f"{script}.py"), "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-2000:]
    assert seconds < 2.0, f"{script} --help took {seconds:.1f} s"
    assert "(default:" in result.stdout
    assert "(default: ...) (default:" not in result.stdout


def help_entries(text: str) -> list[str]:
    """Each flag's help as one line (argparse wraps them over several)."""
    entries, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("-") and line.startswith("  -"):
            entries.append(current)
            current = line.strip()
        else:
            current += " " + line.strip()
    return [" ".join(entry.split()) for entry in [*entries, current] if entry.startswith("-")]


@pytest.mark.parametrize("script", [*SCRIPTS, *ANALYSES, "run_clm --help_all"])
def test_help_shows_each_default_once(script):
    """No "(default: --logging_steps) (default: None)": a help that states its default gets no second one,
    and an empty or None default is not shown as "(default: )"."""
    name, *flags = script.split()
    result = subprocess.run([sys.executable, str(ROOT / f"{name}.py"), *(flags or ["--help"])], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    entries = help_entries(result.stdout)
    assert len(entries) > 5 and any("(default: " in entry for entry in entries)
    for entry in entries:
        assert entry.lower().count("default") <= 1 or "(default: " not in entry, entry
        assert "(default: )" not in entry and "(default: None)" not in entry, entry


@pytest.mark.parametrize("script", SCRIPTS)
def test_flags_follow_one_spelling_rule(script):
    parser = parser_of(script)
    assert parser.allow_abbrev is False
    for action in parser._actions:
        longs = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
        for option in longs:
            if script == "run_clm" or option in ORIGINAL_HYPHENATED.get(script, set()):
                continue
            name = option[len("--no-"):] if option.startswith("--no-") else option[2:]
            assert FLAG.fullmatch(f"--{name}"), f"{script}: {option} is not spelled with underscores"
            if option.startswith("--no-"):
                assert any(f"--{name}" in other.option_strings for other in parser._actions), option
        takes_no_value = action.nargs == 0 or (action.nargs == "?" and action.const is True)
        if takes_no_value and longs and not longs[0].startswith("--no-") and script != "run_clm":
            negations = [o for other in parser._actions for o in other.option_strings
                         if o == f"--no-{longs[0][2:]}" and other.dest == action.dest]
            assert negations, f"{script}: boolean {longs[0]} has no --no- form"


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_abbreviated_flag_is_refused(script):
    parser = parser_of(script)
    longest = max((o for a in parser._actions for o in a.option_strings if FLAG.fullmatch(o)), key=len)
    result = subprocess.run([sys.executable, str(ROOT / f"{script}.py"), longest[:-2], "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, (longest, result.stderr[-2000:])
    assert longest[:-2] in result.stderr


def test_run_clm_quick_help_matches_the_real_flags():
    """The quick help lists flags that the real parser has, with the real parser's defaults."""
    from langadapt.clm.arguments import ClmTrainingArguments
    from langadapt.clm.model_data_flags import DataTrainingArguments, ModelArguments
    from langadapt.clm.quick_help import quick_help_parser

    real = {}
    for dataclass in (ModelArguments, DataTrainingArguments, ClmTrainingArguments):
        for field in dataclasses.fields(dataclass):
            real[field.name] = field.default
    shown = [a for a in quick_help_parser()._actions if a.dest != "help"]
    assert len(shown) > 40
    for action in shown:
        assert action.dest in real, action.dest
        assert action.default == real[action.dest], (action.dest, action.default, real[action.dest])
