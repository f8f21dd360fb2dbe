"""Stream sentence pairs from a Hugging Face parallel dataset (hub id or local path).

Hub parallel sets name their pair configs inconsistently (`eng_Latn-swh_Latn`, `eng-swh`, `en-sw`) and
key the `translation` dict by 3-letter, script-tagged or 2-letter codes, so configs are tried in a fixed
order and each language is looked up under all its spellings. A local folder laid out by config (a
parquet export, one subfolder per pair) goes through the same names. A script dataset (allenai/nllb,
allenai/wmt22_african), which datasets >= 4 refuses, is reported unavailable with the workaround. A local
dataset that does not load, or lacks the pair, is an error naming --hf_corpora: the user named it, and a
build that dropped it would save fewer pairs without a word. A split slice is applied as `datasets` reads
it; a percentage needs the split's length, so such a split is read whole rather than streamed.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from itertools import islice
from typing import Iterator, Optional

from ..data import ScriptDatasetError, load_any_dataset, looks_local
from ..errors import LangAdaptError
from ..languages import get_language
from .opus_reader import CorpusUnavailable

logger = logging.getLogger(__name__)


def candidate_configs(src: str, tgt: str) -> list[Optional[str]]:
    """Config names to try, in order, ending with None (the dataset's default config).

    `_Latn` in the usual patterns becomes each language's own script tag (`hin_Deva`), which is what
    FLORES-style configs use for non-Latin languages.
    """
    s, t = get_language(src), get_language(tgt)
    names = [f"{s.flores}-{t.flores}", f"{s.iso3}-{t.iso3}", f"{s.flores}-{t.iso3}", f"{s.iso3}-{t.flores}"]
    if s.iso1 and t.iso1:  # as the original: 2-letter configs only where both languages have a code
        names += [f"{s.iso1}-{t.iso1}", f"{s.iso1}_{s.script}-{t.iso1}_{t.script}"]
    return list(dict.fromkeys(names)) + [None]


def translation_keys(code: str) -> list[str]:
    """Keys a `translation` dict may use for this language, most specific first."""
    lang = get_language(code)
    keys = [lang.iso3, lang.flores, lang.flores_plus]
    if lang.iso1:
        keys += [lang.iso1, f"{lang.iso1}_{lang.script}"]
    return list(dict.fromkeys(keys))


def alias_for(dataset: str) -> str:
    """A file-name-safe corpus name: hf__<hub id>, or hf__<folder name>-<path hash> for a local path."""
    if looks_local(dataset):
        path = os.path.abspath(os.path.expanduser(dataset))
        digest = hashlib.sha1(path.encode("utf-8")).hexdigest()[:8]
        return f"hf__{_safe(os.path.basename(path.rstrip(os.sep)))}-{digest}"
    return f"hf__{_safe(dataset.strip('/'))}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


@dataclass(frozen=True)
class HFSource:
    dataset: str
    src: str  # any code languages.py knows
    tgt: str
    split: str = "train"
    timeout_sec: int = 3600

    def _missing(self, why: str) -> Exception:
        """Why the corpus yields nothing: a hub dataset is unavailable (as an OPUS corpus), a local one bad input."""
        if looks_local(self.dataset):
            return LangAdaptError(f"--hf_corpora {self.dataset}: {why}; fix it or drop it from --hf_corpora")
        return CorpusUnavailable(why)

    def _load(self):
        """(dataset, config) for the first config that loads."""
        errors = []
        options = {} if looks_local(self.dataset) else {"storage_options": _timeout_options(self.timeout_sec)}
        for config in candidate_configs(self.src, self.tgt):
            try:
                data = load_any_dataset(self.dataset, config_name=config, split=self.split,
                                        streaming="%" not in self.split, flags=(None, None, "--hf_corpora_split"),
                                        **options)
            except ScriptDatasetError as err:
                raise CorpusUnavailable(f"{err}: here <folder>/{config}/train.parquet with a `translation` "
                                        f"column, e.g. allenai/nllb's {config} pair") from err
            except LangAdaptError as err:
                if str(err).startswith("--hf_corpora_split"):  # wrong for every config alike
                    raise
                errors.append(str(err))
                logger.debug("[HF] %s config %s: %s", self.dataset, config, err)
                continue
            logger.info("[HF] %s: loaded config %s, split %s", self.dataset, config or "(default)", self.split)
            return data, config
        tried = ', '.join(c or 'default' for c in candidate_configs(self.src, self.tgt))
        raise self._missing(f"no config of {self.dataset} loads for {self.src}-{self.tgt} (tried {tried}); last "
                            f"error: {errors[-1][:300]}")

    def pairs(self, maximum: int = 0) -> Iterator[tuple[str, str]]:
        data, _ = self._load()
        if "translation" not in (data.column_names or ["translation"]):
            raise self._missing(f"{self.dataset} has no `translation` column (columns: "
                                f"{', '.join(data.column_names)})")
        src_keys, tgt_keys = translation_keys(self.src), translation_keys(self.tgt)

        def extract() -> Iterator[tuple[str, str]]:
            seen = found = 0
            for example in data:
                seen += 1
                translation = example.get("translation")
                src = _first_text(translation, src_keys) if isinstance(translation, dict) else None
                tgt = _first_text(translation, tgt_keys) if isinstance(translation, dict) else None
                if src and tgt:
                    found += 1
                    yield src, tgt
            if seen and not found:
                raise self._missing(f"no `translation` holds both {self.src} (keys {', '.join(src_keys)}) and "
                                    f"{self.tgt} (keys {', '.join(tgt_keys)})")

        yield from islice(extract(), maximum or None)


def _first_text(translation: dict, keys: list[str]) -> Optional[str]:
    for key in keys:
        value = translation.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _timeout_options(timeout_sec: int) -> Optional[dict]:
    """fsspec/aiohttp options so a stalled hub download fails after `--hf_timeout_sec`."""
    try:
        import aiohttp
    except ImportError:
        return None
    return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=timeout_sec)}}
