"""XCOPA (cambridgeltl/xcopa): pick the cause or effect of a premise among two alternatives."""
from __future__ import annotations

from ...errors import LangAdaptError
from .base import TaskSpec, language_checker, make_choice_example

# The connector words lm-evaluation-harness puts after the premise, per language ("because", "therefore").
CONNECTORS = {
    "et": ("sest", "seetõttu"), "ht": ("poukisa", "donk sa"), "it": ("perché", "quindi"),
    "id": ("karena", "maka"), "qu": ("imataq", "chaymi"), "sw": ("kwa sababu", "kwa hiyo"),
    "zh": ("因为", "所以"), "ta": ("காரணமாக", "எனவே"), "th": ("เพราะ", "ดังนั้น"),
    "tr": ("çünkü", "bu yüzden"), "vi": ("bởi vì", "vì vậy"),
}


def _fields(doc: dict, lang: str) -> dict:
    if doc["question"] not in ("cause", "effect"):
        raise LangAdaptError(f"xcopa: field 'question' must be 'cause' or 'effect', got {doc['question']!r}")
    cause, effect = CONNECTORS[lang]
    return {"premise": doc["premise"], "question": doc["question"], "choice1": doc["choice1"],
            "choice2": doc["choice2"], "connector": cause if doc["question"] == "cause" else effect}


def _original(fields: dict, options: list[str]):
    # run_eval: "premise\nhypothesis" tokenised whole, premise and options stripped; the option is scored
    premise, options = fields["premise"].strip(), [opt.strip() for opt in options]
    return f"{premise}\n", options, [(f"{premise}\n{opt}",) for opt in options]


def _harness(fields: dict, options: list[str]):
    # premise without its final period, then the connector; options start lower-case after a space
    context = fields["premise"].strip()[:-1] + f" {fields['connector']}"
    return context, [f" {opt[:1].lower()}{opt[1:]}" for opt in options]


def _stem(fields: dict) -> str:
    return f"{fields['premise']}\nWhat was the {fields['question']}?"


def _label(doc: dict) -> int:
    try:
        return int(doc["label"])
    except (TypeError, ValueError):
        raise LangAdaptError(f"xcopa: field 'label' must be 0 or 1, got {doc['label']!r}") from None


def build(doc: dict, lang: str, prompt_format: str, template):
    fields = _fields(doc, lang)
    return make_choice_example(str(doc.get("idx", "")), fields, [doc["choice1"], doc["choice2"]],
                               _label(doc), prompt_format, template, _original, _harness, _stem)


TASK = TaskSpec(
    name="xcopa", kind="choice", hub_path="cambridgeltl/xcopa",
    columns=("premise", "choice1", "choice2", "question", "label"), splits=("validation", "test"),
    default_split="test", supported=", ".join(sorted(CONNECTORS)),
    check_lang=language_checker("xcopa", {code: code for code in CONNECTORS}), config_for=lambda lang: lang,
    build=build)
