"""FLORES perplexity equals exp of the mean token NLL computed directly, with exact token counts."""
import json
import math
import statistics

import pytest
import torch

import run_flores_ppl
from langadapt.errors import LangAdaptError
from langadapt.evaluation.flores import load_flores_sentences
from langadapt.evaluation.perplexity import corpus_perplexity, ratio_stderr
from langadapt.models import load_causal_lm, load_tokenizer

FLORES = "examples/data/eval/flores"


def direct_nll(model, ids):
    """Sum of token NLLs of one sentence via the model's own shifted loss (mean x predicted tokens)."""
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids]))
    loss = getattr(out, "loss_unsmoothed", None)
    return (loss if loss is not None else out.loss).item() * (len(ids) - 1)


@pytest.mark.parametrize("fixture", ["tiny_gpt2_dir", "tiny_llama_dir", "tiny_backpack_dir"])
@pytest.mark.parametrize("prefix", [False, True])
def test_perplexity_is_exp_mean_nll_over_predicted_tokens(request, fixture, prefix):
    path = request.getfixturevalue(fixture)
    model, tok = load_causal_lm(path).eval(), load_tokenizer(path)
    sentences = load_flores_sentences(FLORES, "swh", "devtest")
    prefix_id = tok.eos_token_id if prefix else None
    result = corpus_perplexity(model, tok, sentences, max_length=128, batch_size=3, prefix_token=prefix_id,
                               progress=False)
    encoded = [([prefix_id] if prefix else []) + tok.encode(s) for s in sentences]
    per_sentence = [direct_nll(model, ids) for ids in encoded]
    total = sum(per_sentence)
    tokens = sum(len(ids) - 1 for ids in encoded)
    assert result.predicted_tokens == tokens
    assert result.perplexity == pytest.approx(math.exp(total / tokens), rel=1e-4)
    text = sentences if prefix else [s[len(tok.decode(tok.encode(s)[:1])):] for s in sentences]
    assert result.predicted_bytes == sum(len(t.encode("utf-8")) for t in text)
    assert result.bits_per_byte == pytest.approx(total / math.log(2) / result.predicted_bytes, rel=1e-4)
    # each sentence's NLL reaches the error term of its own sentence, whatever the batching order
    residuals = [nll - total / tokens * (len(ids) - 1) for nll, ids in zip(per_sentence, encoded)]
    n = len(sentences)
    spread = math.sqrt(sum(r * r for r in residuals) / (n - 1) / n) / (tokens / n)
    assert result.nll_per_token_stderr == pytest.approx(spread, rel=1e-3)


def test_ratio_stderr_with_equal_denominators_is_the_standard_error_of_the_mean():
    values = [1.0, 2.0, 4.0, 7.0]
    assert ratio_stderr(values, [1, 1, 1, 1]) == pytest.approx(statistics.stdev(values) / 2)
    assert ratio_stderr([2.0, 4.0, 8.0, 14.0], [2, 2, 2, 2]) == pytest.approx(statistics.stdev(values) / 2)
    assert math.isnan(ratio_stderr([1.0], [1]))


def test_long_sentences_are_cut_and_counted(tiny_gpt2_dir):
    model, tok = load_causal_lm(tiny_gpt2_dir).eval(), load_tokenizer(tiny_gpt2_dir)
    result = corpus_perplexity(model, tok, ["Nyumba ni jengo ambapo watu wanaishi na familia zao."], max_length=5,
                               progress=False)
    assert result.truncated == 1 and result.predicted_tokens == 4


def test_local_folder_and_saved_dataset(tmp_path):
    assert load_flores_sentences(FLORES, "swh_Latn", "dev")[0] == "Soko hufunguliwa mapema kila asubuhi."
    with pytest.raises(LangAdaptError, match="no file devtest/tur_Latn.devtest; languages there: eng_Latn, swh_Latn"):
        load_flores_sentences(FLORES, "tr", "devtest")
    with pytest.raises(LangAdaptError, match="FLORES-200 has splits dev, devtest"):
        load_flores_sentences(FLORES, "sw", "test")
    parquet = tmp_path / "flores_plus.parquet"
    from datasets import Dataset

    Dataset.from_list([{"iso_639_3": "swh", "iso_15924": "Latn", "text": "Habari."},
                       {"iso_639_3": "eng", "iso_15924": "Latn", "text": "Hello."}]).to_parquet(str(parquet))
    assert load_flores_sentences(str(parquet), "sw", "devtest") == ["Habari."]


def test_cli_writes_results(tmp_path, tiny_gpt2_dir):
    out = tmp_path / "ppl.json"
    assert run_flores_ppl.main(["--model_path", tiny_gpt2_dir, "--lang", "swh_Latn", "--split", "devtest",
                                "--batch_size", "2", "--max_length", "64", "--device", "cpu", "--fp16",
                                "--dataset", FLORES, "--output_file", str(out), "--log_level", "WARNING"]) == 0
    results = json.loads(out.read_text())
    assert results["sentences"] == 4 and results["perplexity"] == pytest.approx(math.exp(results["nll_per_token"]))
    assert results["bits_per_char"] >= results["bits_per_byte"] > 0


@pytest.fixture(scope="module")
def peaky_gpt2_dir(tmp_path_factory, tiny_tokenizer):
    """The tiny GPT-2 initialised with std 0.2: sentences' NLLs differ enough for batch weighting to show."""
    from langadapt.toy_models import save_tiny_model, tiny_gpt2_config

    folder = tmp_path_factory.mktemp("peaky-gpt2")
    return save_tiny_model(tiny_gpt2_config(len(tiny_tokenizer), initializer_range=0.2), tiny_tokenizer, folder)


# sensia's run_flores_ppl compute_perplexity on this model and the 64 demo Swahili sentences, max_length 128;
# with the whole split in one batch (64) its figure is the exact one, ours by default.
SENSIA_FLORES = {1: 823.6477596558559, 7: 823.8829374536062, 64: 823.9665420477983}


@pytest.mark.parametrize("batch_size", list(SENSIA_FLORES))
def test_original_batch_weighting_reproduces_sensias_figure(tmp_path, peaky_gpt2_dir, batch_size):
    out = tmp_path / "ppl.json"
    args = ["--model_path", peaky_gpt2_dir, "--lang", "swh", "--dataset", "examples/data/flores_demo",
            "--batch_size", str(batch_size), "--output_file", str(out), "--log_level", "WARNING"]
    assert run_flores_ppl.main(args + ["--original_batch_weighting"]) == 0
    original = json.loads(out.read_text())
    assert original["batch_weighting"] == "original"
    assert original["perplexity"] == pytest.approx(SENSIA_FLORES[batch_size], rel=1e-6)
    assert original["exact_perplexity"] == pytest.approx(SENSIA_FLORES[64], rel=1e-6)
    assert run_flores_ppl.main(args) == 0
    exact = json.loads(out.read_text())
    assert exact["perplexity"] == pytest.approx(SENSIA_FLORES[64], rel=1e-6) and "exact_perplexity" not in exact
