"""Moses punctuation normalisation with a fast path for text that no rule touches.

sacremoses runs ~45 regex substitutions per sentence (~45 us), yet most sentences contain nothing those
rules look for. Every rule's pattern needs one of a few characters or short sequences (listed in
`any_rule_can_apply`); when a sentence holds none of them no substitution can change it, so the result is exactly
`text.strip()`. tests/test_corpus_filters.py checks this against sacremoses on random strings.
"""
from __future__ import annotations

import re
from functools import lru_cache

from sacremoses import MosesPunctNormalizer

# A superset of what any rule (default settings, any language) can match: brackets, quotes, dashes,
# ellipsis, guillemets, non-breaking space, carriage return, two spaces, "''", " :", " ;", digit + " %".
# (Plain substring tests are far faster than one regex alternation over them.)
_RULE_CHARS = re.compile("[\r()`\"\u201e\u201c\u201d\u2013\u2014\u00b4\u2018\u2019\u201a\u2026\u00ab\u00bb\u00a0]")
_ASCII_TRIGGERS = ("\r", "(", ")", "`", '"', "  ", "''", " :", " ;", " %")


def any_rule_can_apply(text: str) -> bool:
    if any(trigger in text for trigger in _ASCII_TRIGGERS):
        return True
    return not text.isascii() and _RULE_CHARS.search(text) is not None


class PunctNormalizer:
    """`MosesPunctNormalizer(lang).normalize`, skipping the rule chain when no rule can apply."""

    def __init__(self, lang: str = "en"):
        self._moses = MosesPunctNormalizer(lang=lang)

    def __call__(self, text: str) -> str:
        if not any_rule_can_apply(text):
            return text.strip()
        return self._moses.normalize(text)


@lru_cache(maxsize=None)
def normalizer_for(lang: str) -> PunctNormalizer:
    return PunctNormalizer(lang)
