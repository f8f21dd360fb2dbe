"""COMMIT training pieces: loss masks, packing and its resume, FCM, dropouts, loss and schedule."""
import math

import pytest
import torch
from datasets import Dataset

from langadapt.codemix import ALPACA_PROMPT_NO_INPUT
from langadapt.commit.data import ExampleEncoder, PackedStream
from langadapt.commit.fcm import ForgetfulCausalMask, causal_mask_with_keys, forgetful_key_mask
from langadapt.commit.optim import easylm_lr_factor, masked_row_mean_loss
from langadapt.errors import LangAdaptError

RECORDS = [{"instruction": f"Name fruit number {i}.", "input": "" if i % 2 else f"list {i}",
            "output": f"The fruit is mango {i}."} for i in range(12)]


def columns(records):
    return {key: [r[key] for r in records] for key in records[0]}


def test_loss_mask_covers_exactly_the_response_and_eos(tiny_tokenizer):
    encoder = ExampleEncoder(tiny_tokenizer, "alpaca")
    record = {"instruction": "Give a fruit.", "input": "", "output": "A mango."}
    [(ids, mask)] = encoder.encode(columns([record]), [0], [0])
    prompt_ids = tiny_tokenizer(ALPACA_PROMPT_NO_INPUT.format(instruction="Give a fruit."),
                                add_special_tokens=False)["input_ids"]
    eos = tiny_tokenizer.eos_token_id
    assert ids[0] == tiny_tokenizer.bos_token_id and ids[-1] == eos
    assert ids[1:1 + len(prompt_ids)] == prompt_ids
    trained = [token for token, m in zip(ids, mask) if m]
    assert trained[-1] == eos and tiny_tokenizer.decode(trained[:-1]) == "A mango."
    assert mask == [0] * (1 + len(prompt_ids)) + [1] * (len(ids) - 1 - len(prompt_ids))


def test_text_mode_trains_every_token_but_bos(tiny_tokenizer):
    encoder = ExampleEncoder(tiny_tokenizer, "text", add_eos_token=False)
    [(ids, mask)] = encoder.encode({"text": ["घर एक इमारत है"]}, [0], [0])
    assert mask == [0] + [1] * (len(ids) - 1)
    assert tiny_tokenizer.decode(ids[1:]) == "घर एक इमारत है"


def test_tokenizer_without_eos_is_refused(tiny_tokenizer):
    class NoEos:
        eos_token_id, bos_token_id = None, 0

    with pytest.raises(LangAdaptError, match="EOS"):
        ExampleEncoder(NoEos(), "alpaca")


def stream(tokenizer, seq_length=16, **kwargs):
    return PackedStream(Dataset.from_list(RECORDS), ExampleEncoder(tokenizer, "alpaca"), seq_length,
                        encode_batch=4, **kwargs)


def test_packing_keeps_every_token_and_shifts_targets(tiny_tokenizer):
    packed = stream(tiny_tokenizer, shuffle=False)
    encoded = ExampleEncoder(tiny_tokenizer, "alpaca").encode(columns(RECORDS[:4]), range(4), [0] * 4)
    flat_ids = [t for ids, _ in encoded for t in ids]
    flat_mask = [m for _, mask in encoded for m in mask]
    rows = packed.next_rows(3)
    inputs = rows["input_ids"].flatten().tolist()
    assert inputs == flat_ids[:48]
    assert rows["targets"].flatten().tolist() == flat_ids[1:49]
    assert rows["loss_mask"].flatten().tolist() == flat_mask[1:49]
    assert packed.next_rows(1)["input_ids"].flatten().tolist() == flat_ids[48:64]


def test_packed_stream_resumes_exactly(tiny_tokenizer):
    first = stream(tiny_tokenizer, seed=3)
    for _ in range(5):
        first.next_rows(2)
    state = first.state_dict()
    expected = [first.next_rows(2) for _ in range(8)]  # crosses into the next epoch
    second = stream(tiny_tokenizer, seed=3)
    second.load_state_dict(state)
    for want in expected:
        got = second.next_rows(2)
        assert all(torch.equal(got[k], want[k]) for k in want)


def test_ranks_pack_disjoint_examples(tiny_tokenizer):
    rank_streams = [stream(tiny_tokenizer, rank=r, world_size=2, shuffle=False) for r in range(2)]
    for s in rank_streams:
        s.next_rows(1)
    texts = [tiny_tokenizer.decode(s.next_rows(1)["input_ids"][0]) for s in rank_streams]
    assert texts[0] != texts[1]
    assert [s.sampler.rank for s in rank_streams] == [0, 1]


def test_fcm_masks_keys_only_and_never_key_zero():
    torch.manual_seed(0)
    keep = forgetful_key_mask(64, 32, 0.0, 0.5)
    assert keep[:, 0].all() and not keep.all()
    mask = causal_mask_with_keys(keep, "sdpa")
    causal = torch.ones(32, 32, dtype=torch.bool).tril()
    # every query row sees the same keys (up to causality): the mask is a function of the key alone
    assert torch.equal(mask[:, 0], causal[None] & keep[:, None, :])
    hidden = 1 - keep[:, 1:].float().mean().item()
    assert 0.15 < hidden < 0.35  # ratio ~ U(0, 0.5), mean 0.25


def test_fcm_only_in_training():
    fcm = ForgetfulCausalMask(0.0, 0.1, "sdpa")
    ids = torch.zeros(2, 8, dtype=torch.long)
    assert fcm(ids, training=False) is None
    assert fcm(ids, training=True).shape == (2, 1, 8, 8)
    assert ForgetfulCausalMask(0.0, 0.0, "sdpa")(ids, training=True) is None


def test_fcm_refuses_attention_without_custom_masks():
    with pytest.raises(LangAdaptError, match="sdpa"):
        ForgetfulCausalMask(0.0, 0.1, "flash_attention_2")


@pytest.fixture(scope="module")
def llama(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    return {impl: AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation=impl).eval()
            for impl in ("sdpa", "eager")}


def test_fcm_mask_reaches_llama_attention(llama):
    torch.manual_seed(1)
    ids = torch.randint(1, 300, (2, 12))
    keep = torch.ones(2, 12, dtype=torch.bool)
    plain = llama["sdpa"](ids).logits
    full = llama["sdpa"](ids, attention_mask=causal_mask_with_keys(keep, "sdpa")).logits
    assert torch.allclose(plain, full, atol=1e-5)
    keep[:, 5] = False
    hidden_sdpa = llama["sdpa"](ids, attention_mask=causal_mask_with_keys(keep, "sdpa")).logits
    hidden_eager = llama["eager"](ids, attention_mask=causal_mask_with_keys(keep, "eager")).logits
    assert torch.allclose(hidden_sdpa, hidden_eager, atol=1e-4)
    assert torch.allclose(hidden_sdpa[:, :5], plain[:, :5], atol=1e-5)  # queries before the key: unchanged
    assert not torch.allclose(hidden_sdpa[:, 6:], plain[:, 6:], atol=1e-3)


def test_llama_dropout_hooks_act_in_training_only(tiny_llama_dir):
    from langadapt.commit.dropout import add_dropout_hooks
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    ids = torch.randint(1, 300, (1, 10))
    reference = model.eval()(ids).logits
    handles = add_dropout_hooks(model, embd_pdrop=0.3, resid_pdrop=0.3)
    assert len(handles) == 1 + 2 * model.config.num_hidden_layers
    assert torch.equal(model.eval()(ids).logits, reference)
    model.train()
    assert not torch.allclose(model(ids).logits, reference)
    for handle in handles:
        handle.remove()
    assert torch.allclose(model(ids).logits, reference)


def test_masked_row_mean_loss_matches_definition():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7)
    targets = torch.randint(0, 7, (3, 5))
    mask = torch.tensor([[0, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], dtype=torch.float32)
    token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    rows = [token[0, 1:3].mean(), token[1].mean(), torch.tensor(0.0)]
    assert torch.allclose(masked_row_mean_loss(logits, targets, mask), torch.stack(rows).mean(), atol=1e-4)


def test_easylm_schedule_warmup_then_cosine_to_end_lr():
    factor = lambda step: easylm_lr_factor(step, lr=2e-5, init_lr=0.0, end_lr=1e-7, warmup_steps=36,
                                           decay_steps=1210)
    assert factor(0) == 0.0 and math.isclose(factor(18), 0.5)
    assert math.isclose(factor(36), 1.0)
    assert math.isclose(factor(36 + 605), (1 - 1e-7 / 2e-5) * 0.5 + 1e-7 / 2e-5)
    assert math.isclose(factor(36 + 1210) * 2e-5, 1e-7) and math.isclose(factor(5000) * 2e-5, 1e-7)


def test_mixed_rows_do_not_depend_on_how_examples_are_batched(tiny_tokenizer):
    from langadapt.codemix import CodeMixer, MuseDictionary

    dictionary = MuseDictionary({"fruit": ("फल",), "mango": ("आम", "अंबा"), "Name": ("नाम",)}, "test")
    rows = []
    for encode_batch in (1, 5):
        mixer = CodeMixer(dictionary, 0.5)
        packed = PackedStream(Dataset.from_list(RECORDS), ExampleEncoder(tiny_tokenizer, "alpaca", mixer=mixer),
                              16, seed=2, encode_batch=encode_batch)
        rows.append(torch.cat([packed.next_rows(2)["input_ids"] for _ in range(6)]))
        assert 0 < mixer.stats.replaced < mixer.stats.in_dictionary
    assert torch.equal(rows[0], rows[1])
