"""Corpus sources as users have them: script datasets, config-folder exports, damaged and half-downloaded
OPUS files, and the original's --max_per_corpus / Moses-rule behaviour."""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest
from datasets import load_from_disk
from sacremoses import MosesPunctNormalizer

from corpus_data.builders import GOOD
from langadapt.corpus.hf_reader import HFSource
from langadapt.corpus.opus_format import moses_zip_name, write_opus_moses_zip
from langadapt.corpus.opus_reader import CorpusFileError, OpusSource
from langadapt.data import ScriptDatasetError, load_any_dataset

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import build_opus_corpus  # noqa: E402

SCRIPT_REFUSAL = "Dataset scripts are no longer supported, but found nllb.py"


def build_argv(tmp_path, *extra, corpora=("Good",)):
    return ["--src", "eng", "--tgt", "swh", "--hf_out", str(tmp_path / "out"), "--work_dir", str(tmp_path / "work"),
            "--corpora", *corpora, "--opus_download_dir", str(tmp_path / "opus"), "--min_len", "3",
            "--len_ratio_low", "0.45", "--len_ratio_high", "2.0", "--labse_threshold", "0", "--log_level", "WARNING",
            *extra]


def saved(tmp_path):
    return [(r["translation"]["eng"], r["translation"]["swh"]) for r in load_from_disk(str(tmp_path / "out"))["train"]]


@pytest.fixture()
def refuse_hub_scripts(monkeypatch):
    """datasets 5 on a hub script dataset (simulated: the tests are offline)."""
    import datasets

    real = datasets.load_dataset

    def load(path, *args, **kwargs):
        if str(path).startswith("allenai/"):
            raise RuntimeError(SCRIPT_REFUSAL)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(datasets, "load_dataset", load)


def test_script_dataset_is_a_clear_error(refuse_hub_scripts, tmp_path):
    with pytest.raises(ScriptDatasetError, match="allenai/nllb is a script dataset .* use a local copy"):
        load_any_dataset("allenai/nllb", "eng_Latn-swh_Latn")
    clone = tmp_path / "nllb"
    clone.mkdir()
    (clone / "nllb.py").write_text("import datasets\n")
    with pytest.raises(ScriptDatasetError, match="nllb is a script dataset"):
        load_any_dataset(str(clone))


def test_build_goes_on_without_the_script_datasets(refuse_hub_scripts, tmp_path):
    write_opus_moses_zip(tmp_path / "opus", "Good", "en", "sw", GOOD[:4])
    argv = build_argv(tmp_path, "--hf_corpora", "allenai/nllb", "allenai/wmt22_african")
    assert build_opus_corpus.main(argv) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["unavailable"] == ["hf__allenai_nllb", "hf__allenai_wmt22_african"]
    reason = next(c for c in stats["corpora"] if c["name"] == "hf__allenai_nllb")["unavailable"]
    assert "script dataset" in reason and "eng_Latn-swh_Latn/train.parquet" in reason
    assert sorted(saved(tmp_path)) == sorted(GOOD[:4])


def test_local_parquet_export_by_config_goes_through_the_config_names(tmp_path):
    import pandas as pd

    for pair, text in (("eng_Latn-swh_Latn", GOOD[0][1]), ("eng_Latn-hau_Latn", "Gida ce babba.")):
        (tmp_path / "nllb" / pair).mkdir(parents=True)
        tgt = pair.split("-")[1]
        pd.DataFrame({"translation": [{"eng_Latn": GOOD[0][0], tgt: text}]}).to_parquet(
            tmp_path / "nllb" / pair / "train.parquet")
    assert list(HFSource(str(tmp_path / "nllb"), "eng", "swh").pairs()) == [GOOD[0]]


def _truncated_zip(folder: Path) -> Path:
    path = write_opus_moses_zip(folder, "Broken", "en", "sw", GOOD * 20)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _non_utf8_zip(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / moses_zip_name("Broken", "en", "sw")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Broken.en-sw.en", "".join(s + "\n" for s, _ in GOOD).encode())
        archive.writestr("Broken.en-sw.sw", b"Watoto wanacheza \xff\xfe bustanini.\n" * len(GOOD))
    return path


@pytest.mark.parametrize("damage, message", [(_truncated_zip, "is truncated or corrupt"),
                                             (_non_utf8_zip, "is not valid UTF-8")])
def test_damaged_opus_file_is_an_error_naming_file_and_corpus(tmp_path, damage, message):
    path = damage(tmp_path / "opus")
    write_opus_moses_zip(tmp_path / "opus", "Good", "en", "sw", GOOD[:4])
    with pytest.raises(CorpusFileError, match=f"--corpora Broken: {path} {message}.*--skip_bad_corpora"):
        build_opus_corpus.main(build_argv(tmp_path, corpora=("Good", "Broken")))
    assert not (tmp_path / "out").exists()
    assert not list((tmp_path / "work" / "corpora").glob("Broken.raw*"))
    assert build_opus_corpus.main(build_argv(tmp_path, "--skip_bad_corpora", corpora=("Good", "Broken"))) == 0
    assert sorted(saved(tmp_path)) == sorted(GOOD[:4])


def test_a_killed_download_leaves_nothing_a_rerun_trusts(tmp_path, monkeypatch):
    import opustools

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    download = tmp_path / "opus"

    class KilledGet:
        def __init__(self, download_dir, **kwargs):
            self.folder = Path(download_dir)

        def get_files(self):
            (self.folder / moses_zip_name("Net", "en", "sw")).write_bytes(b"PK\x03\x04 half a zip")
            raise KeyboardInterrupt

    class CompleteGet(KilledGet):
        def get_files(self):
            write_opus_moses_zip(self.folder, "Net", "en", "sw", GOOD[:2])

    monkeypatch.setattr(opustools, "OpusGet", KilledGet)
    with pytest.raises(KeyboardInterrupt):
        list(OpusSource("Net", "en", "sw", str(download)).pairs())
    assert list(download.iterdir()) == []
    monkeypatch.setattr(opustools, "OpusGet", CompleteGet)
    assert list(OpusSource("Net", "en", "sw", str(download)).pairs()) == GOOD[:2]
    assert [p.name for p in download.iterdir()] == [moses_zip_name("Net", "en", "sw")]


QUOTED = ("He said \"yes\", and then he walked home slowly.", "Alisema \"ndiyo\", kisha akarudi nyumbani polepole.")


@pytest.mark.parametrize("flags, rules", [((), "en"), (("--moses_rules", "per_language"), "sw")])
def test_target_side_moses_rules(tmp_path, flags, rules):
    write_opus_moses_zip(tmp_path / "opus", "Good", "en", "sw", [QUOTED])
    assert build_opus_corpus.main(build_argv(tmp_path, "--no-langid", *flags)) == 0
    en, sw = MosesPunctNormalizer(lang="en"), MosesPunctNormalizer(lang=rules)
    assert saved(tmp_path) == [(en.normalize(QUOTED[0]), sw.normalize(QUOTED[1]))]
    assert (rules == "en") == (saved(tmp_path)[0][1] == 'Alisema "ndiyo," kisha akarudi nyumbani polepole.')


@pytest.mark.parametrize("flags, kept", [((), 6), (("--cap_every_corpus",), 2)])
def test_max_per_corpus_reads_moses_and_hf_corpora_whole_unless_asked(tmp_path, flags, kept):
    from datasets import Dataset, DatasetDict

    write_opus_moses_zip(tmp_path / "opus", "Good", "en", "sw", GOOD[:3])
    hf = tmp_path / "hf"
    DatasetDict({"train": Dataset.from_dict({"translation": [{"eng": s, "swh": t} for s, t in GOOD[3:6]]})}
                ).save_to_disk(str(hf))
    argv = build_argv(tmp_path, "--hf_corpora", str(hf), "--max_per_corpus", "1", *flags)
    assert build_opus_corpus.main(argv) == 0
    assert len(saved(tmp_path)) == kept
