"""build_opus_corpus.py end to end on local OPUS files (moses + xml forms) and a local HF dataset."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict, load_from_disk

from folder_digest import folder_digest
from corpus_data.builders import (BAD_RATIO, GOOD, NEEDS_NORMALISING, NORMALISED, TOO_LONG, TOO_SHORT, WRONG_SRC,
                                  WRONG_TGT)
from langadapt.corpus.opus_format import write_opus_moses_zip, write_opus_xml
from langadapt.errors import LangAdaptError
from langadapt.toy_models import save_tiny_sentence_encoder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build_opus_corpus  # noqa: E402


@pytest.fixture()
def sources(tmp_path):
    """Moses corpus A, xml corpus B, and an HF dataset keyed by FLORES tags; each case's fate is known."""
    download = tmp_path / "opus"
    write_opus_moses_zip(download, "CorpA", "en", "sw", [
        GOOD[0], GOOD[1], TOO_SHORT, TOO_LONG, BAD_RATIO, WRONG_TGT, GOOD[0], NEEDS_NORMALISING, GOOD[2]])
    write_opus_xml(download, "CorpB", "en", "sw", [[GOOD[3], WRONG_SRC], [GOOD[1], GOOD[4]]])
    hf_rows = [GOOD[5], GOOD[6], GOOD[4], NORMALISED]
    hf = tmp_path / "hf_parallel"
    DatasetDict({"train": Dataset.from_dict(
        {"translation": [{"eng_Latn": s, "swh_Latn": t} for s, t in hf_rows]})}).save_to_disk(str(hf))
    return {"download": download, "hf": hf, "tmp": tmp_path}


def seed_argv(src, out, work, labse="0", extra=()):
    return ["--src", "eng", "--tgt", "swh", "--hf_out", str(out), "--work_dir", str(work),
            "--corpora", "CorpA", "CorpB", "CCMatrix", "--hf_corpora", str(src["hf"]), "--hf_corpora_split", "train",
            "--max_per_corpus", "500000", "--batch_size", "2048", "--min_len", "3", "--max_len", "256",
            "--len_ratio_low", "0.45", "--len_ratio_high", "2.0", "--labse_threshold", labse,
            "--target_size", "100000", "--opus_download_dir", str(src["download"]), "--log_level", "INFO",
            "--config_name", "eng-swh-100k", *extra]


def saved_pairs(out):
    return [(row["translation"]["eng"], row["translation"]["swh"]) for row in load_from_disk(str(out))["train"]]


def test_seed_command_keeps_exactly_the_pairs_that_pass_every_filter(sources):
    out, work = sources["tmp"] / "out", sources["tmp"] / "work"
    assert build_opus_corpus.main(seed_argv(sources, out, work)) == 0
    expected = {GOOD[0], GOOD[1], GOOD[2], GOOD[3], GOOD[4], GOOD[5], GOOD[6], NORMALISED}
    pairs = saved_pairs(out)
    assert len(pairs) == len(expected) and set(pairs) == expected
    stats = json.loads((out / "stats.json").read_text())
    counts = {c["name"]: c["counts"] for c in stats["corpora"]}
    assert counts["CorpA"] == {"raw": 9, "length": 7, "ratio": 6, "unique": 5, "langid": 4, "dedup": 4, "final": 4}
    assert counts["CorpB"] == {"raw": 4, "length": 4, "ratio": 4, "unique": 4, "langid": 3, "dedup": 2, "final": 2}
    hf_counts = next(c for c in stats["corpora"] if c["kind"] == "hf")["counts"]
    assert hf_counts["langid"] == 4 and hf_counts["dedup"] == 2  # GOOD[4] and NORMALISED came earlier
    assert stats["unavailable"] == ["CCMatrix"]
    features = load_from_disk(str(out))["train"].features["translation"]
    assert features.languages == ["eng", "swh"]


def test_shuffle_is_seeded_and_target_size_caps(sources):
    tmp = sources["tmp"]
    build_opus_corpus.main(seed_argv(sources, tmp / "a", tmp / "w", extra=["--target_size", "5"]))
    build_opus_corpus.main(seed_argv(sources, tmp / "b", tmp / "w2", extra=["--target_size", "5"]))
    build_opus_corpus.main(seed_argv(sources, tmp / "c", tmp / "w", extra=["--target_size", "5", "--seed", "1"]))
    assert saved_pairs(tmp / "a") == saved_pairs(tmp / "b") and len(saved_pairs(tmp / "a")) == 5
    assert saved_pairs(tmp / "a") != saved_pairs(tmp / "c")


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    texts = [s for pair in GOOD + [NORMALISED] for s in pair]
    return Path(save_tiny_sentence_encoder(tmp_path_factory.mktemp("st"), texts))


def _cosines(encoder_dir, pairs):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(encoder_dir), device="cpu")
    a = model.encode([s for s, _ in pairs], normalize_embeddings=True)
    b = model.encode([t for _, t in pairs], normalize_embeddings=True)
    return dict(zip(pairs, (a * b).sum(axis=1).tolist()))


def test_labse_stage_keeps_pairs_at_or_above_the_threshold(sources, encoder_dir):
    tmp = sources["tmp"]
    build_opus_corpus.main(seed_argv(sources, tmp / "all", tmp / "w0"))
    cosines = _cosines(encoder_dir, saved_pairs(tmp / "all"))
    # The threshold sits halfway across the widest gap between neighbouring cosines near the median, so
    # that the float noise of another batching (the build encodes 2 at a time) cannot move a pair across.
    values = sorted(cosines.values())
    middle = len(values) // 2
    near_median = range(max(0, middle - 2), min(len(values) - 1, middle + 2))
    gap, low = max((values[i + 1] - values[i], i) for i in near_median)
    assert gap > 1e-4
    threshold = (values[low] + values[low + 1]) / 2
    argv = seed_argv(sources, tmp / "out", tmp / "w1", labse=f"{threshold}",
                     extra=["--labse_model", str(encoder_dir), "--batch_size", "2"])
    assert build_opus_corpus.main(argv) == 0
    kept = set(saved_pairs(tmp / "out"))
    assert kept == {pair for pair, cos in cosines.items() if cos >= threshold}
    assert 0 < len(kept) < len(cosines)


def test_crash_during_labse_then_rerun_gives_the_same_dataset(sources, encoder_dir, monkeypatch):
    from langadapt.corpus import labse, pipeline

    monkeypatch.setattr(labse, "BATCHES_PER_CHUNK", 1)  # 8 pairs at batch size 1: 8 chunks
    tmp = sources["tmp"]
    argv = seed_argv(sources, tmp / "out", tmp / "work", labse="0.5",
                     extra=["--labse_model", str(encoder_dir), "--batch_size", "1"])
    assert build_opus_corpus.main(seed_argv(sources, tmp / "ref", tmp / "refwork", labse="0.5",
                                            extra=["--labse_model", str(encoder_dir), "--batch_size", "1"])) == 0
    real = labse.SentenceEncoder.similarities
    calls = {"n": 0}

    def crash_on_fourth_chunk(self, src, tgt):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt("simulated kill")
        return real(self, src, tgt)

    monkeypatch.setattr(labse.SentenceEncoder, "similarities", crash_on_fourth_chunk)
    with pytest.raises(KeyboardInterrupt):
        build_opus_corpus.main(argv)
    assert not (tmp / "out").exists()
    assert not list((tmp / "work").rglob("*.part"))

    reads = {"n": 0}
    real_read = pipeline._read_stage

    def counting_read(*args, **kwargs):
        reads["n"] += 1
        return real_read(*args, **kwargs)

    calls["n"] = -1000  # no more crashes; count the chunks the rerun scores
    monkeypatch.setattr(pipeline, "_read_stage", counting_read)
    assert build_opus_corpus.main(argv) == 0
    assert saved_pairs(tmp / "out") == saved_pairs(tmp / "ref")
    assert calls["n"] - (-1000) == 8 - 3  # chunks 0-2 were complete; 3-7 are scored again
    assert reads["n"] == 4 and not list((tmp / "work").rglob("*.parts"))
    assert (tmp / "out" / "stats.json").read_text() == (tmp / "ref" / "stats.json").read_text()


@pytest.mark.parametrize("flags, message", [
    (["--tgt", "xyz"], "--tgt xyz: unknown language code"),
    (["--len_ratio_low", "2.5"], "--len_ratio_low 2.5 must be > 0 and <= --len_ratio_high"),
    (["--labse_threshold", "1.5"], "--labse_threshold 1.5: expected a value in [0, 1]"),
    (["--upload_data", "--config_name", ""], "need --config_name"),
    (["--upload_data"], "need a hub token"),
    (["--hf_corpora", "./no/such/folder"], "--hf_corpora ./no/such/folder: no such file or folder"),
    (["--corpora", "Nope", "--hf_corpora"], "none of the corpora is available"),
])
def test_bad_input_fails_with_a_clear_message_and_no_output(sources, flags, message, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(sources["tmp"] / "hf_home"))  # no stored login either
    out = sources["tmp"] / "out"
    with pytest.raises(LangAdaptError) as raised:
        build_opus_corpus.main([*seed_argv(sources, out, sources["tmp"] / "work"), *flags])
    assert message in str(raised.value)
    assert not out.exists()


def test_bad_input_exits_2_with_one_line_error(sources):
    out = sources["tmp"] / "out"
    result = subprocess.run([sys.executable, str(ROOT / "build_opus_corpus.py"),
                             *seed_argv(sources, out, sources["tmp"] / "work"), "--tgt", "xyz"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: --tgt xyz: unknown language code")
    assert not out.exists()


def test_upload_pushes_the_saved_dataset_under_the_config(sources, monkeypatch):
    pushed = {}

    def fake_push(self, repo, config_name=None, token=None, max_shard_size=None):
        pushed.update(repo=repo, config=config_name, token=token, rows=len(self["train"]), shard=max_shard_size)

    monkeypatch.setattr(DatasetDict, "push_to_hub", fake_push)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    tmp = sources["tmp"]
    argv = seed_argv(sources, tmp / "out", tmp / "work", extra=["--upload_data", "--hub_repo", "me/parallel"])
    assert build_opus_corpus.main(argv) == 0
    assert pushed == {"repo": "me/parallel", "config": "eng-swh-100k", "token": "hf_test_token", "rows": 8,
                      "shard": "1GB"}


@pytest.mark.slow
def test_killed_process_then_rerun_equals_an_uninterrupted_build(sources, encoder_dir):
    tmp = sources["tmp"]
    pairs = [(f"{s} Number {i} is here.", f"{t} Namba {i} iko hapa.") for i in range(300) for s, t in GOOD[:1]]
    write_opus_moses_zip(sources["download"], "Big", "en", "sw", pairs)
    common = ["--corpora", "Big", "--hf_corpora", "--labse_model", str(encoder_dir), "--batch_size", "4",
              "--labse_threshold", "0.5", "--no-langid"]
    script = [sys.executable, str(ROOT / "build_opus_corpus.py")]
    ref = subprocess.run([*script, *seed_argv(sources, tmp / "ref", tmp / "refwork"), *common],
                         capture_output=True, text=True, cwd=ROOT)
    assert ref.returncode == 0, ref.stderr[-2000:]
    proc = subprocess.Popen([*script, *seed_argv(sources, tmp / "out", tmp / "work"), *common],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    parts = tmp / "work" / "labse" / "kept.jsonl.gz.parts"
    deadline = time.time() + 120
    while time.time() < deadline and not list(parts.glob("*.done.json")):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert not (tmp / "out").exists(), "the build finished before it could be killed"
    rerun = subprocess.run([*script, *seed_argv(sources, tmp / "out", tmp / "work"), *common],
                           capture_output=True, text=True, cwd=ROOT)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert saved_pairs(tmp / "out") == saved_pairs(tmp / "ref")


def test_a_non_empty_hf_out_that_is_not_a_build_is_refused_before_any_work(sources):
    out, work = sources["tmp"] / "out", sources["tmp"] / "work"
    (out / "model").mkdir(parents=True)
    (out / "notes.txt").write_text("my notes")
    (out / "model" / "config.json").write_text("{}")
    before = folder_digest(out)
    with pytest.raises(LangAdaptError, match=r"--hf_out .*out: not empty and not a build of this script \(it "
                                             r"holds model, notes.txt\)"):
        build_opus_corpus.main(seed_argv(sources, out, work))
    assert folder_digest(out) == before and not work.exists()


def test_a_previous_build_is_replaced_but_not_one_of_another_language_pair(sources):
    out, work = sources["tmp"] / "out", sources["tmp"] / "work"
    assert build_opus_corpus.main(seed_argv(sources, out, work, extra=["--target_size", "3"])) == 0
    assert build_opus_corpus.main(seed_argv(sources, out, work)) == 0
    assert len(saved_pairs(out)) == 8
    stats = json.loads((out / "stats.json").read_text())
    (out / "stats.json").write_text(json.dumps({**stats, "tgt": "hin"}))
    with pytest.raises(LangAdaptError, match="holds the eng-hin build, not eng-swh"):
        build_opus_corpus.main(seed_argv(sources, out, work))


def test_staging_folders_left_by_a_killed_save_are_removed_by_the_next_run(sources):
    out, work = sources["tmp"] / "out", sources["tmp"] / "work"
    stale = [sources["tmp"] / ".out.incomplete-0badf00d", sources["tmp"] / ".out.old-1badf00d"]
    for folder in stale:
        (folder / "train").mkdir(parents=True)
        (folder / "dataset_dict.json").write_text('{"splits": ["train"]}')
    unrelated = sources["tmp"] / ".out.notes"
    unrelated.mkdir()
    assert build_opus_corpus.main(seed_argv(sources, out, work)) == 0
    assert not any(folder.exists() for folder in stale)
    assert unrelated.is_dir() and len(saved_pairs(out)) == 8
