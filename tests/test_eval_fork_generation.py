"""XQuAD/MLQA answers end as in the COMMIT harness fork's greedy_until, for each of its --model classes.

Expected values: the fork's own `greedy_until` (gpt2.HFLM for hf / hf-causal, huggingface.AutoCausalLM for
hf-causal-experimental) run on the committed tiny Llama, whose sentencepiece tokenizer encodes "\\n" as
"▁" + "<0x0A>", and whose EOS and "▁" output rows were scaled up so that both end rules are exercised
(tests/fixtures/qa/fork_greedy_until.json records how).
"""
import json
from pathlib import Path

import pytest

from langadapt.evaluation.generation import GreedyGenerator
from langadapt.evaluation.runner import fork_end_rule
from langadapt.evaluation.tasks.qa import prompt_of
from langadapt.models import load_causal_lm, load_tokenizer

QA = Path(__file__).parent / "fixtures" / "qa"
MODEL = QA / "tiny-llama-spm"
ROWS = [json.loads(line) for line in (QA / "de_rows.jsonl").read_text().splitlines()]
FORK = json.loads((QA / "fork_greedy_until.json").read_text())["predictions"]


@pytest.fixture(scope="module")
def model_and_tokenizer():
    return load_causal_lm(str(MODEL)).eval(), load_tokenizer(str(MODEL))


@pytest.mark.parametrize("fork_model, fork_class", [("hf-causal-experimental", "hf-causal-experimental"),
                                                    ("hf-causal", "hf-causal"), ("hf", "hf-causal")])
def test_generation_equals_the_forks_greedy_until(model_and_tokenizer, fork_model, fork_class):
    model, tokenizer = model_and_tokenizer
    prompts = [tokenizer.encode(prompt_of("xquad", row, "de"), add_special_tokens=False) for row in ROWS]
    generator = GreedyGenerator(model, tokenizer, max_length=512, batch_size=5, max_new_tokens=256,
                                progress=False, end=fork_end_rule(fork_model, tokenizer))
    assert generator.generate(prompts) == FORK[fork_class]


def test_the_two_classes_differ_as_documented(model_and_tokenizer):
    """hf-causal keeps a generated EOS as text and ends at the plain "▁" that starts "\\n"."""
    _, tokenizer = model_and_tokenizer
    assert tokenizer.convert_ids_to_tokens(tokenizer.encode("\n", add_special_tokens=False)) == ["▁", "<0x0A>"]
    assert any("</s>" in text for text in FORK["hf-causal"])
    assert not any("</s>" in text for text in FORK["hf-causal-experimental"])
    assert sum(a != b for a, b in zip(FORK["hf-causal"], FORK["hf-causal-experimental"])) == len(ROWS)
