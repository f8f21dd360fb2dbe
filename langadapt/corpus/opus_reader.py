"""Stream sentence pairs of one OPUS corpus through opustools, using local files first.

opustools looks in `download_dir` (and under `root_directory`, a local OPUS mirror) before it downloads;
here the local forms are checked first so that a corpus already present in either form is read without
any network, and a missing one is downloaded in the `--preprocess` form without the interactive prompt.
Downloads are off when HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set (the project's offline switch): a
missing corpus is then reported as unavailable instead.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Iterator, Optional

from .opus_format import DEFAULT_RELEASE, alignment_name, moses_zip_name, sentence_zip_name

logger = logging.getLogger(__name__)
ALIGNED_FORMS = ("xml", "raw")  # an xml alignment plus per-language sentence zips
# Links read per chunk by OpusRead's xml parser: bounds the sentences it holds in memory at once.
XML_CHUNK_LINKS = 100_000


class CorpusUnavailable(Exception):
    """The corpus does not exist (or cannot be fetched) for this language pair."""


def downloads_disabled() -> bool:
    return any(os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
               for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


@dataclass(frozen=True)
class OpusSource:
    corpus: str
    src: str  # ISO 639-1, as OPUS names languages
    tgt: str
    download_dir: str
    opus_root: Optional[str] = None
    preprocess: str = "moses"
    release: str = DEFAULT_RELEASE

    def _has_aligned(self, form: str) -> bool:
        folder = Path(self.download_dir)
        a, b = sorted((self.src, self.tgt))
        alignment = folder / alignment_name(self.corpus, a, b, self.release)
        zips = [folder / sentence_zip_name(self.corpus, lang, form, self.release) for lang in (a, b)]
        if self.opus_root:
            base = Path(self.opus_root) / self.corpus / self.release
            if not alignment.is_file():
                alignment = base / "xml" / f"{a}-{b}.xml.gz"
            zips = [z if z.is_file() else base / form / f"{lang}.zip" for z, lang in zip(zips, (a, b))]
        return alignment.is_file() and all(z.is_file() for z in zips)

    def local_form(self) -> Optional[str]:
        """The preprocessing form present locally, preferring `preprocess`; None when nothing is there."""
        moses = (Path(self.download_dir) / moses_zip_name(self.corpus, self.src, self.tgt, self.release)).is_file()
        forms = [self.preprocess] + [f for f in ("moses", *ALIGNED_FORMS) if f != self.preprocess]
        for form in forms:
            if (form == "moses" and moses) or (form in ALIGNED_FORMS and self._has_aligned(form)):
                return form
        return None

    def _download(self) -> None:
        from opustools import OpusGet

        logger.info("[OPUS] %s %s-%s: downloading the %s form into %s", self.corpus, self.src, self.tgt,
                    self.preprocess, self.download_dir)
        chatter = io.StringIO()
        with contextlib.redirect_stdout(chatter):
            OpusGet(source=self.src, target=self.tgt, directory=self.corpus, release=self.release,
                    preprocess=self.preprocess, download_dir=self.download_dir, suppress_prompts=True).get_files()
        if chatter.getvalue().strip():
            logger.info("[OPUS] %s", chatter.getvalue().strip().replace("\r", "\n").splitlines()[-1])

    def ensure_local(self) -> str:
        """The form to read, downloading the corpus first when no form of it is local."""
        form = self.local_form()
        if form is not None:
            return form
        if downloads_disabled():
            raise CorpusUnavailable(f"not in {self.download_dir} and downloads are off (offline mode)")
        Path(self.download_dir).mkdir(parents=True, exist_ok=True)
        self._download()
        form = self.local_form()
        if form is None:
            raise CorpusUnavailable(f"OPUS has no {self.preprocess} files for {self.src}-{self.tgt} "
                                    f"(or the download failed); nothing in {self.download_dir}")
        return form

    def pairs(self, maximum: int = 0) -> Iterator[tuple[str, str]]:
        """(src, tgt) in the requested direction, at most `maximum` (0: all) non-empty pairs."""
        from opustools import OpusRead

        form = self.ensure_local()
        logger.info("[OPUS] %s %s-%s: reading the local %s form", self.corpus, self.src, self.tgt, form)
        with contextlib.redirect_stderr(io.StringIO()):  # it measures the alignment file out loud
            reader = OpusRead(directory=self.corpus, source=self.src, target=self.tgt, release=self.release,
                              preprocess=form, download_dir=self.download_dir, suppress_prompts=True,
                              root_directory=self.opus_root or self.download_dir, chunk_size=XML_CHUNK_LINKS,
                              write_mode="moses" if form == "moses" else "normal")
        stream = reader.yieldPairs() if form == "moses" else _quietly(reader.yieldPairs())
        cleaned = ((s.strip(), t.strip()) for s, t in stream)
        yield from islice(((s, t) for s, t in cleaned if s and t), maximum or None)


def _quietly(pairs: Iterator[tuple[str, str]]) -> Iterator[tuple[str, str]]:
    """Silence OpusRead's per-document "Measuring file ..." lines without hiding our own progress bars."""
    sink = io.StringIO()
    while True:
        with contextlib.redirect_stderr(sink):
            pair = next(pairs, None)
        sink.seek(0)
        sink.truncate()
        if pair is None:
            return
        yield pair
