"""Greedy generation (batched, cached, left-padded) against a naive one-prompt, no-cache loop."""
import pytest
import torch

from langadapt.evaluation.generation import GreedyGenerator, cut_at_stop
from langadapt.evaluation.retrieval import embed_sentences, recall_at_1
from langadapt.models import load_causal_lm, load_tokenizer

PROMPTS = ["Background:\n\nNyumba ni jengo.\n\nQuestion: Nyumba ni nini?\n\nAnswer:", "The quick", "Maja on"]


def naive_greedy(model, tok, ids, steps, stops):
    ids = list(ids)
    generated = []
    for _ in range(steps):
        with torch.no_grad():
            token = model(input_ids=torch.tensor([ids])).logits[0, -1].argmax().item()
        if token == tok.eos_token_id:
            break
        ids.append(token)
        generated.append(token)
        text, stopped = cut_at_stop(tok.decode(generated), stops)
        if stopped:
            return text
    return tok.decode(generated)


@pytest.mark.parametrize("fixture, stops", [("tiny_gpt2_dir", ("\n",)), ("tiny_gpt2_dir", ("e",)),
                                            ("tiny_llama_dir", ("\n",)), ("tiny_backpack_dir", ("e",))])
def test_batched_cached_generation_matches_naive_loop(request, fixture, stops):
    path = request.getfixturevalue(fixture)
    model, tok = load_causal_lm(path).eval(), load_tokenizer(path)
    prompts = [tok.encode(p) for p in PROMPTS]
    generator = GreedyGenerator(model, tok, max_length=128, batch_size=3, max_new_tokens=6, stop=stops,
                                progress=False)
    assert generator.generate(prompts) == [naive_greedy(model, tok, p, 6, stops) for p in prompts]


def test_cut_at_stop_takes_the_earliest_stop():
    assert cut_at_stop("abc\ndef.", ("\n", ".")) == ("abc", True)
    assert cut_at_stop("abc", ("\n",)) == ("abc", False)


def test_prompts_longer_than_the_context_are_cut_from_the_left(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    generator = GreedyGenerator(model, tok, max_length=16, max_new_tokens=4, progress=False)
    long_prompt = tok.encode(PROMPTS[0])
    assert generator.generate([long_prompt]) == [naive_greedy(model, tok, long_prompt[-12:], 4, ("\n",))]
    assert generator.truncated == 1


def test_embeddings_are_masked_means_and_recall_counts_own_pairs(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    sentences = ["The house.", "A house is a building where people live."]
    batched = embed_sentences(model, tok, sentences, 64, batch_size=2, progress=False)
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([tok.encode(sentences[0])]), output_hidden_states=True)
    assert torch.allclose(batched[0], alone.hidden_states[-1][0].mean(0), atol=1e-5)
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    queries = torch.tensor([[2.0, 0.1], [1.0, 0.9], [0.0, 3.0]])
    recall, picks = recall_at_1(queries, keys)
    assert picks == [0, 2, 1] and recall == pytest.approx(1 / 3)
