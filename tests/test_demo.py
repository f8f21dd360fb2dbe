"""The demo's whole pipeline at its smallest size: every stage's script runs and the results table is built."""
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
    for path in ("results.png", "backpack-adapted/schedule_and_losses.png", "corpus/stats.json",
                 "backpack-adapted/config.json", "commit/config.json", "results/senses/senses.md"):
        assert (out / path).is_file(), path
