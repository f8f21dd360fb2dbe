"""The scoring engine against log-likelihoods computed by hand, one sequence at a time."""
import random

import pytest
import torch

from langadapt.evaluation.encoding import harness_rows, original_rows
from langadapt.evaluation.scoring import (Group, LoglikelihoodScorer, OptionRow, common_prefix_length, groups_of,
                                         pack_batches, split_tails)
from langadapt.models import load_causal_lm, load_tokenizer
from langadapt.toy_models import save_tiny_model, tiny_backpack_config

CASES = [
    ("Answer:", [" A1", " A2", " A", " B"]),  # options sharing their first token(s)

    ("Mtoto alilia kwa sababu", [" alianguka chini.", " alipewa zawadi."]),
    ("The quick brown fox", [" jumps over the lazy dog.", " sleeps.", " is a house where people live"]),
    ("A house is a building where people live with their families. Nyumba ni", [" jengo.", " familia zao."]),
]


def direct_loglikelihood(model, context_ids, continuation_ids):
    """Sum of log p(continuation token) from one unpadded forward over context + continuation (its last
    token is only predicted, never fed)."""
    ids = torch.tensor([(context_ids + continuation_ids)[:-1]])
    with torch.no_grad():
        logprobs = model(input_ids=ids).logits[0].float().log_softmax(-1)
    start = len(context_ids)
    return sum(logprobs[start - 1 + t, tok].item() for t, tok in enumerate(continuation_ids))


def direct_row(model, row: OptionRow):
    return direct_loglikelihood(model, row.tokens[: row.first_scored], row.tokens[row.first_scored:])


@pytest.fixture(params=["tiny_gpt2_dir", "tiny_llama_dir", "tiny_backpack_dir"])
def model_and_tokenizer(request):
    path = request.getfixturevalue(request.param)
    model = load_causal_lm(path)
    model.eval()
    return model, load_tokenizer(path)


@pytest.mark.parametrize("share_context", [True, False])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_scores_equal_hand_computed_loglikelihoods(model_and_tokenizer, share_context, batch_size):
    model, tok = model_and_tokenizer
    examples = [harness_rows(tok, ctx, choices, tok.eos_token_id, 128).rows for ctx, choices in CASES]
    scorer = LoglikelihoodScorer(model, tok.pad_token_id, 128, batch_size, share_context, progress=False)
    scores = scorer.score(examples)
    for rows, example_scores in zip(examples, scores):
        for row, score in zip(rows, example_scores):
            assert score.n_tokens == row.n_scored
            assert score.logprob == pytest.approx(direct_row(model, row), abs=1e-4)


def test_empty_context_scores_after_the_prefix_token(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    row = harness_rows(tok, "", [" jengo."], tok.eos_token_id, 128).rows[0]
    assert row.tokens[0] == tok.eos_token_id and row.first_scored == 1
    score = LoglikelihoodScorer(model, tok.pad_token_id, 128, progress=False).score([[row]])[0][0]
    assert score.logprob == pytest.approx(direct_row(model, row), abs=1e-4)


def test_harness_truncates_each_request_on_its_own(tiny_tokenizer):
    """lm-eval: (context_enc + continuation_enc)[-(max_length + 1):], the continuation scored whole."""
    tok = tiny_tokenizer
    context = "The quick brown fox jumps over the lazy dog. A house is a building"
    options = [" where", " where people live with their families."]
    encoded = harness_rows(tok, context, options, tok.eos_token_id, max_length=30)
    context_ids = tok.encode(context)
    assert encoded.truncated
    for option, row in zip(options, encoded.rows):
        cont = tok.encode(context + option)[len(context_ids):]
        assert row.tokens == (context_ids + cont)[-31:] and row.n_scored == len(cont)
    assert encoded.rows[0].tokens[0] != encoded.rows[1].tokens[0]  # the longer option cuts more context


def test_original_rows_score_the_option_tokenised_alone_where_it_last_occurs(tiny_tokenizer):
    """run_eval: pieces tokenised alone and joined, cut to max_length from the left; the option's own
    tokens are labelled at their last occurrence (else the row's last len(option) tokens)."""
    tok = tiny_tokenizer
    ids = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    row = original_rows(tok, [(("Nyumba ni jengo", "\n", "Q: ", "nini?", "\nA: ", "jengo"), "jengo")], 512).rows[0]
    assert row.tokens == ids("Nyumba ni jengo") + ids("\n") + ids("Q: ") + ids("nini?") + ids("\nA: ") + ids("jengo")
    assert row.n_scored == len(ids("jengo"))
    found = original_rows(tok, [(("jengo is here.",), "jengo")], 512).rows[0]  # occurs only at the start
    m = len(ids("jengo"))  # sensia's _align_labels: pos 0, labels[0:m]; the shift never predicts token 0
    assert found.tokens == ids("jengo is here.")[:m] and found.n_scored == m - 1 and found.norm_tokens == m
    one = original_rows(tok, [(("A is here.",), "A")], 512).rows[0]
    assert one.n_scored == 0 and one.norm_tokens == 1  # sensia: nll 0 over no label, divided by 1
    absent = original_rows(tok, [(("is here.",), "jengo is here.")], 512).rows[0]  # not found, longer than the row
    assert absent.n_scored == len(ids("is here.")) - 1 and absent.norm_tokens == len(ids("is here."))
    cut = original_rows(tok, [(("The quick brown fox jumps over the lazy dog.\nsleeps",), "sleeps")], 6).rows[0]
    assert cut.tokens == ids("The quick brown fox jumps over the lazy dog.\nsleeps")[-6:][: len(cut.tokens)]


def test_a_row_with_no_scored_token_scores_zero(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    rows = [OptionRow([5], 0, 1), OptionRow([5, 6, 7], 2)]
    scores = LoglikelihoodScorer(model, tok.pad_token_id, 128, progress=False).score([rows])[0]
    assert (scores[0].logprob, scores[0].n_tokens) == (0.0, 1)
    assert scores[1].logprob == pytest.approx(direct_row(model, rows[1]), abs=1e-4) and scores[1].n_tokens == 2


def test_greedy_flag_marks_argmax_continuations(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    context = tok.encode("The quick brown fox")
    with torch.no_grad():
        best = model(input_ids=torch.tensor([context])).logits[0, -1].argmax().item()
    worst = (best + 1) % len(tok)
    scores = LoglikelihoodScorer(model, tok.pad_token_id, 128, progress=False).score(
        [[OptionRow(context + [best], 1), OptionRow(context + [worst], 1)]])[0]
    assert [s.is_greedy for s in scores] == [True, False]


def test_common_prefix_leaves_each_row_a_token():
    assert common_prefix_length([OptionRow([1, 2, 3], 1), OptionRow([1, 2, 4], 1)]) == 2
    assert common_prefix_length([OptionRow([1, 2], 1), OptionRow([1, 2, 5], 1)]) == 1
    assert common_prefix_length([OptionRow([7, 1], 1), OptionRow([8, 1], 1)]) == 0


def test_batches_are_packed_to_fit_the_positions():
    groups = [Group((0,), 46, 1, 5), Group((1,), 6, 1, 31), Group((2,), 20, 1, 10), Group((3,), 3, 1, 2)]
    batches = pack_batches(groups, batch_size=64, max_length=64)
    assert [[g.rows[0] for g in b] for b in batches] == [[0], [1, 2, 3]]
    for batch in batches:
        assert max(g.prefix for g in batch) + max(g.tail for g in batch) <= 64
    assert len(pack_batches(groups, batch_size=1, max_length=64)) == 4


def test_prefix_batches_are_cut_where_padding_would_pass_the_share():
    groups = [Group((k,), prefix, 1, 1) for k, prefix in enumerate([40, 38, 37, 20, 19, 3])]
    batches = pack_batches(groups, batch_size=64, max_length=128, max_padding=0.09)
    # 40,38,37: 5 of 120 padding; with 20: 25 of 160 (15.6%); 20,19: 1 of 40; with 3: 18 of 60
    assert [[g.prefix for g in b] for b in batches] == [[40, 38, 37], [20, 19], [3]]


def brute_force_fewest(lengths, allowed):
    """Fewest batches (cuts between distinct lengths of the longest-first rows) with padding <= allowed."""
    import itertools

    places = [k for k in range(1, len(lengths)) if lengths[k] != lengths[k - 1]]
    for count in range(len(places) + 1):
        for cuts in itertools.combinations(places, count):
            bounds = [0, *cuts, len(lengths)]
            padding = sum(lengths[a] * (b - a) - sum(lengths[a:b]) for a, b in zip(bounds, bounds[1:]))
            if padding <= allowed:
                return count + 1
    raise AssertionError("no cut at all distinct lengths")


def test_tail_batches_are_the_fewest_within_the_padding_allowed():
    rng = random.Random(3)
    for _ in range(200):
        lengths = sorted((rng.randint(1, 12) for _ in range(rng.randint(1, 9))), reverse=True)
        allowed = rng.choice([0, 1, 3, 8, 20, 100])
        cuts = split_tails(lengths, allowed)
        bounds = [0, *cuts, len(lengths)]
        assert all(lengths[a - 1] != lengths[a] for a in cuts)  # rows of one length stay together
        assert sum(lengths[a] * (b - a) - sum(lengths[a:b]) for a, b in zip(bounds, bounds[1:])) <= allowed
        assert len(cuts) + 1 == brute_force_fewest(lengths, allowed)


@pytest.fixture(scope="module")
def backpack_64(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("backpack-64")
    path = save_tiny_model(tiny_backpack_config(len(tiny_tokenizer), n_positions=64), tiny_tokenizer, folder)
    return load_causal_lm(path).eval()


def test_backpack_batches_near_the_position_limit_score_alike(backpack_64):
    """Contexts of 46 and 6 tokens with options of 5 and 31 (the reported crash), random rows up to 65
    tokens and rows with no common first token: batch 1, 5 and 64 and full sequences agree with one
    unpadded forward per row."""
    rng = random.Random(0)
    examples = [[OptionRow(list(range(3, 49)) + [60 + k] * 5, 5) for k in range(2)],
                [OptionRow(list(range(3, 9)) + [70 + k] * 31, 31) for k in range(2)]]
    for _ in range(10):
        context = [rng.randrange(3, 300) for _ in range(rng.randint(1, 60))]
        examples.append([OptionRow((context + [rng.randrange(3, 300) for _ in range(n)])[-65:], n)
                         for n in (rng.randint(1, 4), rng.randint(1, 30))])
    # rows cut on their own (harness truncation): no first token in common, scored one group per row
    examples.append([OptionRow(list(range(10, 60)) + [80] * 15, 15), OptionRow(list(range(40, 60)) + [81] * 45, 45)])
    expected = [[direct_row(backpack_64, row) for row in rows] for rows in examples]
    for batch_size, share in ((1, True), (5, True), (64, True), (64, False)):
        scores = LoglikelihoodScorer(backpack_64, 0, 64, batch_size, share, progress=False).score(examples)
        for want, got in zip(expected, scores):
            assert [s.logprob for s in got] == pytest.approx(want, abs=1e-4)


def test_a_row_longer_than_the_model_is_refused(backpack_64):
    from langadapt.errors import LangAdaptError

    with pytest.raises(LangAdaptError, match="exceeds the model's context of 64"):
        LoglikelihoodScorer(backpack_64, 0, 64, progress=False).score([[OptionRow(list(range(3, 70)), 2)]])


def test_pmi_priors_ours_and_the_originals():
    """Ours: the scored tokens after the prefix token alone. The original's (run_eval, --pmi_prior original):
    per batch of examples in order, each whole row right-padded with the pad id to the batch's longest,
    its last int(max(n, 1) ** alpha) tokens scored."""
    from langadapt.evaluation.encoding import EncodedExample
    from langadapt.evaluation.runner import original_priors

    encoded = [EncodedExample([OptionRow([5, 6, 7, 8, 9], 2)], False, [[5, 6, 7, 8, 9, 4]]),
               EncodedExample([OptionRow([5, 6], 1)], False, [[5, 6]]),
               EncodedExample([OptionRow([1, 2, 3], 2)], False, [[1, 2, 3]])]
    priors = original_priors(encoded, pad_id=0, batch_size=2, alpha=0.0)
    assert priors == [[OptionRow([5, 6, 7, 8, 9, 4], 1)], [OptionRow([5, 6, 0, 0, 0, 0], 1)], [OptionRow([1, 2, 3], 1)]]
    assert [p[0].n_scored for p in original_priors(encoded, 0, 2, alpha=1.0)] == [2, 1, 2]
    five = [EncodedExample([OptionRow(list(range(1, 8)), 5)], False, [list(range(1, 8))])]
    assert original_priors(five, 0, 2, alpha=0.5)[0][0].n_scored == 2  # int(5 ** 0.5)


def mixed_examples(seed: int = 1) -> list[list[OptionRow]]:
    """Contexts of 1 to 40 tokens (so the batch pads them) with one-token options, multi-token options,
    both in one example, and options that share their first tokens."""
    rng = random.Random(seed)
    examples = []
    for lengths in ([1, 1, 1, 1], [1, 3, 2, 1], [4, 2], [1, 1], [2, 5, 1], [3, 3, 3]):
        context = [rng.randrange(1, 300) for _ in range(rng.randint(1, 40))]
        shared = [rng.randrange(1, 300)]
        examples.append([OptionRow(context + (shared if n > 1 and k % 2 else [])
                                   + [rng.randrange(1, 300) for _ in range(n - (n > 1 and k % 2))], n)
                         for k, n in enumerate(lengths)])
    return examples


def cut_alike_and_not() -> list[OptionRow]:
    """Harness truncation of one context to 50 tokens: a one-token option cuts one token more than three
    two-token options opening with the same token; the context holds a token twice, so both cuts open with it."""
    context = [10, 12, 12] + list(range(13, 60))
    return [OptionRow((context + [5])[-50:], 1)] + [OptionRow((context + [6, k])[-50:], 2) for k in (7, 8, 9)]


def test_rows_cut_differently_share_only_with_the_rows_cut_alike():
    rows = cut_alike_and_not()
    assert rows[0].tokens[0] == rows[1].tokens[0] == 12  # a first token in common by chance
    groups = groups_of([0, 1, 2, 3], rows)
    assert [(g.rows, g.prefix, g.tail) for g in groups] == [((0,), 49, 0), ((1, 2, 3), 49, 0)]


@pytest.mark.parametrize("batch_size", [2, 64])
def test_grouped_scores_equal_per_option_scores(model_and_tokenizer, batch_size):
    """One batch of left-padded prefixes and right-padded tails, or full right-padded rows: each option's
    log-likelihood and greedy flag as one unpadded forward over that option alone gives them."""
    model, tok = model_and_tokenizer
    examples = mixed_examples() + [cut_alike_and_not()]
    expected = [[direct_row(model, row) for row in rows] for rows in examples]
    for share in (True, False):
        scores = LoglikelihoodScorer(model, tok.pad_token_id, 128, batch_size, share, progress=False).score(examples)
        for rows, want, got in zip(examples, expected, scores):
            assert [s.logprob for s in got] == pytest.approx(want, abs=1e-4)
            assert [s.n_tokens for s in got] == [row.n_scored for row in rows]
            greedy = []
            for row in rows:
                ids = torch.tensor([row.tokens[:-1]])
                with torch.no_grad():
                    picks = model(input_ids=ids).logits[0, row.first_scored - 1:].argmax(-1).tolist()
                greedy.append(picks == row.tokens[row.first_scored:])
            assert [s.is_greedy for s in got] == greedy


def test_one_token_options_need_one_forward_per_batch(model_and_tokenizer):
    """One-token options are read from the contexts' last logits (no forward of their own); with longer options
    mixed in, more forwards run only their own tokens, after the cached context, each option once."""
    model, tok = model_and_tokenizer
    calls = []
    hook = model.register_forward_hook(
        lambda module, args, kwargs, out: calls.append((kwargs["input_ids"].shape,
                                                        kwargs.get("past_key_values") is not None)),
        with_kwargs=True)
    examples = mixed_examples()
    try:
        LoglikelihoodScorer(model, tok.pad_token_id, 128, 64, progress=False).score(examples[:1] + examples[3:4])
        # two contexts (of 37 and 9 tokens: a batch each, not one 45% padding), 4 + 2 one-token options
        assert [(shape[0], cached) for shape, cached in calls] == [(1, False), (1, False)]
        calls.clear()
        LoglikelihoodScorer(model, tok.pad_token_id, 128, 64, progress=False).score(examples)
    finally:
        hook.remove()
    multi_token = sum(row.n_scored > 1 for rows in examples for row in rows)
    assert sum(shape[0] for shape, cached in calls if not cached) == len(examples)
    assert sum(shape[0] for shape, cached in calls if cached) == multi_token
