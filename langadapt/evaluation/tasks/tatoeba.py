"""Tatoeba (Helsinki-NLP/tatoeba_mt, eng-xxx): sentence retrieval between English and a language."""
from __future__ import annotations

from ...errors import LangAdaptError
from ...languages import get_language
from .base import TaskSpec

def _check_lang(code: str) -> str:
    """Tatoeba's code: the macrolanguage for a standard variety (the Swahili pair is eng-swa)."""
    try:
        return get_language(code).tatoeba
    except LangAdaptError as err:
        raise LangAdaptError(f"--lang {code}: tatoeba_retrieval needs a language paired with English ({err})") \
            from err


# the hub dataset's columns, then the original's --tatoeba_file columns
SOURCE_COLUMNS, TARGET_COLUMNS = ("sourceString", "src"), ("targetString", "tgt")


def _pick(doc: dict, columns: tuple[str, ...]) -> str:
    for column in columns:
        if isinstance(doc.get(column), str):
            return doc[column]
    raise LangAdaptError(f"tatoeba_retrieval: no text in field {' or '.join(columns)}")


def build(doc: dict, lang: str, prompt_format: str, template) -> tuple[str, str]:
    return _pick(doc, SOURCE_COLUMNS), _pick(doc, TARGET_COLUMNS)


TASK = TaskSpec(
    name="tatoeba_retrieval", kind="retrieval", hub_path="Helsinki-NLP/tatoeba_mt",
    columns=(), splits=("test", "validation"), default_split="test",
    supported="any language of langadapt/languages.py paired with English", check_lang=_check_lang,
    config_for=lambda lang: f"eng-{lang}", build=build)
