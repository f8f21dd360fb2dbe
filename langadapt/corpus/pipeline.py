"""The corpus build, stage by stage: read -> filter (per corpus) -> merge + dedup -> LaBSE -> final dataset.

Every stage reads the previous stage's file as a stream and writes its own through `records`, with a
fingerprint of everything that determines its content; a rerun skips each stage whose output is complete
with the same fingerprint, so after a crash only unfinished stages run again and the result is the same.
"""
from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

from ..progress import progress_bar

from ..errors import LangAdaptError
from ..languages import get_language
from . import records
from .dedup import SeenPairs
from .filters import FilterSettings, filter_pairs
from .hf_reader import HFSource, alias_for
from .labse import DEFAULT_MODEL, SentenceEncoder, labse_filter
from .opus_reader import CorpusFileError, CorpusUnavailable, OpusSource
from .parallel import worker_count
from .stats import CorpusStats, format_table, totals
from .writer import check_hf_out, remove_stale_staging, save_atomically, shuffled_and_capped, write_arrow

logger = logging.getLogger(__name__)


@dataclass
class CorpusBuildConfig:
    src: str
    tgt: str
    hf_out: Path
    work_dir: Path
    corpora: list[str] = field(default_factory=list)
    hf_corpora: list[str] = field(default_factory=list)
    hf_corpora_split: str = "train"
    max_per_corpus: int = 0
    min_len: int = 4
    max_len: int = 64
    len_ratio_low: float = 0.67
    len_ratio_high: float = 1.5
    langid: bool = True
    labse_threshold: float = 0.82
    labse_model: str = DEFAULT_MODEL
    batch_size: int = 512
    target_size: int = 2_000_000
    seed: int = 13
    opus_download_dir: str = "opus_cache"
    opus_root: Optional[str] = None
    preprocess: str = "moses"
    hf_timeout_sec: int = 3600
    num_proc: int = 0  # language-id workers; 0: one per free core (in-process when fewer than two are free)
    cap_every_corpus: bool = False  # --max_per_corpus also for moses-form OPUS and HF corpora
    moses_rules: str = "english"  # or "per_language": each side with its own language's Moses rules
    skip_bad_corpora: bool = False  # a damaged OPUS file skips its corpus instead of stopping the build

    def filter_settings(self) -> FilterSettings:
        src, tgt = get_language(self.src), get_language(self.tgt)
        src_moses, tgt_moses = (src.opus, tgt.opus) if self.moses_rules == "per_language" else ("en", "en")
        return FilterSettings(src_lang=src.langid, tgt_lang=tgt.langid, min_len=self.min_len, max_len=self.max_len,
                              len_ratio_low=self.len_ratio_low, len_ratio_high=self.len_ratio_high,
                              langid=self.langid, src_moses=src_moses, tgt_moses=tgt_moses)


Source = Union[OpusSource, HFSource]


@dataclass
class _Corpus:
    stats: CorpusStats
    source: Source
    settings: dict  # what determines the raw pairs
    maximum: int  # --max_per_corpus where it applies to this corpus, else 0


def _sources(cfg: CorpusBuildConfig) -> list[_Corpus]:
    src, tgt = get_language(cfg.src), get_language(cfg.tgt)
    out = []
    for name in cfg.corpora:
        source = OpusSource(corpus=name, src=src.opus, tgt=tgt.opus, download_dir=cfg.opus_download_dir,
                            opus_root=cfg.opus_root, preprocess=cfg.preprocess, cap_moses=cfg.cap_every_corpus)
        out.append(_Corpus(CorpusStats(name, "opus", name), source,
                           {"opus": name, "pair": [src.opus, tgt.opus], "max": cfg.max_per_corpus,
                            "cap_moses": cfg.cap_every_corpus}, cfg.max_per_corpus))
    for dataset in cfg.hf_corpora:
        source = HFSource(dataset=dataset, src=src.iso3, tgt=tgt.iso3, split=cfg.hf_corpora_split,
                          timeout_sec=cfg.hf_timeout_sec)
        maximum = cfg.max_per_corpus if cfg.cap_every_corpus else 0  # the original reads HF corpora whole
        out.append(_Corpus(CorpusStats(alias_for(dataset), "hf", dataset), source,
                           {"hf": dataset, "pair": [src.iso3, tgt.iso3], "split": cfg.hf_corpora_split,
                            "max": maximum}, maximum))
    return out


def _read_stage(corpus: _Corpus, path: Path, key: str, skip_bad_files: bool) -> bool:
    """Raw pairs of one corpus; False (recorded in its stats) when the corpus is unavailable."""
    if records.is_complete(path, key):
        logger.info("[%s] raw pairs present, skipping the read", corpus.stats.name)
        return True
    try:
        with records.atomic_records(path, key) as writer:
            pairs = progress_bar(corpus.source.pairs(corpus.maximum), desc=f"{corpus.stats.name}: read", unit="pair")
            writer.write_many([s, t] for s, t in pairs)
    except CorpusFileError as why:
        if not skip_bad_files:
            raise
        logger.warning("[%s] skipped (--skip_bad_corpora): %s", corpus.stats.name, why)
        corpus.stats.unavailable = str(why)
        return False
    except CorpusUnavailable as why:
        logger.warning("[%s] skipped: %s", corpus.stats.name, why)
        corpus.stats.unavailable = str(why)
        return False
    return True


def _filter_stage(corpus: _Corpus, raw: Path, path: Path, key: str, settings: FilterSettings,
                  num_proc: int) -> None:
    if records.is_complete(path, key):
        logger.info("[%s] filtered pairs present, skipping the filters", corpus.stats.name)
        return
    counts: dict[str, int] = {}
    total = records.read_marker(raw)["records"]
    with records.atomic_records(path, key, {"counts": counts}) as writer:
        raw_pairs = progress_bar(records.read_records(raw), desc=f"{corpus.stats.name}: filter", unit="pair", total=total)
        writer.write_many(filter_pairs(raw_pairs, settings, counts, num_proc=num_proc))


def _merge_stage(filtered: list[tuple[int, Path]], path: Path, key: str) -> None:
    """All corpora in order, each (src, tgt) kept once, tagged with its corpus index."""
    if records.is_complete(path, key):
        logger.info("merged pairs present, skipping the merge")
        return
    seen = SeenPairs()
    per_corpus: dict[str, int] = {}
    with records.atomic_records(path, key, {"dedup_by_corpus": per_corpus}) as writer:
        for index, part in filtered:
            kept = 0
            for src, tgt in progress_bar(records.read_records(part), desc="merge + dedup", unit="pair",
                                 total=records.read_marker(part)["records"]):
                if seen.first_time(src, tgt):
                    writer.write([src, tgt, index])
                    kept += 1
            per_corpus[str(index)] = kept


def build_corpus(cfg: CorpusBuildConfig,
                 encoder_factory: Optional[Callable[[], SentenceEncoder]] = None) -> dict:
    """Run (or resume) every stage and save the dataset to `cfg.hf_out`; returns the statistics."""
    src3, tgt3 = get_language(cfg.src).iso3, get_language(cfg.tgt).iso3
    check_hf_out(Path(cfg.hf_out), src3, tgt3)
    remove_stale_staging(Path(cfg.hf_out))
    work = Path(cfg.work_dir).expanduser()
    work.mkdir(parents=True, exist_ok=True)
    settings = cfg.filter_settings()
    corpora = _sources(cfg)
    num_proc = worker_count(cfg.num_proc)
    logger.info("language id: %s", f"{num_proc} worker processes" if num_proc > 1 else "in this process")

    filtered: list[tuple[int, Path]] = []
    for index, corpus in enumerate(corpora):
        raw = work / "corpora" / f"{corpus.stats.name}.raw.jsonl.gz"
        raw_key = records.fingerprint(corpus.settings)
        if not _read_stage(corpus, raw, raw_key, cfg.skip_bad_corpora):
            continue
        path = work / "corpora" / f"{corpus.stats.name}.filtered.jsonl.gz"
        key = records.fingerprint({"raw": raw_key, "filters": settings.as_dict()})
        _filter_stage(corpus, raw, path, key, settings, num_proc)
        corpus.stats.counts.update(records.read_marker(path)["counts"])
        filtered.append((index, path))
    stats = [c.stats for c in corpora]
    if not filtered:
        logger.warning("corpora read:\n%s", format_table(stats))
        why = "; ".join(f"{s.name}: {s.unavailable}" for s in stats)
        flag = "--corpora" if cfg.corpora else "--hf_corpora"
        raise LangAdaptError(f"{flag} {' '.join(cfg.corpora or cfg.hf_corpora)}: none of the corpora is available "
                             f"for {cfg.src}-{cfg.tgt} ({why}); check --opus_download_dir, or unset HF_HUB_OFFLINE "
                             f"to download")

    merged = work / "merged" / "merged_dedup.jsonl.gz"
    merge_key = records.fingerprint({"inputs": [[i, records.read_marker(p)["fingerprint"]] for i, p in filtered]})
    _merge_stage(filtered, merged, merge_key)
    for index, count in records.read_marker(merged)["dedup_by_corpus"].items():
        stats[int(index)].counts["dedup"] = count
    merged_total = records.read_marker(merged)["records"]
    if merged_total == 0:
        raise LangAdaptError(f"no pair survived the filters:\n{format_table(stats)}")

    final_rows = merged
    if cfg.labse_threshold > 0:
        kept = work / "labse" / "kept.jsonl.gz"
        labse_key = records.fingerprint({"merged": merge_key, "model": cfg.labse_model,
                                         "threshold": cfg.labse_threshold, "batch_size": cfg.batch_size})
        if not records.is_complete(kept, labse_key):
            factory = encoder_factory or (lambda: SentenceEncoder(cfg.labse_model, cfg.batch_size))
            labse_filter(merged, kept, labse_key, cfg.labse_threshold, cfg.batch_size, merged_total, factory)
        kept_by_corpus = records.read_marker(kept)["kept_by_corpus"]
        for index, _ in filtered:
            stats[index].counts["labse"] = kept_by_corpus.get(str(index), 0)
        final_rows = kept
        if records.read_marker(kept)["records"] == 0:
            raise LangAdaptError(f"no pair reached --labse_threshold {cfg.labse_threshold}:\n"
                                 f"{format_table(stats)}")

    arrow = work / "final" / "pairs.arrow"
    write_arrow(records.read_records(final_rows), arrow, src3, tgt3)

    train, per_corpus = shuffled_and_capped(arrow, work / "final" / "shuffled.arrow", cfg.target_size, cfg.seed)
    for index, _ in filtered:
        stats[index].counts["final"] = per_corpus.get(index, 0)
    summary = {"src": src3, "tgt": tgt3,
               "corpora": [s.as_dict() for s in stats], "totals": totals(stats),
               "unavailable": [s.name for s in stats if s.unavailable is not None]}
    logger.info("pairs after each stage:\n%s", format_table(stats))
    check_hf_out(Path(cfg.hf_out), src3, tgt3)  # again: the folder may have changed during the build
    save_atomically(train, Path(cfg.hf_out), {
        "stats.json": lambda path: path.write_text(json.dumps(summary, indent=2), encoding="utf-8")})
    shutil.rmtree(work / "final", ignore_errors=True)
    return summary
