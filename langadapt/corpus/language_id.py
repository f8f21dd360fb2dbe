"""Language identification with py3langid 0.3: the langid.py model and features, vectorised, offline.

py3langid 0.3 labels exactly as the `langid` package the original builder calls (all of 4,142 test
sentences agree); 0.4 re-weights the features (log1p of counts) and disagrees on a quarter of the
demo corpus's Swahili lines, so requirements.txt pins 0.3.0 and any other version is refused here.
"""
from __future__ import annotations

import logging
from importlib import metadata
from typing import Optional

from ..errors import LangAdaptError

logger = logging.getLogger(__name__)
PINNED_VERSION = "0.3.0"


class LanguageIdentifier:
    """Says whether a sentence is in an expected language (ISO 639-1 labels, as langid uses)."""

    def __init__(self):
        version = metadata.version("py3langid")
        if version != PINNED_VERSION:
            raise LangAdaptError(f"py3langid {version} is installed; the corpus filter needs {PINNED_VERSION} "
                                 f"(pip install py3langid=={PINNED_VERSION}): later versions label differently "
                                 f"from the original's langid")
        from py3langid.langid import MODEL_FILE, LanguageIdentifier as Py3LangId

        self._model = Py3LangId.from_pickled_model(MODEL_FILE)
        self.labels = frozenset(self._model.nb_classes)

    def label(self, text: str) -> str:
        return self._model.classify(text)[0]

    def checkable(self, iso1: str) -> Optional[str]:
        """`iso1` when the model knows it, else None (with a warning: that side cannot be checked)."""
        if iso1 in self.labels:
            return iso1
        logger.warning("language id: the model has no label %r; that side is not checked", iso1)
        return None
