"""The scoring engine against log-likelihoods computed by hand, one sequence at a time."""
import pytest
import torch

from langadapt.evaluation.encoding import encode_choices
from langadapt.evaluation.scoring import ChoiceRequest, LoglikelihoodScorer
from langadapt.models import load_causal_lm, load_tokenizer

CASES = [
    ("Answer:", [" A1", " A2", " A", " B"]),  # options sharing their first token(s)

    ("Mtoto alilia kwa sababu", [" alianguka chini.", " alipewa zawadi."]),
    ("The quick brown fox", [" jumps over the lazy dog.", " sleeps.", " is a house where people live"]),
    ("A house is a building where people live with their families. Nyumba ni", [" jengo.", " familia zao."]),
]


def direct_loglikelihood(model, context_ids, continuation_ids):
    """Sum of log p(continuation token) from one unpadded forward over context + continuation."""
    ids = torch.tensor([context_ids + continuation_ids])
    with torch.no_grad():
        logprobs = model(input_ids=ids).logits[0].float().log_softmax(-1)
    start = len(context_ids)
    return sum(logprobs[start - 1 + t, tok].item() for t, tok in enumerate(continuation_ids))


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
    requests = [encode_choices(tok, ctx, choices, tok.eos_token_id) for ctx, choices in CASES]
    scorer = LoglikelihoodScorer(model, tok.pad_token_id, 128, batch_size, share_context, progress=False)
    scores = scorer.score(requests)
    for req, example_scores in zip(requests, scores):
        for cont, score in zip(req.continuations, example_scores):
            assert score.n_tokens == len(cont)
            assert score.logprob == pytest.approx(direct_loglikelihood(model, req.context, cont), abs=1e-4)
    assert scorer.truncated == 0


def test_empty_context_scores_after_the_prefix_token(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    request = encode_choices(tok, "", [" jengo."], tok.eos_token_id)
    assert request.context == [tok.eos_token_id]
    score = LoglikelihoodScorer(model, tok.pad_token_id, 128, progress=False).score([request])[0][0]
    assert score.logprob == pytest.approx(direct_loglikelihood(model, [tok.eos_token_id], request.continuations[0]),
                                          abs=1e-4)


def test_context_is_cut_from_the_left_and_counted(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    context, cont = list(range(5, 25)), [30, 31, 32]
    scorer = LoglikelihoodScorer(model, tok.pad_token_id, max_length=10, progress=False)
    score = scorer.score([ChoiceRequest(context, [cont]), ChoiceRequest(context[:3], [cont])])
    assert scorer.truncated == 1
    assert score[0][0].logprob == pytest.approx(direct_loglikelihood(model, context[-8:], cont), abs=1e-4)


def test_greedy_flag_marks_argmax_continuations(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    context = tok.encode("The quick brown fox")
    with torch.no_grad():
        best = model(input_ids=torch.tensor([context])).logits[0, -1].argmax().item()
    worst = (best + 1) % len(tok)
    scores = LoglikelihoodScorer(model, tok.pad_token_id, 128, progress=False).score(
        [ChoiceRequest(context, [[best], [worst]])])[0]
    assert [s.is_greedy for s in scores] == [True, False]


def test_harness_style_pair_encoding_moves_trailing_spaces(tiny_tokenizer):
    tok = tiny_tokenizer
    with_space = encode_choices(tok, "The quick brown ", ["fox"], tok.eos_token_id)
    without = encode_choices(tok, "The quick brown", [" fox"], tok.eos_token_id)
    assert with_space == without
    assert tok.decode(without.continuations[0]) == " fox"


def test_shared_prefix_leaves_each_option_a_token():
    from langadapt.evaluation.scoring import shared_prefix_length

    assert shared_prefix_length([[1, 2, 3], [1, 2, 4]]) == 2
    assert shared_prefix_length([[1, 2], [1, 2, 5]]) == 1
    assert shared_prefix_length([[7], [8]]) == 0
