"""XStoryCloze (juletxara/xstory_cloze): choose the right ending of a four-sentence story."""
from __future__ import annotations

from ...errors import LangAdaptError
from .base import TaskSpec, language_checker, make_choice_example

LANGUAGES = ("ar", "en", "es", "eu", "hi", "id", "my", "ru", "sw", "te", "zh")


def _fields(doc: dict) -> dict:
    story = " ".join(doc[f"input_sentence_{i}"] for i in range(1, 5))
    return {"story": story, **{f"input_sentence_{i}": doc[f"input_sentence_{i}"] for i in range(1, 5)},
            "sentence_quiz1": doc["sentence_quiz1"], "sentence_quiz2": doc["sentence_quiz2"]}


def _original(fields: dict, options: list[str]):
    # run_eval: "story\nending" tokenised whole, story and endings stripped; the ending is scored
    story, options = fields["story"].strip(), [opt.strip() for opt in options]
    return f"{story}\n", options, [(f"{story}\n{opt}",) for opt in options]


def _harness(fields: dict, options: list[str]):
    # lm-evaluation-harness: the four sentences joined by spaces, then " " + the ending
    return fields["story"], [f" {opt}" for opt in options]


def _stem(fields: dict) -> str:
    return f"{fields['story']}\nWhich ending is right?"


def _label(doc: dict) -> int:
    answer = str(doc["answer_right_ending"]).strip()
    if answer not in ("1", "2"):
        raise LangAdaptError(f"xstorycloze: field 'answer_right_ending' must be 1 or 2, got {answer!r}")
    return int(answer) - 1


def build(doc: dict, lang: str, prompt_format: str, template):
    return make_choice_example(str(doc.get("story_id", "")), _fields(doc),
                               [doc["sentence_quiz1"], doc["sentence_quiz2"]], _label(doc),
                               prompt_format, template, _original, _harness, _stem)


TASK = TaskSpec(
    name="xstorycloze", kind="choice", hub_path="juletxara/xstory_cloze",
    columns=tuple(f"input_sentence_{i}" for i in range(1, 5)) + ("sentence_quiz1", "sentence_quiz2",
                                                                 "answer_right_ending"),
    splits=("train", "eval"), default_split="eval", split_aliases={"test": "eval"}, supported=", ".join(LANGUAGES),
    check_lang=language_checker("xstorycloze", {code: code for code in LANGUAGES}), config_for=lambda lang: lang,
    build=build)
