"""Corpus building pieces: normalisation fast path, filters, dedup, bounded parallel map, readers, shuffle."""
from __future__ import annotations

import os
import random
from collections import Counter

import pytest
from datasets import Dataset
from sacremoses import MosesPunctNormalizer

from corpus_data.builders import BAD_RATIO, GOOD, NEEDS_NORMALISING, NORMALISED, TOO_SHORT, WRONG_SRC, WRONG_TGT
from langadapt.corpus import writer
from langadapt.corpus.dedup import SeenPairs
from langadapt.corpus.filters import FilterSettings, filter_pairs, length_ratio_ok
from langadapt.corpus.hf_reader import HFSource, candidate_configs, translation_keys
from langadapt.corpus.language_id import LanguageIdentifier
from langadapt.corpus.normalize import PunctNormalizer
from langadapt.corpus.opus_format import write_opus_moses_zip, write_opus_xml
from langadapt.corpus.opus_reader import CorpusUnavailable, OpusSource
from langadapt.corpus.parallel import ordered_map, worker_count
from langadapt.errors import LangAdaptError


@pytest.mark.parametrize("lang", ["en", "de"])
def test_fast_normaliser_equals_sacremoses_on_random_punctuation(lang):
    alphabet = list("ab d  ()%:;`'\"„“”–—´‘’‚…«»\u00a0,.!?19\r\t<ºnmC")
    rng = random.Random(lang)
    fast, moses = PunctNormalizer(lang), MosesPunctNormalizer(lang=lang)
    for _ in range(4_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert fast(text) == moses.normalize(text), repr(text)


def test_length_ratio_accepts_either_direction_within_bounds():
    assert length_ratio_ok(10, 5, 0.45, 2.0) and length_ratio_ok(5, 10, 0.45, 2.0)
    assert length_ratio_ok(11, 5, 0.45, 2.0)  # 2.2 is too high, but 5/11 = 0.45 is in
    assert not length_ratio_ok(12, 5, 0.45, 2.0) and not length_ratio_ok(4, 11, 0.45, 2.0)
    assert length_ratio_ok(10, 5, 2.0, 2.0) and not length_ratio_ok(0, 5, 0.1, 10)


def test_dedup_separates_the_sides():
    seen = SeenPairs()
    assert seen.first_time("a b", "c") and seen.first_time("a", "b c") and not seen.first_time("a b", "c")


SETTINGS = FilterSettings("en", "sw", min_len=3, max_len=256, len_ratio_low=0.45, len_ratio_high=2.0)
CASES = [GOOD[0], TOO_SHORT, BAD_RATIO, WRONG_TGT, WRONG_SRC, NEEDS_NORMALISING, NORMALISED, GOOD[0], GOOD[1]]


@pytest.mark.parametrize("num_proc", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_filters_drop_each_bad_case_at_its_stage(num_proc):
    counts = {}
    kept = list(filter_pairs(iter(CASES), SETTINGS, counts, num_proc=num_proc))
    assert [tuple(p) for p in kept] == [GOOD[0], NORMALISED, GOOD[1]]
    assert counts == {"raw": 9, "length": 8, "ratio": 7, "unique": 5, "langid": 3}


def test_without_langid_wrong_languages_pass():
    counts = {}
    kept = list(filter_pairs(iter(CASES), FilterSettings(**{**SETTINGS.as_dict(), "langid": False}), counts))
    assert [tuple(p) for p in kept] == [GOOD[0], WRONG_TGT, WRONG_SRC, NORMALISED, GOOD[1]]


def test_language_id_labels_as_py3langid_classify():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier as Py3LangId

    reference = Py3LangId.from_pickled_model(MODEL_FILE)
    rng = random.Random(0)
    words = " ".join(side for pair in CASES for side in pair).split() + ["żółw", "ąę", "日本語", "123", "\u00a0"]
    texts = [side for pair in CASES for side in pair] + ["", " ", "x"]
    texts += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(300)]
    ours = LanguageIdentifier()
    assert [ours.label(text) for text in texts] == [reference.classify(text)[0] for text in texts]


def test_worker_count_is_the_free_cores_unless_given(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert worker_count(0) == 2 and worker_count(3) == 3  # the affinity caps, an explicit count wins
    monkeypatch.setattr(os, "getloadavg", lambda: (7.4, 0.0, 0.0))
    assert worker_count(0) == 1

def test_ordered_map_keeps_order_and_reads_ahead_only_a_few_chunks():
    read = []

    def items():
        for i in range(200):
            read.append(i)
            yield -i

    results = ordered_map(abs, items(), num_proc=2)
    assert next(results) == 0
    assert len(read) <= 2 * 2
    assert list(results) == list(range(1, 200))


def test_opus_reader_reads_moses_and_xml_in_either_direction(tmp_path):
    write_opus_moses_zip(tmp_path, "M", "sw", "en", [(t, s) for s, t in GOOD[:3]])
    write_opus_xml(tmp_path, "X", "en", "sw", [GOOD[:2], GOOD[2:4]])
    assert list(OpusSource("M", "en", "sw", str(tmp_path)).pairs()) == GOOD[:3]
    assert list(OpusSource("M", "sw", "en", str(tmp_path)).pairs()) == [(t, s) for s, t in GOOD[:3]]
    assert list(OpusSource("X", "en", "sw", str(tmp_path)).pairs()) == GOOD[:4]


def test_max_per_corpus_caps_what_the_original_caps(tmp_path):
    """OpusRead applies `maximum` to xml/raw alignments only: the original reads moses files whole."""
    write_opus_moses_zip(tmp_path, "M", "en", "sw", GOOD[:3])
    write_opus_xml(tmp_path, "X", "en", "sw", [GOOD[:2], GOOD[2:4]])
    assert list(OpusSource("M", "en", "sw", str(tmp_path)).pairs(maximum=2)) == GOOD[:3]
    assert list(OpusSource("M", "en", "sw", str(tmp_path), cap_moses=True).pairs(maximum=2)) == GOOD[:2]
    assert list(OpusSource("X", "en", "sw", str(tmp_path)).pairs(maximum=3)) == GOOD[:3]
    assert OpusSource("X", "en", "sw", str(tmp_path), preprocess="moses").local_form() == "xml"


def test_missing_opus_corpus_offline_is_unavailable_without_network(tmp_path, monkeypatch):
    import opustools

    monkeypatch.setattr(opustools, "OpusGet", lambda **kw: pytest.fail("tried to download"))
    with pytest.raises(CorpusUnavailable, match="downloads are off"):
        list(OpusSource("Nope", "en", "sw", str(tmp_path)).pairs())


def test_hf_configs_and_keys_follow_the_reference_order():
    assert candidate_configs("eng", "swh") == ["eng_Latn-swh_Latn", "eng-swh", "eng_Latn-swh", "eng-swh_Latn",
                                               "en-sw", "en_Latn-sw_Latn", None]
    assert translation_keys("swh")[:3] == ["swh", "swh_Latn", "sw"]


@pytest.mark.parametrize("keys", [("eng", "swh"), ("eng_Latn", "swh_Latn"), ("en", "sw")])
def test_hf_reader_finds_each_key_spelling(tmp_path, keys):
    path = tmp_path / "pairs.jsonl"
    Dataset.from_dict({"translation": [{keys[0]: s, keys[1]: t} for s, t in GOOD[:3]]}).to_json(str(path))
    assert list(HFSource(str(path), "eng", "swh").pairs(maximum=2)) == GOOD[:2]


def test_local_hf_dataset_without_the_pair_is_an_error_naming_the_flag(tmp_path):
    """The user named it: a build that skipped it would save fewer pairs without a word."""
    path = tmp_path / "pairs.jsonl"
    Dataset.from_dict({"translation": [{"eng": s, "fra": t} for s, t in GOOD[:2]]}).to_json(str(path))
    with pytest.raises(LangAdaptError, match=rf"^--hf_corpora {path}: no `translation` holds both"):
        list(HFSource(str(path), "eng", "swh").pairs())


@pytest.mark.parametrize("target_size", [0, 23, 500])
def test_batched_shuffle_equals_datasets_shuffle_and_counts_corpora(tmp_path, monkeypatch, target_size):
    monkeypatch.setattr(writer, "WRITE_BATCH", 7)  # several record batches in, several gathers out
    rows = [[f"src {i}", f"tgt {i}", i % 3] for i in range(50)]
    arrow = tmp_path / "pairs.arrow"
    writer.write_arrow(rows, arrow, "eng", "swh")
    train, per_corpus = writer.shuffled_and_capped(arrow, tmp_path / "shuffled.arrow", target_size, seed=5)
    expected = Dataset.from_file(str(arrow)).shuffle(seed=5)
    expected = expected.select(range(min(target_size or 50, 50)))
    assert train["translation"] == expected["translation"]
    assert train.column_names == ["translation"]
    assert per_corpus == Counter(expected["corpus"])
