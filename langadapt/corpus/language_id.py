"""Language identification with py3langid: the langid.py model, ~15x faster, packaged and offline."""
from __future__ import annotations

import logging
from typing import Optional

logger = logging.getLogger(__name__)


class LanguageIdentifier:
    """Says whether a sentence is in an expected language (ISO 639-1 labels, as langid uses)."""

    def __init__(self):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier as Py3LangId

        self._model = Py3LangId.from_model_file(MODEL_FILE)
        self.labels = frozenset(self._model.labels)

    def label(self, text: str) -> str:
        return self._model.classify(text)[0]

    def checkable(self, iso1: str) -> Optional[str]:
        """`iso1` when the model knows it, else None (with a warning: that side cannot be checked)."""
        if iso1 in self.labels:
            return iso1
        logger.warning("language id: the model has no label %r; that side is not checked", iso1)
        return None
