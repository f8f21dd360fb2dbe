"""Answer metrics: SQuAD v1.1 exact match / F1 and MLQA's language-aware normalisation.

Both follow the official evaluation scripts' definitions, so numbers compare with published tables:
lower-case, drop punctuation, drop articles, split into tokens; EM and token F1 take the best gold answer.
"""
from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Callable, Sequence

SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
MLQA_ARTICLES = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),
}
CJK = re.compile(r"[\u4e00-\u9fa5]")


@lru_cache(maxsize=1)
def unicode_punctuation() -> frozenset[str]:
    """Every Unicode punctuation character (categories P*) plus ASCII punctuation, as MLQA strips."""
    chars = {chr(i) for i in range(sys.maxunicode + 1) if unicodedata.category(chr(i)).startswith("P")}
    return frozenset(chars | set(string.punctuation))


def squad_normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    return " ".join(SQUAD_ARTICLES.sub(" ", text).split())


def mixed_segmentation(text: str) -> list[str]:
    """Chinese characters and punctuation become single tokens; other runs split on whitespace."""
    tokens, run = [], ""
    punctuation = unicode_punctuation()
    for ch in text:
        if CJK.search(ch) or ch in punctuation:
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def mlqa_normalize(text: str, lang: str) -> str:
    punctuation = unicode_punctuation()
    text = "".join(ch for ch in text.lower() if ch not in punctuation)
    if lang in MLQA_ARTICLES:
        text = MLQA_ARTICLES[lang].sub(" ", text)
    tokens = mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(tok for tok in tokens if tok.strip())


def token_f1(prediction: str, gold: str) -> float:
    pred_tokens, gold_tokens = prediction.split(), gold.split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred_tokens), overlap / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def normalizer_for(kind: str, lang: str) -> Callable[[str], str]:
    if kind == "mlqa":
        return lambda text: mlqa_normalize(text, lang)
    return squad_normalize


def exact_match_and_f1(prediction: str, golds: Sequence[str], normalize: Callable[[str], str]) -> tuple[float, float]:
    """(EM, F1) of one prediction, each the maximum over the gold answers, in [0, 1]."""
    pred = normalize(prediction)
    normalized = [normalize(gold) for gold in golds]
    return (max(float(pred == gold) for gold in normalized),
            max(token_f1(pred, gold) for gold in normalized))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")
