"""Stream sentence pairs of one OPUS corpus through opustools, using local files first.

opustools looks in `download_dir` (and under `root_directory`, a local OPUS mirror) before it downloads;
here the local forms are checked first so that a corpus already present in either form is read without
any network, and a missing one is downloaded in the `--preprocess` form without the interactive prompt.
Downloads are off when HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set (the project's offline switch): a
missing corpus is then reported as unavailable instead. A download goes to a hidden staging folder and
is renamed into place only when complete, so a killed download never leaves a file a rerun would trust;
a truncated, corrupt or non-UTF-8 file is a `CorpusFileError` naming the file and the corpus.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from xml.parsers.expat import ExpatError
from itertools import islice
from pathlib import Path
from typing import Iterator, Optional

from ..errors import LangAdaptError
from .opus_format import DEFAULT_RELEASE, alignment_name, moses_zip_name, sentence_zip_name

logger = logging.getLogger(__name__)
ALIGNED_FORMS = ("xml", "raw")  # an xml alignment plus per-language sentence zips
# Links read per chunk by OpusRead's xml parser: bounds the sentences it holds in memory at once.
XML_CHUNK_LINKS = 100_000


class CorpusUnavailable(Exception):
    """The corpus does not exist (or cannot be fetched) for this language pair."""


class CorpusFileError(LangAdaptError):
    """A local corpus file is truncated, corrupt or not UTF-8."""


# What reading a damaged zip / gzip / xml / text file raises inside opustools.
DAMAGED_FILE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, gzip.BadGzipFile, ExpatError, UnicodeDecodeError)


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
    cap_moses: bool = False  # the original's OpusRead ignores `maximum` for the moses form

    def local_files(self, form: str) -> list[Path]:
        """The files that hold `form` (alignment first for the aligned forms), whether or not they exist."""
        folder = Path(self.download_dir)
        if form == "moses":
            return [folder / moses_zip_name(self.corpus, self.src, self.tgt, self.release)]
        a, b = sorted((self.src, self.tgt))
        alignment = folder / alignment_name(self.corpus, a, b, self.release)
        zips = [folder / sentence_zip_name(self.corpus, lang, form, self.release) for lang in (a, b)]
        if self.opus_root:
            base = Path(self.opus_root) / self.corpus / self.release
            if not alignment.is_file():
                alignment = base / "xml" / f"{a}-{b}.xml.gz"
            zips = [z if z.is_file() else base / form / f"{lang}.zip" for z, lang in zip(zips, (a, b))]
        return [alignment, *zips]

    def local_form(self) -> Optional[str]:
        """The preprocessing form present locally, preferring `preprocess`; None when nothing is there."""
        forms = [self.preprocess] + [f for f in ("moses", *ALIGNED_FORMS) if f != self.preprocess]
        for form in forms:
            if all(path.is_file() for path in self.local_files(form)):
                return form
        return None

    def _download(self) -> None:
        """OpusGet into a staging folder beside the cache; files are renamed into place once all are in."""
        from opustools import OpusGet

        logger.info("[OPUS] %s %s-%s: downloading the %s form into %s", self.corpus, self.src, self.tgt,
                    self.preprocess, self.download_dir)
        staging = Path(tempfile.mkdtemp(prefix=f".downloading-{self.corpus}-", dir=self.download_dir))
        chatter = io.StringIO()
        try:
            with contextlib.redirect_stdout(chatter):
                OpusGet(source=self.src, target=self.tgt, directory=self.corpus, release=self.release,
                        preprocess=self.preprocess, download_dir=str(staging), suppress_prompts=True).get_files()
            for path in sorted(staging.iterdir()):
                os.replace(path, Path(self.download_dir) / path.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
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
        """Non-empty (src, tgt) in the requested direction from the first `maximum` alignments (0: all).

        As the original (OpusRead's `maximum`), the moses form is read whole unless `cap_moses`.
        """
        form = self.ensure_local()
        limit = maximum if form in ALIGNED_FORMS or self.cap_moses else 0
        logger.info("[OPUS] %s %s-%s: reading the local %s form", self.corpus, self.src, self.tgt, form)
        try:
            for src, tgt in islice(self._read(form, limit), limit or None):
                src, tgt = src.strip(), tgt.strip()
                if src and tgt:
                    yield src, tgt
        except DAMAGED_FILE_ERRORS as err:
            raise self._damaged(form, err) from err

    def _read(self, form: str, limit: int) -> Iterator[tuple[str, str]]:
        from opustools import OpusRead

        with contextlib.redirect_stderr(io.StringIO()):  # it measures the alignment file out loud
            reader = OpusRead(directory=self.corpus, source=self.src, target=self.tgt, release=self.release,
                              preprocess=form, download_dir=self.download_dir, suppress_prompts=True,
                              root_directory=self.opus_root or self.download_dir, chunk_size=XML_CHUNK_LINKS,
                              write_mode="moses" if form == "moses" else "normal", maximum=limit or -1)
        yield from reader.yieldPairs() if form == "moses" else _quietly(reader.yieldPairs())

    def _damaged(self, form: str, err: Exception) -> CorpusFileError:
        files = self.local_files(form)
        broken = next((path for path in files if not _readable(path)), None)
        where = str(broken) if broken else " or ".join(str(path) for path in files)
        what = {UnicodeDecodeError: "is not valid UTF-8", ExpatError: "is not well-formed XML (truncated, corrupt "
                "or not UTF-8)"}.get(type(err), "is truncated or corrupt")
        return CorpusFileError(f"--corpora {self.corpus}: {where} {what} ({type(err).__name__}: {err}); delete it "
                               f"to download it again, or pass --skip_bad_corpora to skip such corpora")


def _readable(path: Path) -> bool:
    """The whole file reads back: zip members pass their CRC check, a gzip stream reaches its end."""
    try:
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                return archive.testzip() is None
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
        return True
    except (OSError, *DAMAGED_FILE_ERRORS):
        return False


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
