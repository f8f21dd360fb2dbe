"""COMMIT training pieces: loss masks, packing and its resume, FCM, dropouts, loss and schedule."""
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset

from langadapt.commit.codemix import CodeMixer, MuseDictionary
from langadapt.commit.data import ExampleEncoder, PackedStream
from langadapt.commit.fcm import ForgetfulCausalMask, causal_mask_with_keys, forgetful_key_mask
from langadapt.commit.optim import build_optimizer, easylm_lr, masked_row_mean_loss
from langadapt.errors import LangAdaptError

FIXTURES = Path(__file__).parent / "fixtures"
EASYLM = json.loads((FIXTURES / "easylm_textprocessor.json").read_text())
OPTAX = json.loads((FIXTURES / "optax_adamw_momentum.json").read_text())

RECORDS = [{"instruction": f"Name fruit number {i}.", "input": "" if i % 2 else f"list {i}",
            "output": f"The fruit is mango {i}."} for i in range(12)]


def columns(records):
    return {key: [r[key] for r in records] for key in records[0]}


@pytest.fixture(scope="module")
def spm_tokenizer():
    from langadapt.commit.setup import sentencepiece_tokenizer

    return sentencepiece_tokenizer(FIXTURES / "tiny-spm" / "tokenizer.model")


def encode_cases(encoder, cases):
    return encoder.encode(columns([case["record"] for case in cases]), range(len(cases)), [0] * len(cases))


@pytest.mark.parametrize("mode, cases", [("alpaca", "alpaca"), ("text", "text"), ("alpaca", "alpaca_edge_cases"),
                                         ("alpaca", "alpaca_without_input_column")])
def test_token_ids_and_loss_masks_are_easylms(spm_tokenizer, mode, cases):
    """Expected: EasyLM's TextProcessor with its LLaMATokenizer on the same sentencepiece model (joint
    source+target, mask over the source's BOS+tokens+EOS; text mode `<s> <s> ... </s> </s>`). Edge cases:
    a literal <unk> in a prompt moves the mask one token left (EasyLM counts the prompt's non-pad tokens,
    its pad is <unk>); special-token literals lose the whitespace around them; a null `input` is formatted
    as "### Input:\nNone"; a dataset without an `input` column takes the no-input template."""
    cases = EASYLM[cases]
    for (ids, mask), case in zip(encode_cases(ExampleEncoder(spm_tokenizer, mode), cases), cases):
        assert (ids, mask) == (case["input_ids"], case["loss_mask"])


def test_train_first_response_token_trains_one_token_more(spm_tokenizer):
    encoder = ExampleEncoder(spm_tokenizer, "alpaca", train_first_response_token=True)
    for (ids, mask), case in zip(encode_cases(encoder, EASYLM["alpaca"]), EASYLM["alpaca"]):
        first = case["loss_mask"].index(1)
        assert ids == case["input_ids"] and mask == case["loss_mask"][:first - 1] + [1] + case["loss_mask"][first:]


FUZZ_POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"()[]{}<>/-_=+*&^%$#@~`|\\")
             + [" "] * 12 + ["\n", "\n\n", "\t", "\r", "\xa0", "\u3000", "\u200b", "\u2028", "\ufeff", "\x00"]
             + list("घरएकइमारतहैजहाँलोगरहतेहैं।éàüßñçøå中文字日本語") + ["😀", "👍🏽", "e\u0301"]
             + ["Paris", " Paris", "house", "mango", "  ", "   "])


def fuzzed_texts(count: int, seed: int = 0) -> list[str]:
    """Random strings (leading, repeated and trailing spaces, newlines, unknown characters); special-token
    literals removed, as sentencepiece reads them as text."""
    rng = random.Random(seed)
    texts = ["".join(rng.choice(FUZZ_POOL) for _ in range(rng.randint(0, 25))) for _ in range(count)]
    for special in ("<unk>", "<s>", "</s>"):
        texts = [text.replace(special, "") for text in texts]
    return texts


def train_llama_style_sentencepiece(folder: Path) -> Path:
    """A LLaMA-style sentencepiece BPE (byte fallback, identity normalisation, spaces kept), trained now."""
    import sentencepiece

    lines = [f"{word} number {i}:  {i * 7} houses\n\tघर एक इमारत है  ।" for i, word in
             enumerate(["Paris", "mango", "The house", " fruit", "Name it"] * 40)]
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(folder / "tokenizer"), vocab_size=400, hard_vocab_limit=False,
        model_type="bpe", byte_fallback=True, character_coverage=1.0, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=True, allow_whitespace_only_pieces=True, num_threads=1,
        minloglevel=2)
    return folder / "tokenizer.model"


@pytest.mark.parametrize("model", ["fixture", "trained"])
def test_saved_tokenizer_encodes_as_sentencepiece(tmp_path, model):
    """The folder a COMMIT run saves reloads (AutoTokenizer) to the tokenizer it trained with: 20,000 fuzzed
    strings encode as sentencepiece encodes them. A saved LlamaTokenizer reloaded with Metaspace and one "▁"
    for a leading space (" Paris": ▁ P ar is, sentencepiece ▁ ▁ P ar is)."""
    import sentencepiece
    from transformers import AutoTokenizer

    from langadapt.commit.setup import sentencepiece_tokenizer

    path = FIXTURES / "tiny-spm" / "tokenizer.model"
    if model == "trained":
        path = train_llama_style_sentencepiece(tmp_path)
    sentencepiece_tokenizer(path).save_pretrained(tmp_path / "saved")
    saved = AutoTokenizer.from_pretrained(tmp_path / "saved")
    texts = [" Paris", "  Paris  ", "\n Paris\n\n"] + fuzzed_texts(20_000)
    assert sum(text.startswith(" ") for text in texts) > 1500
    expected = sentencepiece.SentencePieceProcessor(model_file=str(path)).encode(texts)
    assert saved(texts, add_special_tokens=False)["input_ids"] == expected


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


def test_epochs_read_in_file_order_and_drop_their_leftover_tokens(tiny_tokenizer):
    """EasyLM restarts its token buffer with every pass: epoch 2 begins with example 0 again."""
    records = RECORDS[:3]
    flat = [t for ids, _ in ExampleEncoder(tiny_tokenizer, "alpaca").encode(columns(records), range(3), [0] * 3)
            for t in ids]
    length = (len(flat) - 2) // 2 * 2  # one batch of 2 rows fits an epoch (more than length + 1 tokens), two do not
    packed = PackedStream(Dataset.from_list(records), ExampleEncoder(tiny_tokenizer, "alpaca"), length // 2)
    rows = [packed.next_rows(2)["input_ids"].flatten().tolist() for _ in range(2)]
    assert rows[0] == rows[1] == flat[:length]


@pytest.mark.parametrize("shuffle", [False, True])
def test_packed_stream_resumes_exactly(tiny_tokenizer, shuffle):
    first = stream(tiny_tokenizer, seed=3, shuffle=shuffle)
    for _ in range(5):
        first.next_rows(2)
    state = first.state_dict()
    expected = [first.next_rows(2) for _ in range(8)]  # crosses into the next epoch
    second = stream(tiny_tokenizer, seed=3, shuffle=shuffle)
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


# optax.warmup_cosine_decay_schedule(0, 2e-5, 36, 1210, 1e-7), as EasyLM builds it for the seed command
OPTAX_SEED_LR = {0: 0.0, 1: 5.555557436309755e-07, 35: 1.9444443751126528e-05, 36: 1.9999999494757503e-05,
                 37: 1.9999963114969432e-05, 600: 1.0662009117368143e-05, 1000: 1.6301576124533312e-06,
                 1209: 1.0003557804338925e-07, 1210: 9.999999406318238e-08}
OPTAX_ALIGN_LR = {150: 9.999999747378752e-06, 5000: 1.0533191925787833e-05, 9999: 1.0000059091908042e-07}


def test_lr_schedule_is_optaxs():
    for step, expected in OPTAX_SEED_LR.items():
        assert math.isclose(easylm_lr(step, 2e-5, 0.0, 1e-7, 36, 1210), expected, rel_tol=1e-5, abs_tol=1e-12)
    for step, expected in OPTAX_ALIGN_LR.items():
        assert math.isclose(easylm_lr(step, 2e-5, 0.0, 1e-7, 300, 10000), expected, rel_tol=1e-5)


def test_weight_decay_on_every_parameter_and_bf16_first_moment(tiny_llama_dir):
    from transformers import AutoModelForCausalLM

    for bf16_momentum in (False, True):
        model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
        optimizer = build_optimizer(model, 1e-3, 0.9, 0.999, 0.1, bf16_momentum=bf16_momentum)
        assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1]
        assert len(optimizer.param_groups[0]["params"]) == len(list(model.parameters()))
        model(torch.randint(1, 300, (1, 8)), labels=torch.randint(1, 300, (1, 8))).loss.backward()
        optimizer.step()
        dtypes = {s["exp_avg"].dtype for s in optimizer.state.values()}
        assert dtypes == {torch.bfloat16 if bf16_momentum else torch.float32}


def optax_problem_run(bf16_momentum: bool, state_round_trip: bool = False):
    """The deterministic problem of optax_adamw_momentum.json, 200 steps of our optimizer."""
    i = np.arange(24)
    param = torch.nn.Parameter(torch.tensor(((i * 37 % 101) / 50 - 1).astype(np.float32)))
    target = torch.tensor(((i * 53 % 97) / 48.5 - 1).astype(np.float32))
    curvature = torch.tensor((0.5 + (i % 5) / 4).astype(np.float32))
    holder = torch.nn.Module()
    holder.param = param
    optimizer = build_optimizer(holder, 1e-3, 0.9, 0.999, 0.1, bf16_momentum=bf16_momentum)
    for step in range(1, 201):
        noise = torch.tensor((0.1 * (((i * 7919 + step * 104729) % 1009) / 1009 - 0.5)).astype(np.float32))
        param.grad = curvature * (param.detach() - target) + noise
        optimizer.step()
        if state_round_trip and step == 100:  # as a resume does: load_state_dict casts moments to fp32
            state = optimizer.state_dict()
            optimizer = build_optimizer(holder, 1e-3, 0.9, 0.999, 0.1, bf16_momentum=bf16_momentum)
            optimizer.load_state_dict(state)
    return param.detach().double().numpy(), optimizer.state[param]["exp_avg"].double().numpy()


@pytest.mark.parametrize("state_round_trip", [False, True])
def test_bf16_momentum_is_optax_mu_dtype_bfloat16(state_round_trip):
    """optax computes `b1 * mu` in bf16 (b1 = 0.9 acts as 0.8984375): after 200 steps our parameters are
    1.2e-7 from optax's and the stored moments equal; fp32 momentum (or rounding only the stored moment)
    ends 3.2e-3 away."""
    params, moments = optax_problem_run(True, state_round_trip)
    assert np.abs(params - np.array(OPTAX["params_bf16"])).max() < 1e-6
    assert np.array_equal(moments, np.array(OPTAX["mu_bf16"]))
    fp32_params, _ = optax_problem_run(False)
    assert np.abs(fp32_params - np.array(OPTAX["params_fp32"])).max() < 1e-5
    assert np.abs(fp32_params - np.array(OPTAX["params_bf16"])).max() > 1e-3


def test_mixed_rows_do_not_depend_on_how_examples_are_batched(tiny_tokenizer):
    dictionary = MuseDictionary({"fruit": ["फल"], "mango": ["आम", "अंबा"], "Name": ["नाम"]}, "test")
    rows = []
    for encode_batch in (1, 5):
        mixer = CodeMixer(dictionary, 0.5)
        packed = PackedStream(Dataset.from_list(RECORDS), ExampleEncoder(tiny_tokenizer, "alpaca", mixer=mixer),
                              16, seed=2, encode_batch=encode_batch, shuffle=True)
        rows.append(torch.cat([packed.next_rows(2)["input_ids"] for _ in range(6)]))
        assert 0 < mixer.stats.replaced < mixer.stats.in_dictionary
    assert torch.equal(rows[0], rows[1])


def test_code_mixing_counts_only_the_examples_a_row_reached_and_survive_a_resume(tiny_tokenizer):
    """Counted per example, by mixing each one alone: the stream's count covers exactly the examples whose
    first token went into a row, not the ones encoded ahead, and a stream restored from its state counts on
    as if never stopped."""
    dictionary = MuseDictionary({"fruit": ["फल"], "mango": ["आम", "अंबा"], "Name": ["नाम"]}, "test")
    records = RECORDS * 3
    seq_length, rows, batches = 16, 2, 5

    alone = []  # (tokens, words, in_dictionary, replaced) of each example, in the stream's order
    for index, record in enumerate(records):
        mixer = CodeMixer(dictionary, 0.5)
        (ids, _), = ExampleEncoder(tiny_tokenizer, "alpaca", mixer=mixer, seed=2).encode(
            columns([record]), [index], [0])
        alone.append((len(ids), mixer.stats.words, mixer.stats.in_dictionary, mixer.stats.replaced))
    emitted, start, expected = batches * rows * seq_length, 0, [0, 0, 0]
    for tokens, *counts in alone:
        if start < emitted:
            expected = [a + b for a, b in zip(expected, counts)]
        start += tokens

    def stream():
        return PackedStream(Dataset.from_list(records), ExampleEncoder(
            tiny_tokenizer, "alpaca", mixer=CodeMixer(dictionary, 0.5), seed=2), seq_length, seed=2)

    whole = stream()
    for _ in range(batches):
        whole.next_rows(rows)
    assert whole.trained.as_list() == expected
    assert whole.encoder.mixer.stats.words > expected[0]  # it encoded ahead of what it trained
    first = stream()
    for _ in range(2):
        first.next_rows(rows)
    resumed = stream()
    resumed.load_state_dict(first.state_dict())
    for _ in range(batches - 2):
        resumed.next_rows(rows)
    assert resumed.trained.as_list() == expected
