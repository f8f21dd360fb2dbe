"""Backpack compatibility: the Auto classes on the stanfordnlp format, checkpoints that load where langadapt
is absent, strict loading and one-line errors, every head width, compile and every generation mode."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForCausalLM

from langadapt.backpack import BackpackGPT2Config, BackpackGPT2LMHeadModel
from langadapt.errors import LangAdaptError
from langadapt.models import load_causal_lm
from langadapt.toy_models import tiny_backpack_model

FIXTURE = Path(__file__).parent / "fixtures" / "backpack-gpt2-reference"
EXPECTED = load_file(str(FIXTURE / "expected.safetensors"))


tiny_model = tiny_backpack_model


def reference_logits(model):
    with torch.no_grad():
        return model(EXPECTED["input_ids"]).logits


def test_auto_classes_load_the_stanford_format_as_a_backpack(caplog):
    with caplog.at_level("INFO", logger="langadapt"):
        config = AutoConfig.from_pretrained(FIXTURE)
    assert isinstance(config, BackpackGPT2Config) and config.num_senses == 4
    assert "in the stanfordnlp format" in caplog.text
    assert not hasattr(config, "auto_map")  # the hub's code pointers are dropped, never followed
    model = AutoModelForCausalLM.from_pretrained(FIXTURE).eval()
    assert isinstance(model, BackpackGPT2LMHeadModel)
    torch.testing.assert_close(reference_logits(model), EXPECTED["logits"], atol=1e-5, rtol=0)
    assert isinstance(AutoModelForCausalLM.from_config(config), BackpackGPT2LMHeadModel)


@pytest.fixture(scope="module")
def saved_reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved-backpack")
    BackpackGPT2LMHeadModel.from_pretrained(FIXTURE).save_pretrained(folder)
    return folder


def test_save_pretrained_writes_self_contained_model_code_and_auto_map(saved_reference):
    config = json.loads((saved_reference / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration.BackpackGPT2Config",
                                  "AutoModelForCausalLM": "modeling.BackpackGPT2LMHeadModel"}
    for name in ("configuration.py", "modeling.py", "cache.py", "errors.py", "loading.py"):
        source = (saved_reference / name).read_text()
        assert not re.search(r"^\s*(from|import)\s+(\.\.|langadapt)", source, flags=re.MULTILINE), name
    # where langadapt is present, no remote code is needed
    model = AutoModelForCausalLM.from_pretrained(saved_reference).eval()
    assert type(model) is BackpackGPT2LMHeadModel


def test_saved_checkpoint_loads_with_plain_transformers_where_langadapt_is_absent(saved_reference, tmp_path):
    script = f"""
import sys
sys.modules["langadapt"] = None  # any import of langadapt now fails
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained({str(saved_reference)!r}, trust_remote_code=True).eval()
expected = load_file({str(FIXTURE / "expected.safetensors")!r})
with torch.no_grad():
    out = model(expected["input_ids"], output_contextualization=True)
print(type(model).__module__, (out.logits - expected["logits"]).abs().max().item(),
      (out.contextualization - expected["contextualization"]).abs().max().item())
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    module, logits_diff, alpha_diff = result.stdout.split()[-3:]
    assert module.startswith("transformers_modules.")
    assert float(logits_diff) < 1e-5 and float(alpha_diff) < 1e-5


def test_unexpected_weights_are_refused_naming_them(tmp_path):
    deeper = tiny_model(n_layer=3)
    deeper.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps(dict(config, n_layer=2)))
    with pytest.raises(LangAdaptError, match=r"has no place for: backpack\.gpt2_model\.h\.2\."):
        BackpackGPT2LMHeadModel.from_pretrained(tmp_path)
    weights = load_file(str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(config))
    weights["backpack.stray.weight"] = torch.zeros(2)
    save_file(weights, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(LangAdaptError, match=r"backpack\.stray\.weight"):
        load_causal_lm(str(tmp_path))


@pytest.mark.parametrize("weights_file", ["pytorch_model.bin", "model.safetensors"])
def test_truncated_weight_file_is_a_one_line_error(tmp_path, weights_file):
    (tmp_path / "config.json").write_bytes((FIXTURE / "config.json").read_bytes())
    if weights_file == "model.safetensors":
        BackpackGPT2LMHeadModel.from_pretrained(FIXTURE).save_pretrained(tmp_path)
        data = (tmp_path / weights_file).read_bytes()
    else:
        data = (FIXTURE / weights_file).read_bytes()
    (tmp_path / weights_file).write_bytes(data[: len(data) // 2])
    with pytest.raises(LangAdaptError, match="truncated or corrupt") as info:
        load_causal_lm(str(tmp_path))
    assert "\n" not in str(info.value)


def test_token_id_outside_the_vocabulary_is_a_one_line_error():
    model = tiny_model()
    with pytest.raises(LangAdaptError, match="token id 61 is outside the model's vocabulary of 61"):
        model(torch.tensor([[1, 2, 61]]))


@pytest.mark.parametrize("senses", [1, 2])
def test_fused_path_for_keys_wider_than_fused_kernels_take(senses):
    """Width 600 with 1 or 2 senses: keys of 600 or 300 (> 256), which no fused kernel takes."""
    fields = dict(n_embd=600, n_layer=1, n_head=2, num_senses=senses, sense_intermediate_scale=1)
    eager, sdpa = tiny_model("eager", **fields), tiny_model("sdpa", **fields)
    ids = torch.randint(0, 61, (2, 9))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    with torch.no_grad():
        for kwargs in ({}, {"attention_mask": mask}):
            torch.testing.assert_close(sdpa(ids, **kwargs).logits, eager(ids, **kwargs).logits, atol=1e-4, rtol=0)


def test_fullgraph_compile_with_an_attention_mask():
    model = tiny_model()
    ids = torch.randint(0, 61, (2, 12))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        torch.testing.assert_close(compiled(ids, attention_mask=mask).logits, model(ids, attention_mask=mask).logits)


@pytest.mark.parametrize("mode", ["prompt_lookup", "assisted"])
def test_assisted_and_prompt_lookup_generation_equal_greedy(mode):
    model = tiny_model()
    pattern = torch.randint(0, 61, (1, 6))
    prompt = torch.cat([pattern, pattern, pattern[:, :3]], dim=1)  # repeats give prompt lookup candidates
    kwargs = {"prompt_lookup_num_tokens": 3} if mode == "prompt_lookup" else {"assistant_model": tiny_model(seed=1)}
    with torch.no_grad():
        greedy = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0)
        out = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0, **kwargs)
    assert torch.equal(out, greedy)


def test_static_cache_is_refused_with_a_clear_error():
    with pytest.raises(LangAdaptError, match="cache_implementation='static'"):
        tiny_model().generate(torch.tensor([[1, 2, 3]]), max_new_tokens=2, cache_implementation="static",
                              pad_token_id=0)
