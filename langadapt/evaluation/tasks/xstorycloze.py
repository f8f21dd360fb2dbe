"""XStoryCloze (juletxara/xstory_cloze): choose the right ending of a four-sentence story."""
from __future__ import annotations

from .base import TaskSpec, language_checker, make_choice_example

LANGUAGES = ("ar", "en", "es", "eu", "hi", "id", "my", "ru", "sw", "te", "zh")


def _fields(doc: dict) -> dict:
    story = " ".join(doc[f"input_sentence_{i}"] for i in range(1, 5))
    return {"story": story, **{f"input_sentence_{i}": doc[f"input_sentence_{i}"] for i in range(1, 5)},
            "sentence_quiz1": doc["sentence_quiz1"], "sentence_quiz2": doc["sentence_quiz2"]}


def _story_then_ending(fields: dict, options: list[str]):
    # the original and the harness agree: the four sentences, a space, the ending
    return fields["story"], [f" {opt}" for opt in options]


def _stem(fields: dict) -> str:
    return f"{fields['story']}\nWhich ending is right?"


def build(doc: dict, lang: str, prompt_format: str, template):
    return make_choice_example(str(doc.get("story_id", "")), _fields(doc),
                               [doc["sentence_quiz1"], doc["sentence_quiz2"]], int(doc["answer_right_ending"]) - 1,
                               prompt_format, template, _story_then_ending, _story_then_ending, _stem)


TASK = TaskSpec(
    name="xstorycloze", kind="choice", hub_path="juletxara/xstory_cloze",
    columns=tuple(f"input_sentence_{i}" for i in range(1, 5)) + ("sentence_quiz1", "sentence_quiz2",
                                                                 "answer_right_ending"),
    splits=("train", "eval"), default_split="eval", supported=", ".join(LANGUAGES),
    check_lang=language_checker("xstorycloze", {code: code for code in LANGUAGES}), config_for=lambda lang: lang,
    build=build)
