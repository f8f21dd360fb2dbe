#!/usr/bin/env python
"""Download MUSE bilingual dictionaries (facebookresearch/MUSE) into dicts/, e.g. `en-hi hi-en`.

Each file is downloaded to a temporary name, checked to parse as a MUSE lexicon (an HTML error page or a
truncated transfer does not), and renamed into place; its SHA-256 goes into `dicts/SHA256SUMS`. A pair
already listed there is verified against the recorded sum instead of being trusted silently, so a
corrupted or swapped file is reported; `--verify` only checks, and fails on a file with no recorded sum;
`--force` downloads again. MUSE publishes no checksums, so a sum is recorded at the first download.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from langadapt.cli import run_cli, setup_logging  # noqa: E402
from langadapt.commit.codemix import load_muse_dictionary  # noqa: E402
from langadapt.errors import LangAdaptError  # noqa: E402

MUSE_URL = "https://dl.fbaipublicfiles.com/arrival/dictionaries/{pair}.txt"
SUMS_FILE = "SHA256SUMS"
# The dictionaries of COMMIT's experiments (instruction tuning en-xx, alignment xx-en).
COMMIT_PAIRS = ("en-hi", "hi-en", "en-el", "el-en", "en-th", "th-en")
SUMS_HEADER = ("# SHA-256 of MUSE dictionaries, `sha256  file`, as fetch_muse.py recorded them at download.\n"
               "# facebookresearch/MUSE publishes no checksums, so none could be recorded in advance for\n"
               f"# {' '.join(COMMIT_PAIRS)}: the first download records each; --verify fails on a file without one.\n")
logger = logging.getLogger("fetch_muse")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(folder: Path) -> dict[str, str]:
    path = folder / SUMS_FILE
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[name.strip()] = digest
    return sums


def write_sums(folder: Path, sums: dict[str, str]) -> None:
    tmp = folder / (SUMS_FILE + ".tmp")
    tmp.write_text(SUMS_HEADER + "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))
    os.replace(tmp, folder / SUMS_FILE)


def download(pair: str, folder: Path, url_template: str, timeout: float) -> Path:
    url = url_template.format(pair=pair)
    final, tmp = folder / f"{pair}.txt", folder / f".{pair}.txt.part"
    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, OSError) as err:
        tmp.unlink(missing_ok=True)
        raise LangAdaptError(f"cannot download {url}: {err}; check the network, or copy {pair}.txt into "
                             f"{folder} by hand") from err
    try:
        if tmp.read_bytes()[:512].lstrip().startswith(b"<"):
            raise LangAdaptError("got an HTML/XML page")
        load_muse_dictionary(tmp)
    except LangAdaptError as err:
        tmp.unlink(missing_ok=True)
        raise LangAdaptError(f"{url} did not return a MUSE dictionary (is {pair} a MUSE pair?): {err}") from err
    os.replace(tmp, final)
    return final


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pairs", nargs="*", default=list(COMMIT_PAIRS),
                        help=f"language pairs (default: COMMIT's, {' '.join(COMMIT_PAIRS)})")
    parser.add_argument("--dir", default=str(Path(__file__).resolve().parent), help="target folder")
    parser.add_argument("--url", default=MUSE_URL, help="URL template with {pair}")
    parser.add_argument("--force", action="store_true", help="download again even if present")
    parser.add_argument("--verify", action="store_true", help="only check present files against SHA256SUMS")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    setup_logging("INFO")
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    sums = read_sums(folder)
    for pair in args.pairs:
        if not re.fullmatch(r"[a-z]{2,3}-[a-z]{2,3}", pair):
            raise LangAdaptError(f"pair {pair!r}: expected SRC-TGT language codes such as en-hi")
        name, path = f"{pair}.txt", folder / f"{pair}.txt"
        if path.is_file() and not args.force:
            if name in sums and sha256_of(path) != sums[name]:
                raise LangAdaptError(f"{path}: SHA-256 differs from {SUMS_FILE}; the file changed or is "
                                     f"corrupted, fetch it again with --force")
            if name not in sums and args.verify:
                raise LangAdaptError(f"{path}: no checksum recorded in {folder / SUMS_FILE}, so it cannot be "
                                     f"verified; fetch it again with --force to record one")
            logger.info("%s present%s", path, " and verified" if name in sums else " (no recorded checksum)")
            continue
        if args.verify:
            raise LangAdaptError(f"{path} is missing")
        download(pair, folder, args.url, args.timeout)
        sums[name] = sha256_of(path)
        write_sums(folder, sums)
        logger.info("saved %s (sha256 %s)", path, sums[name])
    return 0


if __name__ == "__main__":
    run_cli(main)
