"""The sense-adaptation recipe at the demo's smallest size, on the bundled data, on CPU (the test suite's).

Same stages and flags as recipes/sense_adaptation.py, with: the bundled OPUS files and HF dataset as the
corpora (no LaBSE model is bundled, so that filter is off), a few adaptation steps of the demo's settings,
the bundled FLORES-style and XCOPA-style files for evaluation, and no analyses. `base_model` must name a
small Backpack folder (the tests save one).
"""
from __future__ import annotations

from pathlib import Path

from langadapt.errors import LangAdaptError
from recipes import sense_adaptation as paper

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"
VARIABLES = {**paper.VARIABLES, "base_model": "", "tasks": ["xcopa"], "flores": str(DATA / "flores_demo"),
             "analyses": False, "steps": 6}
CPU = {"--device": "cpu", "--fp16": None}


def build(v: dict, root: Path):
    if not v["base_model"]:
        raise LangAdaptError("--set base_model: the tiny recipe needs a small Backpack folder (the tests save one)")
    steps = v["steps"]
    return paper.build({k: v[k] for k in paper.VARIABLES}, root).with_flags({
        "corpus": {"--corpora": ["DemoNews", "DemoTalks"], "--hf_corpora": [DATA / "hf_parallel_eng_swh"],
                   "--batch_size": 256, "--labse_threshold": 0, "--opus_download_dir": DATA / "opus"},
        "adapt": {"--max_length": 48, "--validation_file": DATA / "flores_demo", "--learning_rate": 6e-3,
                  "--train_batch_size": 32, "--use_fp16": None, "--max_steps": steps, "--eval_every_n_steps": steps,
                  "--save_every": steps, "--log_every_n_steps": 1, "--use_wandb": None, "--wandb_run_name": None},
        "flores": {**CPU, "--batch_size": 32, "--max_length": 64},
        "xcopa": {**CPU, "--batch_size": 16, "--data_path": DATA / "grammar" / "xcopa_sw.jsonl"},
    })
