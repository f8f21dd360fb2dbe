"""Word alignment of parallel sentences behind one interface, computed once per run.

Back-ends: SimAlign (multilingual BERT, "mwmf" matching, the paper's), eflomal (statistical, no model
download, aligns the whole split at once) and a Pharaoh file (`i-j` pairs per line). Indices are
whitespace-word positions (`sentence.split()`), as in the original analyses.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import LangAdaptError

logger = logging.getLogger(__name__)

Pairs = list[tuple[int, int]]
PUNCTUATION_ONLY = re.compile(r"^[\W_]+$", re.UNICODE)
SIMALIGN_MODEL = "bert-base-multilingual-cased"


def is_content_word(word: str) -> bool:
    """The original's "content" test: longer than one character and not only punctuation/underscores."""
    return len(word) > 1 and not PUNCTUATION_ONLY.match(word)


@dataclass
class AlignedCorpus:
    """Parallel sentences as whitespace words, with the content-word alignment pairs of each sentence."""
    src_words: list[list[str]]
    tgt_words: list[list[str]]
    pairs: list[Pairs]

    @property
    def num_pairs(self) -> int:
        return sum(len(p) for p in self.pairs)


def parse_pharaoh_line(line: str, where: str) -> Pairs:
    pairs = []
    for item in line.split():
        left, sep, right = item.partition("-")
        if not sep or not left.isdigit() or not right.isdigit():
            raise LangAdaptError(f"{where}: {item!r} is not an i-j pair (Pharaoh format)")
        pairs.append((int(left), int(right)))
    return pairs


def read_pharaoh(path: str | os.PathLike, num_sentences: int) -> list[Pairs]:
    """One line of `i-j` pairs per sentence; the file must have exactly one line per sentence pair."""
    path = Path(path)
    if not path.is_file():
        raise LangAdaptError(f"--alignments {path}: no such file")
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) != num_sentences:
        raise LangAdaptError(f"--alignments {path}: {len(lines)} lines for {num_sentences} sentence pairs")
    return [parse_pharaoh_line(line, f"--alignments {path} line {n + 1}") for n, line in enumerate(lines)]


def grow_diag_final_and(forward: set, reverse: set) -> Pairs:
    """Koehn's symmetrisation of two directional alignments (the one eflomal's authors recommend)."""
    union, links = forward | reverse, set(forward & reverse)
    neighbours = [(-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)]
    added = True
    while added:
        added = False
        for i, j in sorted(links):
            for di, dj in neighbours:
                cand = (i + di, j + dj)
                if cand in union and cand not in links and (
                        all(a != cand[0] for a, _ in links) or all(b != cand[1] for _, b in links)):
                    links.add(cand)
                    added = True
    for direction in (forward, reverse):
        for cand in sorted(direction):
            if cand not in links and (all(a != cand[0] for a, _ in links) and all(b != cand[1] for _, b in links)):
                links.add(cand)
    return sorted(links)


class EflomalAligner:
    """eflomal over the whole split at once, both directions, symmetrised with grow-diag-final-and.

    eflomal's sampler takes no seed, so two runs may differ in a few links: the run scripts save the
    alignments they used (`alignments.txt`), which `--alignments` replays exactly.
    """

    def __init__(self):
        try:
            import eflomal
        except ImportError as err:
            raise LangAdaptError("--aligner eflomal needs the eflomal package: pip install eflomal") from err
        self.eflomal = eflomal

    def align(self, src_words: Sequence[list[str]], tgt_words: Sequence[list[str]]) -> list[Pairs]:
        with tempfile.TemporaryDirectory(prefix="eflomal-") as folder:
            fwd, rev = os.path.join(folder, "fwd"), os.path.join(folder, "rev")
            self.eflomal.Aligner().align([" ".join(w) for w in src_words], [" ".join(w) for w in tgt_words],
                                         links_filename_fwd=fwd, links_filename_rev=rev, quiet=True)
            forward = Path(fwd).read_text(encoding="utf-8").splitlines()
            reverse = Path(rev).read_text(encoding="utf-8").splitlines()
        return [grow_diag_final_and(set(parse_pharaoh_line(f, "eflomal")), set(parse_pharaoh_line(r, "eflomal")))
                for f, r in zip(forward, reverse)]


class SimAlignAligner:
    """SimAlign with multilingual BERT, subword tokens, "mwmf" matching (the paper's setting)."""

    def __init__(self, device: str = "cpu"):
        try:
            from simalign import SentenceAligner
        except ImportError as err:
            raise LangAdaptError("--aligner simalign needs the simalign package: pip install simalign "
                                 "(or use --aligner eflomal, which needs no model download)") from err
        try:
            self.aligner = SentenceAligner(model="bert", token_type="bpe", matching_methods="m", device=device)
        except (OSError, ValueError) as err:
            reason = " ".join(str(err).split())
            raise LangAdaptError(f"--aligner simalign: cannot load {SIMALIGN_MODEL} from the hub ({reason}); "
                                 "use --aligner eflomal offline") from err

    def align(self, src_words: Sequence[list[str]], tgt_words: Sequence[list[str]]) -> list[Pairs]:
        from ..progress import progress_bar

        out = []
        for src, tgt in progress_bar(list(zip(src_words, tgt_words)), desc="SimAlign", leave=False):
            out.append([tuple(p) for p in self.aligner.get_word_aligns(src, tgt).get("mwmf", [])])
        return out


def build_aligner(name: str, device: str = "cpu"):
    if name == "eflomal":
        return EflomalAligner()
    if name == "simalign":
        return SimAlignAligner(device=device)
    raise LangAdaptError(f"--aligner {name}: expected simalign or eflomal")


def write_pharaoh(corpus: AlignedCorpus, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(" ".join(f"{i}-{j}" for i, j in pairs) + "\n" for pairs in corpus.pairs), encoding="utf-8")
    tmp.replace(path)


def align_corpus(src_sentences: Sequence[str], tgt_sentences: Sequence[str], aligner=None,
                 alignments_file: str | None = None) -> AlignedCorpus:
    """Align every sentence pair once and keep the in-range content-word pairs.

    Sentence pairs with an empty side are kept with no pairs, so sentence indices stay those of the split.
    """
    if len(src_sentences) != len(tgt_sentences):
        raise LangAdaptError(f"source and target have {len(src_sentences)} and {len(tgt_sentences)} sentences; "
                             "they must be parallel")
    src_words = [s.split() for s in src_sentences]
    tgt_words = [t.split() for t in tgt_sentences]
    if alignments_file is not None:
        raw = read_pharaoh(alignments_file, len(src_words))
    else:
        keep = [n for n, (s, t) in enumerate(zip(src_words, tgt_words)) if s and t]
        aligned = aligner.align([src_words[n] for n in keep], [tgt_words[n] for n in keep])
        raw = [[] for _ in src_words]
        for n, pairs in zip(keep, aligned):
            raw[n] = pairs
    pairs = [[(i, j) for i, j in sent if i < len(ws) and j < len(wt)
              and is_content_word(ws[i]) and is_content_word(wt[j])]
             for sent, ws, wt in zip(raw, src_words, tgt_words)]
    corpus = AlignedCorpus(src_words, tgt_words, pairs)
    if corpus.num_pairs == 0:
        raise LangAdaptError(f"no aligned content-word pairs in {len(src_words)} sentences read; check the "
                             "languages, the sentences and the alignments")
    logger.info("alignment: %d content-word pairs over %d sentences", corpus.num_pairs, len(src_words))
    return corpus
