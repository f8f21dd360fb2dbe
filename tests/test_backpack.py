"""Backpack model: reference parity, attention paths, padding, cache, loss, loading and its errors."""
import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, GPT2LMHeadModel

from langadapt.backpack import BackpackGPT2Config, BackpackGPT2LMHeadModel
from langadapt.errors import LangAdaptError
from langadapt.models import load_causal_lm
from langadapt.toy_models import tiny_backpack_model

FIXTURE = Path(__file__).parent / "fixtures" / "backpack-gpt2-reference"


tiny_model = tiny_backpack_model


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_reference_checkpoint_reproduces_original_outputs(attn):
    model = BackpackGPT2LMHeadModel.from_pretrained(FIXTURE, attn_implementation=attn).eval()
    expected = load_file(str(FIXTURE / "expected.safetensors"))
    with torch.no_grad():
        out = model(expected["input_ids"], output_contextualization=True)
    torch.testing.assert_close(out.logits, expected["logits"], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.contextualization, expected["contextualization"], atol=1e-5, rtol=0)


def test_loader_routes_stanford_format_to_backpack_and_others_to_auto(tiny_gpt2_dir):
    assert isinstance(load_causal_lm(str(FIXTURE)), BackpackGPT2LMHeadModel)
    assert isinstance(load_causal_lm(tiny_gpt2_dir), GPT2LMHeadModel)


def test_sdpa_and_eager_agree_with_padding():
    eager, sdpa = tiny_model("eager"), tiny_model("sdpa")
    ids = torch.randint(0, 61, (3, 12))
    mask = torch.ones_like(ids)
    mask[0, :4] = 0  # left padding
    mask[1, 9:] = 0  # right padding
    with torch.no_grad():
        a = eager(ids, attention_mask=mask, output_sense_contributions=True)
        b = sdpa(ids, attention_mask=mask, output_sense_contributions=True)
    real = mask.bool()
    torch.testing.assert_close(a.logits[real], b.logits[real], atol=1e-5, rtol=0)
    torch.testing.assert_close(a.sense_contributions, b.sense_contributions, atol=1e-5, rtol=0)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_padded_batch_matches_each_sequence_alone(side, attn):
    model = tiny_model(attn)
    lengths = [5, 9, 12]
    seqs = [torch.randint(1, 61, (n,)) for n in lengths]
    width = max(lengths)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, seq in enumerate(seqs):
        span = slice(width - len(seq), width) if side == "left" else slice(0, len(seq))
        ids[row, span], mask[row, span] = seq, 1
    with torch.no_grad():
        batched = model(ids, attention_mask=mask).logits
        for row, seq in enumerate(seqs):
            alone = model(seq[None]).logits[0]
            torch.testing.assert_close(batched[row][mask[row].bool()], alone, atol=1e-5, rtol=0)
    assert torch.isfinite(batched).all()


def test_outputs_on_request_are_consistent():
    model = tiny_model("eager")
    ids = torch.randint(0, 61, (2, 7))
    with torch.no_grad():
        out = model(ids, output_senses=True, output_contextualization=True, output_sense_contributions=True,
                    output_hidden_states=True)
    assert out.senses.shape == (2, 4, 7, 32)
    assert out.contextualization.shape == (2, 4, 7, 7)
    torch.testing.assert_close(out.sense_contributions.sum(1), out.backpack_hidden_states)
    torch.testing.assert_close(out.contextualization @ out.senses, out.sense_contributions)
    torch.testing.assert_close(model.lm_head(out.backpack_hidden_states), out.logits)
    assert torch.triu(out.contextualization[0, 0], diagonal=1).abs().max() == 0  # causal
    assert len(out.hidden_states) == 3  # embeddings + 2 layers
    plain = model(ids)
    assert plain.senses is None and plain.contextualization is None and plain.sense_contributions is None


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_cached_generation_equals_recomputation(attn):
    model = tiny_model(attn, seed=3)
    prompt = torch.randint(1, 61, (2, 6))
    mask = torch.ones_like(prompt)
    mask[0, :2] = 0  # left-padded batch
    with torch.no_grad():
        cached = model.generate(prompt, attention_mask=mask, max_new_tokens=12, do_sample=False, use_cache=True,
                                pad_token_id=0)
        uncached = model.generate(prompt, attention_mask=mask, max_new_tokens=12, do_sample=False,
                                  use_cache=False, pad_token_id=0)
        manual = prompt[1:]
        for _ in range(12):  # greedy by full recomputation, no generate() involved
            manual = torch.cat([manual, model(manual).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached[1], manual[0])


def test_cache_holds_sense_keys_and_values():
    model = tiny_model()
    ids = torch.randint(0, 61, (1, 5))
    with torch.no_grad():
        out = model(ids, use_cache=True)
        step = model(ids[:, -1:] * 0 + 3, past_key_values=out.past_key_values, use_cache=True)
    cache = step.past_key_values
    assert cache.get_seq_length() == 6
    assert cache.sense_values.shape == (1, 4, 6, 32) and cache.sense_keys.shape == (1, 4, 6, 8)


def test_label_smoothing_and_unsmoothed_loss():
    model = tiny_model()
    ids = torch.randint(0, 61, (2, 9))
    labels = ids.clone()
    labels[0, :3] = -100
    out = model(ids, labels=labels, label_smoothing=0.1)
    logits = out.logits[:, :-1].reshape(-1, 61)
    targets = labels[:, 1:].reshape(-1)
    torch.testing.assert_close(out.loss_unsmoothed, F.cross_entropy(logits, targets, ignore_index=-100))
    torch.testing.assert_close(out.loss, F.cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.1))
    assert out.loss > out.loss_unsmoothed
    plain = model(ids, labels=labels)
    torch.testing.assert_close(plain.loss, plain.loss_unsmoothed)
    out.loss.backward()
    assert model.lm_head.weight.grad is not None


def test_gradient_checkpointing_recomputes_and_gives_same_gradients():
    ids = torch.randint(0, 61, (2, 10))
    grads, sense_calls = [], []
    for checkpointing in (False, True):
        model = tiny_model(seed=1, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0).train()
        if checkpointing:
            model.activation_checkpointing_enable({"use_reentrant": False})
        calls = []
        model.backpack.sense_network.block.register_forward_hook(lambda *_: calls.append(1))
        model(ids, labels=ids).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        sense_calls.append(len(calls))
    torch.testing.assert_close(grads[0], grads[1])
    assert sense_calls == [1, 2]  # the checkpointed sense network ran again in the backward pass


def test_save_pretrained_round_trip(tmp_path):
    model = tiny_model()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert json.loads((tmp_path / "config.json").read_text())["model_type"] == "backpack-gpt2"
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(reloaded, BackpackGPT2LMHeadModel)
    ids = torch.randint(0, 61, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(ids).logits, model(ids).logits)
    assert reloaded.lm_head.weight.data_ptr() == reloaded.backpack.gpt2_model.wte.weight.data_ptr()


# ------------------------------------------------------------------------------------------ bad input
def test_not_a_backpack_folder_is_refused(tiny_gpt2_dir):
    with pytest.raises(LangAdaptError, match="not a Backpack checkpoint"):
        BackpackGPT2LMHeadModel.from_pretrained(tiny_gpt2_dir)


def test_missing_weights_are_refused(tmp_path):
    shutil.copy(FIXTURE / "config.json", tmp_path / "config.json")
    with pytest.raises(LangAdaptError, match="no model weights"):
        BackpackGPT2LMHeadModel.from_pretrained(tmp_path)


def test_partial_weights_are_refused(tmp_path):
    shutil.copy(FIXTURE / "config.json", tmp_path / "config.json")
    state = torch.load(FIXTURE / "pytorch_model.bin", weights_only=True)
    del state["backpack.sense_weight_net.c_attn.weight"]
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(LangAdaptError, match="lacks weights.*sense_weight_net"):
        BackpackGPT2LMHeadModel.from_pretrained(tmp_path)


def test_num_senses_that_does_not_fit_the_weights(tmp_path):
    config = json.loads((FIXTURE / "config.json").read_text())
    config["num_senses"] = 8
    (tmp_path / "config.json").write_text(json.dumps(config))
    shutil.copy(FIXTURE / "pytorch_model.bin", tmp_path / "pytorch_model.bin")
    with pytest.raises(LangAdaptError, match="num_senses=8"):
        BackpackGPT2LMHeadModel.from_pretrained(tmp_path)


def test_nonexistent_path_is_refused(tmp_path):
    with pytest.raises(LangAdaptError, match="nope: no such folder"):
        load_causal_lm(str(tmp_path / "nope"))


def test_sequence_longer_than_positions_is_refused():
    model = tiny_model(n_positions=16)
    with pytest.raises(LangAdaptError, match="exceeds the model's n_positions"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_num_senses_must_divide_width():
    with pytest.raises(LangAdaptError, match="divisible"):
        BackpackGPT2Config(n_embd=30, num_senses=4)


def test_cache_batch_operations_keep_the_sense_buffers_in_step():
    model = tiny_model()
    ids = torch.randint(1, 61, (2, 6))
    with torch.no_grad():
        cache = model(ids, use_cache=True).past_key_values
        expected_values = cache.sense_values.clone()
        cache.batch_repeat_interleave(2)
        assert torch.equal(cache.sense_values, expected_values.repeat_interleave(2, dim=0))
        cache.batch_select_indices(torch.tensor([0, 3]))
        assert torch.equal(cache.sense_values, expected_values)
        cache.reorder_cache(torch.tensor([1, 0]))
        assert torch.equal(cache.sense_values, expected_values.flip(0))
        cache.crop(-2)
        assert cache.get_seq_length() == 4 and cache.sense_keys.shape[2] == 4
        # decoding on from the cropped cache equals recomputing the 5-token prefix
        nxt = model(ids.flip(0)[:, 4:5], past_key_values=cache, use_cache=True).logits
        full = model(ids.flip(0)[:, :5]).logits[:, -1:]
    torch.testing.assert_close(nxt, full, atol=1e-5, rtol=0)
