"""Write sentence pairs in the file layout of an opustools download folder.

opustools reads a local `download_dir` before it downloads anything, so files written here let tests and
the offline demo exercise the real `OpusRead` code path. Two forms exist: a moses zip (one plain-text file
per language) and an xml alignment with one zip of sentence documents per language. The language pair
in file names is always sorted alphabetically, as OPUS does.
"""
from __future__ import annotations

import gzip
import os
import zipfile
from pathlib import Path
from typing import Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

DEFAULT_RELEASE = "latest"


def _sorted_pair(src: str, tgt: str, pairs: Sequence[tuple[str, str]]):
    """Languages in OPUS order and the pairs flipped to match."""
    if src <= tgt:
        return (src, tgt), list(pairs)
    return (tgt, src), [(t, s) for s, t in pairs]


def moses_zip_name(corpus: str, l1: str, l2: str, release: str = DEFAULT_RELEASE) -> str:
    a, b = sorted((l1, l2))
    return f"{corpus}_{release}_moses_{a}-{b}.txt.zip"


def alignment_name(corpus: str, l1: str, l2: str, release: str = DEFAULT_RELEASE) -> str:
    a, b = sorted((l1, l2))
    return f"{corpus}_{release}_xml_{a}-{b}.xml.gz"


def sentence_zip_name(corpus: str, lang: str, preprocess: str = "xml", release: str = DEFAULT_RELEASE) -> str:
    return f"{corpus}_{release}_{preprocess}_{lang}.zip"


def write_opus_moses_zip(download_dir: str | os.PathLike, corpus: str, src: str, tgt: str,
                         pairs: Iterable[tuple[str, str]], release: str = DEFAULT_RELEASE) -> Path:
    """`<corpus>_<release>_moses_<a>-<b>.txt.zip` holding `<corpus>.<a>-<b>.<a>` and `.<b>`, line-aligned."""
    (a, b), ordered = _sorted_pair(src, tgt, list(pairs))
    folder = Path(download_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / moses_zip_name(corpus, a, b, release)
    stem = f"{corpus}.{a}-{b}"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{stem}.{a}", "".join(first + "\n" for first, _ in ordered))
        archive.writestr(f"{stem}.{b}", "".join(second + "\n" for _, second in ordered))
        archive.writestr("README", f"{corpus} {a}-{b}: written by langadapt.corpus.opus_format\n")
    return path


def _sentence_document(sentences: Sequence[str], preprocess: str) -> str:
    """An OPUS sentence document: `xml` keeps tokens in <w> elements, `raw` keeps the plain text."""
    lines = ['<?xml version="1.0" encoding="utf-8"?>', '<document>']
    for number, sentence in enumerate(sentences, start=1):
        if preprocess == "raw":
            body = escape(sentence)
        else:
            body = "".join(f'<w id="{number}.{k}">{escape(token)}</w>'
                           for k, token in enumerate(sentence.split(), start=1))
        lines.append(f'<s id="{number}">{body}</s>')
    lines.append("</document>")
    return "\n".join(lines) + "\n"


def write_opus_xml(download_dir: str | os.PathLike, corpus: str, src: str, tgt: str,
                   documents: Sequence[Sequence[tuple[str, str]]], preprocess: str = "xml",
                   release: str = DEFAULT_RELEASE) -> list[Path]:
    """An xml alignment plus one sentence zip per language; `documents` is a list of pair lists.

    Sentences in the `xml` form are stored as whitespace tokens, so OpusRead gives them back with single
    spaces between tokens.
    """
    if preprocess not in ("xml", "raw"):
        raise ValueError(f"preprocess must be 'xml' or 'raw', not {preprocess!r}")
    folder = Path(download_dir)
    folder.mkdir(parents=True, exist_ok=True)
    a, b = sorted((src, tgt))
    link_groups = []
    zips = {lang: zipfile.ZipFile(folder / sentence_zip_name(corpus, lang, preprocess, release), "w",
                                  compression=zipfile.ZIP_DEFLATED) for lang in (a, b)}
    try:
        for index, document in enumerate(documents):
            _, ordered = _sorted_pair(src, tgt, list(document))
            doc = f"doc{index:05d}.xml"
            for lang, side in ((a, 0), (b, 1)):
                zips[lang].writestr(f"{corpus}/{preprocess}/{lang}/{doc}",
                                    _sentence_document([pair[side] for pair in ordered], preprocess))
            links = "\n".join(f'<link xtargets="{n};{n}" id="SL{n}" />' for n in range(1, len(ordered) + 1))
            link_groups.append(f'<linkGrp targType="s" fromDoc={quoteattr(f"{a}/{doc}.gz")} '
                               f'toDoc={quoteattr(f"{b}/{doc}.gz")}>\n{links}\n</linkGrp>')
    finally:
        for archive in zips.values():
            archive.close()
    alignment = folder / alignment_name(corpus, a, b, release)
    text = '<?xml version="1.0" encoding="utf-8"?>\n<cesAlign version="1.0">\n' + "\n".join(link_groups) + \
        "\n</cesAlign>\n"
    with gzip.open(alignment, "wt", encoding="utf-8") as handle:
        handle.write(text)
    return [alignment, *(folder / sentence_zip_name(corpus, lang, preprocess, release) for lang in (a, b))]
