"""convert_easylm_to_hf.py: an EasyLM streaming checkpoint (written by EasyLM's own StreamingCheckpointer, bf16)
becomes a Llama folder whose logits equal the EasyLM model's (FlaxLLaMAForCausalLMModule, recorded in the
fixture with the input ids)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from convert_easylm_to_hf import main
from langadapt.cli import run_cli

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "easylm-tiny"
SPM = ROOT / "tests" / "fixtures" / "tiny-spm" / "tokenizer.model"


def convert(tmp_path, *extra):
    run = tmp_path / "save" / "0123abcd"  # EasyLM's logger puts checkpoints under a run-id folder
    run.mkdir(parents=True)
    shutil.copyfile(FIXTURE / "streaming_params_2", run / "streaming_params_2")
    out = tmp_path / "hf"
    main([f"--load_checkpoint=params::{tmp_path}/save/*/streaming_params_2", f"--tokenizer_path={SPM}",
          "--model_size=tiny", f"--output_dir={out}", "--vocab_size=500", *extra])
    return out


def test_converted_logits_equal_easylm_logits(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = convert(tmp_path)
    expected = json.loads((FIXTURE / "expected.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor(expected["input_ids"])).logits.numpy()
    easylm = np.load(FIXTURE / "expected_logits.npy")
    assert np.abs(logits - easylm).max() < 1e-5 * max(1.0, np.abs(easylm).max())
    assert AutoTokenizer.from_pretrained(out).eos_token == "</s>"
    saved = json.loads((out / "config.json").read_text())
    assert saved["dtype"] == "float16" and saved["num_hidden_layers"] == 2 and not (tmp_path / "hf.partial").exists()


def test_a_dropped_permutation_would_be_seen(tmp_path):
    """Without the rotary permutation the logits move: the fixture checks the layout, not only the names."""
    from transformers import AutoModelForCausalLM

    out = convert(tmp_path, "--dtype=float32")
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    q = model.model.layers[0].self_attn.q_proj.weight
    expected = json.loads((FIXTURE / "expected.json").read_text())
    with torch.no_grad():
        q.copy_(q.view(4, 2, 4, 32).transpose(1, 2).reshape(32, 32))  # back to EasyLM's interleaved rows
        logits = model(torch.tensor(expected["input_ids"])).logits.numpy()
    assert np.abs(logits - np.load(FIXTURE / "expected_logits.npy")).max() > 1e-4


@pytest.mark.parametrize("flags, message", [
    (["--load_checkpoint=params::{tmp}/nowhere/*/streaming_params_2"], "matches no file"),
    (["--load_checkpoint=weights::{tmp}/x"], "expected TYPE::PATH"),
    (["--model_size=7b"], "pass --model_size tiny and --vocab_size 500"),
    (["--model_size=2b"], "--model_size 2b: expected one of"),
])
def test_bad_flags_are_one_line_errors(tmp_path, capsys, flags, message):
    (tmp_path / "run").mkdir()
    shutil.copyfile(FIXTURE / "streaming_params_2", tmp_path / "run" / "streaming_params_2")
    base = {"--load_checkpoint": f"params::{tmp_path}/run/streaming_params_2", "--tokenizer_path": str(SPM),
            "--model_size": "tiny", "--output_dir": str(tmp_path / "hf"), "--vocab_size": "500"}
    for flag in flags:
        name, value = flag.split("=", 1)
        base[name] = value.format(tmp=tmp_path)
    argv = [f"{k}={v}" for k, v in base.items()]
    with pytest.raises(SystemExit) as exit_info:
        run_cli(main, argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
