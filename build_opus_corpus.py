#!/usr/bin/env python
"""Build a filtered English-target parallel corpus from OPUS corpora and HF datasets.

Reads each corpus (local OPUS download folder first, downloading only what is missing), normalises and
filters every pair (word counts, length ratio, language id), removes exact duplicates across corpora,
keeps pairs whose LaBSE similarity reaches the threshold, then shuffles, caps and saves
DatasetDict({"train"}) with a `translation` column to --hf_out (optionally pushing it to the hub).
Every stage is resumable: rerun the same command after a crash.
"""
from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path
from typing import Optional, Sequence

from langadapt.cli import make_parser, run_cli, setup_logging
from langadapt.corpus.labse import DEFAULT_MODEL, SENTENCE_TRANSFORMERS_FILES
from langadapt.corpus.upload import check_upload_possible, push_dataset
from langadapt.data import holds_data, parse_split
from langadapt.errors import LangAdaptError
from langadapt.languages import get_language
from langadapt.local_paths import is_path_like
from langadapt.preflight import check_model_source, check_path_or_hub_id
from langadapt.run_folder import check_separate, set_hint

logger = logging.getLogger("build_opus_corpus")
DEFAULT_CORPORA = ["JW300", "WikiMatrix", "TED2020", "GlobalVoices", "QED", "CCAligned"]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = make_parser(__doc__)
    p.add_argument("--src", default="eng", help="source language (ISO 639-3, e.g. eng; other codes are mapped)")
    p.add_argument("--tgt", default="ind", help="target language (ISO 639-3, e.g. swh)")
    p.add_argument("--hf_out", help="folder for the output DatasetDict (save_to_disk); required unless "
                                    "--upload_from_disk")
    p.add_argument("--work_dir", help="folder for the resumable intermediate files; required unless "
                                      "--upload_from_disk")
    p.add_argument("--corpora", nargs="*", default=DEFAULT_CORPORA, help="OPUS corpus names")
    p.add_argument("--hf_corpora", nargs="*", default=[],
                   help="HF parallel datasets (hub ids or local paths) with a `translation` column")
    p.add_argument("--hf_corpora_split", default="train", help="split to read from --hf_corpora")
    p.add_argument("--hf_timeout_sec", type=int, default=3600, help="total timeout of one hub download")
    p.add_argument("--max_per_corpus", type=int, default=0,
                   help="read at most this many alignments of an OPUS corpus in the xml/raw form (0: all); as in "
                        "the original, moses-form OPUS files and --hf_corpora are read whole (see --cap_every_corpus)")
    p.add_argument("--cap_every_corpus", action=argparse.BooleanOptionalAction, default=False,
                   help="apply --max_per_corpus to moses-form OPUS corpora and --hf_corpora too")
    p.add_argument("--min_len", type=int, default=4, help="fewest whitespace words per side")
    p.add_argument("--max_len", type=int, default=64, help="most whitespace words per side")
    p.add_argument("--len_ratio_low", type=float, default=0.67,
                   help="keep a pair when src/tgt word ratio (or its inverse) is in [low, high]")
    p.add_argument("--len_ratio_high", type=float, default=1.5, help="see --len_ratio_low")
    p.add_argument("--langid", action=argparse.BooleanOptionalAction, default=True, help="the language-identification filter (--no-langid skips it)")
    p.add_argument("--moses_rules", default="english", choices=["english", "per_language"],
                   help="Moses punctuation rules: English on both sides (the original), or each side with its "
                        "own language's rules")
    p.add_argument("--labse_threshold", type=float, default=0.82,
                   help="keep pairs whose LaBSE cosine similarity is >= this, in [0, 1]; 0 skips LaBSE")
    p.add_argument("--labse_model", default=DEFAULT_MODEL,
                   help="sentence-transformers model id or local folder used for the similarity")
    p.add_argument("--batch_size", type=int, default=512, help="LaBSE encoding batch size")
    p.add_argument("--target_size", type=int, default=2_000_000,
                   help="keep at most this many pairs after shuffling (0: all)")
    p.add_argument("--seed", "--shuffle_seed", dest="seed", type=int, default=13, help="shuffle seed")
    p.add_argument("--num_proc", type=int, default=0,
                   help="worker processes for language identification (0: one per free core this process may use, "
                        "none when fewer than two are free)")
    p.add_argument("--opus_download_dir", default="opus_cache",
                   help="opustools download folder: corpora found there are read locally, missing ones "
                        "downloaded into it (not when HF_HUB_OFFLINE=1)")
    p.add_argument("--opus_root", default="", help="optional local OPUS mirror root (opustools root_directory)")
    p.add_argument("--preprocess", default="moses", choices=["moses", "raw", "xml"],
                   help="OPUS form to download; any form already in --opus_download_dir is used")
    p.add_argument("--skip_bad_corpora", action=argparse.BooleanOptionalAction, default=False,
                   help="skip an OPUS corpus whose local file is truncated, corrupt or not UTF-8, with a warning (as "
                        "the original does), instead of stopping with an error that names the file")
    p.add_argument("--cleanup_work_dir_on_success", action=argparse.BooleanOptionalAction, default=False, help="delete --work_dir after success")
    p.add_argument("--log_level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    p.add_argument("--log_file", default="", help="also write the log to this file")
    p.add_argument("--upload_data", action=argparse.BooleanOptionalAction, default=False, help="push the dataset to --hub_repo as --config_name")
    p.add_argument("--hub_repo", default=None,
                   help="hub dataset repo to push to (None: <your user>/backpack-parallel)")
    p.add_argument("--config_name", default="", help="hub config name for the upload, e.g. eng-swh-100k")
    p.add_argument("--push_max_shard_size", default="1GB", help="shard size for push_to_hub")
    p.add_argument("--upload_from_disk", default="",
                   help="push this previously saved dataset folder as --config_name and exit (no build)")
    return p.parse_args(argv)


def validate(args: argparse.Namespace) -> None:
    """Every check that can fail before any work is done (so nothing is half-written)."""
    for flag in ("src", "tgt"):
        get_language(getattr(args, flag), f"--{flag}")
    if not args.hf_out or not args.work_dir:
        raise LangAdaptError("--hf_out and --work_dir are required (unless --upload_from_disk)")
    if not args.corpora and not args.hf_corpora:
        raise LangAdaptError("nothing to read: give --corpora and/or --hf_corpora")
    if args.min_len < 0 or args.max_len < args.min_len:
        raise LangAdaptError(f"--min_len {args.min_len} / --max_len {args.max_len}: expected 0 <= min <= max")
    if not 0 < args.len_ratio_low <= args.len_ratio_high:
        raise LangAdaptError(f"--len_ratio_low {args.len_ratio_low} must be > 0 and <= --len_ratio_high "
                             f"{args.len_ratio_high}")
    if not 0.0 <= args.labse_threshold <= 1.0:
        raise LangAdaptError(f"--labse_threshold {args.labse_threshold}: expected a value in [0, 1]")
    if args.batch_size < 1:
        raise LangAdaptError("--batch_size must be at least 1")
    for flag in ("max_per_corpus", "target_size"):
        if getattr(args, flag) < 0:
            raise LangAdaptError(f"--{flag} must be >= 0 (0 means no limit)")
    if args.num_proc < 0:
        raise LangAdaptError("--num_proc must be >= 0 (0: one per free core)")
    # written folders never nest (a clean-up or the final rename would delete the other); inputs stay outside
    check_separate({"--hf_out": args.hf_out, "--work_dir": args.work_dir,
                    "--opus_download_dir": args.opus_download_dir},
                   {"--hf_corpora": args.hf_corpora, "--opus_root": args.opus_root, "--labse_model": args.labse_model})
    for dataset in args.hf_corpora:  # a hub id that cannot be fetched is skipped as unavailable, as OPUS corpora
        if is_path_like(dataset):  # a local one that holds nothing is refused now, not after the OPUS corpora
            check_path_or_hub_id("--hf_corpora", dataset, kind=None)
            if Path(dataset).expanduser().is_dir() and not holds_data(Path(dataset).expanduser()):
                raise LangAdaptError(f"--hf_corpora {dataset}: the folder holds no saved dataset and no data files; "
                                     f"pass a save_to_disk folder or a folder of parquet/json/jsonl/csv files")
    if args.hf_corpora:
        parse_split(args.hf_corpora_split, "--hf_corpora_split")
    if args.labse_threshold > 0:  # the model loads after reading, filtering and dedup: check it can before them
        check_model_source("--labse_model", args.labse_model, files=SENTENCE_TRANSFORMERS_FILES)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level, args.log_file or None)
    if args.upload_from_disk:
        target = check_upload_possible(args.hub_repo, args.config_name)
        push_dataset(Path(args.upload_from_disk), target, args.push_max_shard_size)
        return 0
    validate(args)
    set_hint("rerun the same command to resume: finished stages are kept in --work_dir")
    target = check_upload_possible(args.hub_repo, args.config_name) if args.upload_data else None
    from langadapt.corpus.pipeline import CorpusBuildConfig, build_corpus  # sacremoses, numpy: after the flags

    config = CorpusBuildConfig(
        src=args.src, tgt=args.tgt, hf_out=Path(args.hf_out), work_dir=Path(args.work_dir),
        corpora=list(args.corpora), hf_corpora=list(args.hf_corpora), hf_corpora_split=args.hf_corpora_split,
        max_per_corpus=args.max_per_corpus, min_len=args.min_len, max_len=args.max_len,
        len_ratio_low=args.len_ratio_low, len_ratio_high=args.len_ratio_high, langid=args.langid,
        labse_threshold=args.labse_threshold, labse_model=args.labse_model, batch_size=args.batch_size,
        target_size=args.target_size, seed=args.seed, opus_download_dir=args.opus_download_dir,
        opus_root=args.opus_root or None, preprocess=args.preprocess, hf_timeout_sec=args.hf_timeout_sec,
        num_proc=args.num_proc, cap_every_corpus=args.cap_every_corpus, moses_rules=args.moses_rules,
        skip_bad_corpora=args.skip_bad_corpora)
    summary = build_corpus(config)
    logger.info("saved %d pairs to %s (load_from_disk)", summary["totals"]["final"], args.hf_out)
    if target is not None:
        push_dataset(Path(args.hf_out), target, args.push_max_shard_size)
    if args.cleanup_work_dir_on_success:
        shutil.rmtree(args.work_dir, ignore_errors=True)
        logger.info("removed --work_dir %s", args.work_dir)
    return 0


if __name__ == "__main__":
    run_cli(main)
