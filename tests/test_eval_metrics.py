"""SQuAD v1.1 and MLQA answer metrics on cases whose values are known from the official definitions."""
import pytest

from langadapt.evaluation.metrics import (exact_match_and_f1, mixed_segmentation, mlqa_normalize, squad_normalize,
                                          token_f1)


def test_squad_normalisation_drops_case_punctuation_and_articles():
    assert squad_normalize("The  Eiffel Tower!") == "eiffel tower"
    assert squad_normalize("an apple, a pear") == "apple pear"
    assert squad_normalize("theater") == "theater"  # articles only as whole words


@pytest.mark.parametrize("prediction, golds, em, f1", [
    ("the cat", ["Cat"], 1.0, 1.0),
    ("the cat sat on the mat", ["cat sat"], 0.0, 2 / 3),  # 2 of 4 predicted tokens, both gold tokens
    ("Paris", ["London", "paris."], 1.0, 1.0),  # best gold answer counts
    ("blue whale", ["whale shark"], 0.0, 0.5),
    ("", ["anything"], 0.0, 0.0),
])
def test_squad_em_f1(prediction, golds, em, f1):
    got_em, got_f1 = exact_match_and_f1(prediction, golds, squad_normalize)
    assert got_em == em and got_f1 == pytest.approx(f1)


def test_token_f1_counts_repeated_tokens_once_per_match():
    assert token_f1("a a a", "a") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))


def test_mlqa_strips_unicode_punctuation_and_language_articles():
    assert mlqa_normalize("«El perro»", "es") == "perro"
    assert mlqa_normalize("Der Hund.", "de") == "hund"
    assert mlqa_normalize("मुंबई।", "hi") == "मुंबई"  # danda is punctuation; Hindi has no articles
    assert squad_normalize("मुंबई।") == "मुंबई।"  # SQuAD strips ASCII punctuation only


def test_mlqa_chinese_is_segmented_per_character():
    assert mixed_segmentation("北京 is 大") == ["北", "京", "is", "大"]
    em, f1 = exact_match_and_f1("北京大学", ["北京"], lambda text: mlqa_normalize(text, "zh"))
    assert em == 0.0 and f1 == pytest.approx(2 * 0.5 * 1 / 1.5)
