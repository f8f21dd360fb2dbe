"""dicts/fetch_muse.py against a local "server" (file:// URLs): atomic download, checksums, bad pages."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "dicts"))
import fetch_muse  # noqa: E402

from langadapt.errors import LangAdaptError  # noqa: E402


@pytest.fixture()
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "en-hi.txt").write_text("house\tघर\nwater पानी\n", encoding="utf-8")
    (served / "en-el.txt").write_text("<html><body>Not Found</body></html>\n", encoding="utf-8")
    return served.as_uri() + "/{pair}.txt"


def test_download_records_and_verifies_checksum(tmp_path, server):
    target = tmp_path / "dicts"
    assert fetch_muse.main(["en-hi", "--dir", str(target), "--url", server]) == 0
    sums = fetch_muse.read_sums(target)
    assert sums == {"en-hi.txt": fetch_muse.sha256_of(target / "en-hi.txt")}
    assert fetch_muse.main(["en-hi", "--dir", str(target), "--verify"]) == 0
    (target / "en-hi.txt").write_text("house\tमकान\n", encoding="utf-8")
    with pytest.raises(LangAdaptError, match="SHA-256 differs"):
        fetch_muse.main(["en-hi", "--dir", str(target), "--verify"])


def test_error_page_is_refused_and_nothing_left(tmp_path, server):
    target = tmp_path / "dicts"
    with pytest.raises(LangAdaptError, match="did not return a MUSE dictionary"):
        fetch_muse.main(["en-el", "--dir", str(target), "--url", server])
    assert list(target.iterdir()) == []


def test_unreachable_source_says_what_to_do(tmp_path):
    with pytest.raises(LangAdaptError, match="copy en-th.txt into"):
        fetch_muse.main(["en-th", "--dir", str(tmp_path), "--url", (tmp_path / "none").as_uri() + "/{pair}.txt"])


def test_cli_exits_2_on_a_bad_pair(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "dicts" / "fetch_muse.py"), "english-hindi", "--dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: pair")


def test_verify_fails_on_a_file_without_a_recorded_checksum(tmp_path):
    (tmp_path / "en-hi.txt").write_text("house\tघर\n", encoding="utf-8")
    fetch_muse.write_sums(tmp_path, {})
    with pytest.raises(LangAdaptError, match="no checksum recorded"):
        fetch_muse.main(["en-hi", "--dir", str(tmp_path), "--verify"])
