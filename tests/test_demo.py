"""The demo's whole pipeline at its smallest size: every stage's script runs and the results table is built."""
import collections
import re
import sys

import pytest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "examples"))


@pytest.mark.slow
def test_demo_pipeline_smoke(tmp_path):
    """Every row carries its n and noise; the tokenizer never saw an evaluation sentence."""
    import demo

    out = tmp_path / "demo"
    assert demo.main(["--output_dir", str(out), "--size", "smoke"]) == 0
    report = (out / "RESULTS.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ") and "---" not in line]
    assert "(results/senses/senses.md)" in report
    results = [row.strip("| ").split(" | ") for row in rows[1:rows.index(next(r for r in rows if r.startswith("| training")))]]
    assert len(results) == 9 and len(rows) == 1 + 9 + 1 + 7  # header, evaluation rows, header, training rows
    expected_n = {"FLORES-style": 64, "XCOPA-style": 200, "Retrieval": 64, "Held-out Hindi": 100}
    for task, _, n, base, adapted, z in results:
        assert int(n) == next(v for k, v in expected_n.items() if task.startswith(k)), task
        assert all(re.fullmatch(r"[-0-9.e+]+", figure) for figure in (base, adapted, z)), task
    assert re.search(r"validation loss [0-9.]+ nats/token against [0-9.]+ for a unigram model", report)
    logs = sorted((out / "logs").glob("*.log"))
    assert {log.stem.split("_", 1)[1].split("_")[0] for log in logs} >= {"corpus", "pretrain", "sense", "flores",
                                                                          "xcopa", "commit", "hindi"}
    for log in logs:
        assert_fit_for_a_file(log.read_text(encoding="utf-8"), log.name)
    for path in ("results.png", "backpack-adapted/schedule_and_losses.png", "corpus/stats.json",
                 "backpack-adapted/config.json", "commit/config.json", "results/senses/senses.md"):
        assert (out / path).is_file(), path


WARNING = re.compile(r"warn", re.IGNORECASE)
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")


def assert_fit_for_a_file(text: str, name: str) -> None:
    """A script's output redirected to a file: no progress-bar carriage returns, each warning once."""
    assert "\r" not in text, f"{name}: carriage returns (a progress bar) in a log file"
    warnings = collections.Counter(TIMESTAMP.sub("", line) for line in text.splitlines() if WARNING.search(line))
    repeated = [line for line, count in warnings.items() if count > 1]
    assert not repeated, f"{name}: repeated warnings {repeated}"


def test_demo_tokenizer_text_holds_no_evaluation_sentence():
    import demo

    held_out = set()
    for folder in (demo.DATA / "flores_demo", demo.GRAMMAR / "flores_hindi"):
        held_out |= {line for path in folder.glob("*/*.*") for line in demo.lines(path)}
    held_out |= set(demo.lines(demo.GRAMMAR / "english_valid.txt"))
    sentences = {piece.strip() + "।" for text in demo.training_texts() for piece in text.split("।")[:-1]}
    sentences |= set(demo.training_texts())  # the Hindi rows hold four sentences each, the others one
    assert held_out and not held_out & sentences
