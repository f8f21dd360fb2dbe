"""The demo's whole pipeline at its smallest size: every stage's script runs and the results table is built."""
import collections
import re
import sys

import pytest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent.parent / "examples"))


@pytest.mark.slow
def test_demo_pipeline_smoke(tmp_path):
    import demo

    out = tmp_path / "demo"
    assert demo.main(["--output_dir", str(out), "--size", "smoke"]) == 0
    report = (out / "RESULTS.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 7 + 7 + 2  # evaluation rows, training rows, two header lines
    assert "(results/senses/senses.md)" in report
    for row in rows:
        if row.startswith(("| task ", "| training stage ")):
            continue
        base, adapted = row.strip("| ").split(" | ")[-2:]
        assert re.fullmatch(r"[-0-9.e+]+", base) and re.fullmatch(r"[-0-9.e+]+", adapted), row
    logs = sorted((out / "logs").glob("*.log"))
    assert {log.stem.split("_", 1)[1].split("_")[0] for log in logs} >= {"corpus", "pretrain", "sense", "flores",
                                                                          "xcopa", "commit", "xquad"}
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
