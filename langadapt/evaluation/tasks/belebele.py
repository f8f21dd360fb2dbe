"""Belebele (facebook/belebele): four-way reading comprehension over a FLORES passage."""
from __future__ import annotations

from ...errors import LangAdaptError
from ...languages import flores_tag
from .base import TaskSpec, make_choice_example


def _check_lang(code: str) -> str:
    try:
        return flores_tag(code)
    except LangAdaptError as err:
        raise LangAdaptError(f"--lang {code}: belebele takes a FLORES-200 language ({err}); e.g. swh_Latn, "
                             f"sw or swh") from err


def _fields(doc: dict) -> dict:
    return {"passage": doc["flores_passage"], "question": doc["question"].strip(),
            **{f"mc_answer{i}": doc[f"mc_answer{i}"] for i in range(1, 5)}}


def _original(fields: dict, options: list[str]):
    # run_eval: passage, "\n", "\n", "Q: ", question, "\nA: ", answer, each tokenised alone (all stripped)
    passage, question = fields["passage"].strip(), fields["question"].strip()
    options = [opt.strip() for opt in options]
    context = f"{passage}\n\nQ: {question}\nA: "
    return context, options, [(passage, "\n", "\n", "Q: ", question, "\nA: ", opt) for opt in options]


def _harness(fields: dict, options: list[str]):
    listing = "".join(f"\n{letter}: {opt}" for letter, opt in zip("ABCD", options))
    return f"P: {fields['passage']}\nQ: {fields['question']}{listing}\nAnswer:", [" A", " B", " C", " D"]


def _stem(fields: dict) -> str:
    return f"{fields['passage']}\nQ: {fields['question']}"


def _label(doc: dict) -> int:
    answer = str(doc["correct_answer_num"]).strip()
    if answer not in ("1", "2", "3", "4"):
        raise LangAdaptError(f"belebele: field 'correct_answer_num' must be 1-4, got {answer!r}")
    return int(answer) - 1


def build(doc: dict, lang: str, prompt_format: str, template):
    options = [doc[f"mc_answer{i}"] for i in range(1, 5)]
    return make_choice_example(str(doc.get("question_number", "")), _fields(doc), options, _label(doc),
                               prompt_format, template, _original, _harness, _stem)


TASK = TaskSpec(
    name="belebele", kind="choice", hub_path="facebook/belebele",
    columns=("flores_passage", "question", "mc_answer1", "mc_answer2", "mc_answer3", "mc_answer4",
             "correct_answer_num"),
    splits=("test",), default_split="test", supported="any FLORES-200 language (e.g. swh_Latn)",
    check_lang=_check_lang, config_for=lambda lang: lang, build=build, filter_column="dialect")
