"""The COMMIT recipe at the demo's smallest size, on the bundled data, on CPU (the test suite's).

Same stages and flags as recipes/commit.py for two variants (naive Alpaca; alignment then COMMIT), with:
the sample MUSE dictionaries, the bundled Alpaca records and Hindi text, the demo's few steps of 8 x 128
tokens, and the bundled XQuAD-style file with Hindi and English prompt labels. `llama` must name a small
causal LM folder (the tests save one).
"""
from __future__ import annotations

from pathlib import Path

from langadapt.errors import LangAdaptError
from recipes import commit as paper

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"
VARIABLES = {**paper.VARIABLES, "llama": "", "variants": ["naive_alpaca", "align_commit"], "mlqa": False,
             "dicts": "dicts/sample", "alpaca": str(DATA / "alpaca_sample.json"),
             "wikipedia": str(DATA / "grammar" / "hindi_train.jsonl"), "steps": 3}


def build(v: dict, root: Path):
    if not v["llama"]:
        raise LangAdaptError("--set llama: the tiny recipe needs a small causal LM folder (the tests save one)")
    steps = v["steps"]
    small = {"--total_steps": steps, "--save_milestone_freq": steps, "--optimizer.adamw_optimizer.lr": 2e-3,
             "--optimizer.adamw_optimizer.end_lr": 1e-5, "--optimizer.adamw_optimizer.lr_warmup_steps": 2,
             "--optimizer.adamw_optimizer.lr_decay_steps": steps, "--log_freq": 1,
             "--train_dataset.huggingface_dataset.seq_length": 128, "--train_dataset.huggingface_dataset.batch_size": 8}
    return paper.build({k: v[k] for k in paper.VARIABLES}, root).with_flags({
        "align": {**small, "--train_dataset.huggingface_dataset.name": None},  # a local file has no config
        "tune": small,
        "xquad": {"--device": "cpu", "--batch_size": 4, "--max_new_tokens": 8,
                  "--data_path": DATA / "eval" / "xquad_hi.json"},
    })
