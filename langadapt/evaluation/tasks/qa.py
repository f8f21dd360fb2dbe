"""XQuAD (google/xquad) and MLQA (facebook/mlqa): extractive QA answered by greedy generation.

The prompt is COMMIT's: background, question and answer labels in the language of the data, or the
English labels with `--lang en{lang}` (e.g. `enhi`), as the `ogx_xquad_en{lang}` tasks do.
"""
from __future__ import annotations

import logging

from ...errors import LangAdaptError
from .base import QAExample, TaskSpec, language_checker

logger = logging.getLogger(__name__)

LABELS = {  # background, question, answer
    "en": ("Background:", "Question:", "Answer:"),
    "hi": ("पृष्ठभूमि:", "सवाल:", "उत्तर:"),
    "el": ("Πληροφορίες ιστορικού:", "Ερώτηση:", "Απάντηση:"),
    "th": ("พื้นหลัง:", "คำถาม:", "ตอบ:"),
}
XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
MLQA_LANGUAGES = ("ar", "de", "en", "es", "hi", "vi", "zh")


def split_lang(lang: str) -> tuple[str, str]:
    """("hi", "hi") for `hi`; ("hi", "en") for `enhi`: (data language, label language)."""
    if len(lang) == 4 and lang.startswith("en"):
        return lang[2:], "en"
    return lang, lang


def _checker(task: str, languages: tuple[str, ...]):
    plain = language_checker(task, {code: code for code in languages},
                             hint=" (prefix 'en' for English field labels, e.g. enhi)")

    def check(code: str) -> str:
        english_labels = len(code) > 3 and code.lower().startswith("en") and not code.lower().startswith("eng")
        lang = plain(code[2:] if english_labels else code)
        if not english_labels and lang not in LABELS:
            logger.warning("%s: no native field labels for %s; using the English ones", task, lang)
        return f"en{lang}" if english_labels and lang != "en" else lang

    return check


def build(doc: dict, lang: str, prompt_format: str, template) -> QAExample:
    _, label_lang = split_lang(lang)
    background, question, answer = LABELS.get(label_lang, LABELS["en"])
    prompt = f"{background}\n\n{doc['context']}\n\n{question} {doc['question']}\n\n{answer}"
    answers = doc["answers"]
    texts = list(answers["text"]) if isinstance(answers, dict) else [a["text"] for a in answers]
    if not texts:
        raise LangAdaptError(f"question {doc.get('id')!r} has no gold answer in field 'answers'")
    return QAExample(str(doc.get("id", "")), prompt, texts, doc["question"])


COLUMNS = ("context", "question", "answers")
XQUAD = TaskSpec(
    name="xquad", kind="qa", hub_path="google/xquad", columns=COLUMNS, splits=("validation",),
    default_split="validation", supported=", ".join(XQUAD_LANGUAGES), check_lang=_checker("xquad", XQUAD_LANGUAGES),
    config_for=lambda lang: f"xquad.{split_lang(lang)[0]}", build=build, extra={"normalisation": "squad"})
MLQA = TaskSpec(
    name="mlqa", kind="qa", hub_path="facebook/mlqa", columns=COLUMNS, splits=("test", "validation"),
    default_split="test", supported=", ".join(MLQA_LANGUAGES), check_lang=_checker("mlqa", MLQA_LANGUAGES),
    config_for=lambda lang: f"mlqa.{split_lang(lang)[0]}.{split_lang(lang)[0]}", build=build,
    extra={"normalisation": "mlqa"})
