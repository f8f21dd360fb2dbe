"""benchmarks/gpu_check.py --smoke: every section of the GPU check runs at tiny shapes on CPU, so the script is
ready (and not rotten) the day a GPU is lent."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_smoke_runs_every_section_and_writes_its_json(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu_check.py"), "--smoke", "--out", str(out)],
                          capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert json.loads(done.stdout) == report
    errors = {name: section["error"] for name, section in report.items()
              if isinstance(section, dict) and "error" in section}
    assert not errors, errors
    assert report["environment"]["device"] == "cpu" and len(report["environment"]["load_1_5_15"]) == 3
    train = report["backpack"]["train"]["L64"]
    assert all(train[v]["tokens_per_s"] > 0 and "mfu" in train[v] for v in ("eager", "fused", "default"))
    assert report["backpack"]["generate"]["cache"]["tokens"] == 4
    runs = report["commit"]["runs"]
    assert sorted(runs) == ["fcm_off_compile_off", "fcm_off_compile_on", "fcm_on_compile_off", "fcm_on_compile_on"]
    assert all(run["tokens_per_s"] > 0 and run["mfu"] is None for run in runs.values())  # no MFU on CPU
    assert report["commit"]["fsdp2_one_process"]["backend"] == "gloo"
    labse = report["labse"]
    assert labse["pairs"] == 64 and 0 <= labse["decisions_flipped"] <= 64 and labse["max_abs_similarity_diff"] < 0.05
    for task in ("xcopa", "belebele"):
        figures = report["scoring"]["sizes"]["2x32"][task]
        assert figures["same_prediction_share"] == 1.0 and figures["padding_share_ours"] < 0.1
