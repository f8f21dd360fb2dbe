#!/usr/bin/env python
"""Corpus build throughput and peak memory: our pipeline against a straightforward baseline.

Both read the same synthetic OPUS moses zip (realistic sentence lengths, plus duplicates, bad length
ratios, too-short lines and wrong-language targets) and write a `datasets` folder; LaBSE is off. The
baseline is the one-pair-at-a-time version: sacremoses on both sides, word counts, the `langid` package on
both sides, a Python set of full strings, everything in memory, then one save. Each run happens in its
own subprocess so peak RSS figures do not mix. Prints one JSON object.

Memory figures, per run: `peak_rss_mib` is the process's own VmHWM. (Not `ru_maxrss`: Linux carries a
parent's high-water mark across fork + exec, so every run would report at least this script's peak while
it generated the synthetic corpus.) `peak_anon_mib` and `peak_file_mib` are the peaks of RssAnon and
RssFile, sampled every 20 ms: anonymous memory is what the build really needs; file-backed pages are the
memory-mapped Arrow files `datasets` reads, which count in RSS but are page cache the kernel drops under
pressure (they grow with the output size, up to the final file's size). `peak_worker_rss_mib` is the
largest language-id worker (forked, so it counts pages shared with its parent).

    python benchmarks/bench_corpus.py                      # 200k pairs, ours vs baseline
    python benchmarks/bench_corpus.py --rss_pairs 1000000  # plus our peak memory at 1M pairs
    python benchmarks/bench_corpus.py --rss_pairs 1000000 --skip_baseline
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EN = ("the people of this country want a better future for their children and the government has promised "
      "new schools roads hospitals clean water and more jobs in every region but many families still wait "
      "for help after the floods destroyed their homes and farms last year while prices of food and fuel "
      "continue to rise in the markets of the city where young men look for work every morning").split()
SW = ("watu wa nchi hii wanataka maisha bora kwa watoto wao na serikali imeahidi shule mpya barabara "
      "hospitali maji safi na kazi zaidi katika kila mkoa lakini familia nyingi bado zinasubiri msaada baada "
      "ya mafuriko kuharibu nyumba zao na mashamba mwaka jana wakati bei ya chakula na mafuta inaendelea "
      "kupanda katika masoko ya jiji ambapo vijana wanatafuta kazi kila asubuhi").split()
FR = ("les habitants de ce pays veulent un meilleur avenir pour leurs enfants et le gouvernement a promis de "
      "nouvelles écoles des routes des hôpitaux et plus emplois dans chaque région").split()


def synthetic_pairs(n: int, seed: int = 0):
    """Mostly clean pairs of 8-30 words; 10% repeats, 8% bad ratios, 7% French targets, 5% too short."""
    rng = random.Random(seed)
    made = []
    for _ in range(n):
        roll = rng.random()
        if roll < 0.10 and made:
            pair = made[rng.randrange(len(made))]
        else:
            words = rng.randint(8, 30)
            src = " ".join(rng.choice(EN) for _ in range(words)).capitalize() + "."
            tgt_words = max(1, int(words * rng.uniform(0.8, 1.25)))
            if roll < 0.18:
                tgt_words = words * 3
            elif roll < 0.25:
                tgt = " ".join(rng.choice(FR) for _ in range(tgt_words)).capitalize() + "."
                made.append((src, tgt))
                yield made[-1]
                continue
            elif roll < 0.30:
                src, tgt_words = "Yes indeed.", 2
            tgt = " ".join(rng.choice(SW) for _ in range(tgt_words)).capitalize() + "."
            pair = (src, tgt)
            if len(made) < 50_000:
                made.append(pair)
        yield pair


def run_ours(download: Path, out: Path, num_proc: int, langid: bool) -> int:
    from langadapt.corpus.pipeline import CorpusBuildConfig, build_corpus

    cfg = CorpusBuildConfig(src="eng", tgt="swh", hf_out=out / "hf", work_dir=out / "work", corpora=["Synth"],
                            min_len=3, max_len=256, len_ratio_low=0.45, len_ratio_high=2.0, langid=langid,
                            labse_threshold=0.0, target_size=0, opus_download_dir=str(download), num_proc=num_proc)
    return build_corpus(cfg)["totals"]["final"]


def run_baseline(download: Path, out: Path, langid_on: bool) -> int:
    import langid
    from datasets import Dataset, DatasetDict, Features, Translation
    from opustools import OpusRead
    from sacremoses import MosesPunctNormalizer

    src_norm, tgt_norm = MosesPunctNormalizer(lang="en"), MosesPunctNormalizer(lang="sw")
    reader = OpusRead(directory="Synth", source="en", target="sw", preprocess="moses", write_mode="moses",
                      download_dir=str(download), suppress_prompts=True)
    seen, kept = set(), []
    for src, tgt in reader.yieldPairs():
        src, tgt = src_norm.normalize(src), tgt_norm.normalize(tgt)
        ns, nt = len(src.split()), len(tgt.split())
        if not (3 <= ns <= 256 and 3 <= nt <= 256):
            continue
        ratio = ns / nt
        if not (0.45 <= ratio <= 2.0 or 0.45 <= 1 / ratio <= 2.0):
            continue
        if langid_on and (langid.classify(src)[0] != "en" or langid.classify(tgt)[0] != "sw"):
            continue
        if (src, tgt) in seen:
            continue
        seen.add((src, tgt))
        kept.append({"eng": src, "swh": tgt})
    features = Features({"translation": Translation(languages=["eng", "swh"])})
    DatasetDict({"train": Dataset.from_dict({"translation": kept}, features=features)}).save_to_disk(str(out / "hf"))
    return len(kept)


class PeakMemory:
    """Highest RssAnon and RssFile of this process, sampled by a daemon thread."""

    FIELDS = ("RssAnon", "RssFile")

    def __init__(self, interval_s: float = 0.02):
        self.peaks = dict.fromkeys(self.FIELDS, 0)
        self._interval_s = interval_s
        threading.Thread(target=self._sample, daemon=True).start()

    @staticmethod
    def status_mib(fields) -> dict[str, float]:
        values = {}
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in fields:
                    values[name] = int(rest.split()[0]) / 1024  # kB
        return values

    def _sample(self) -> None:
        while True:
            for name, value in self.status_mib(self.FIELDS).items():
                self.peaks[name] = max(self.peaks[name], value)
            time.sleep(self._interval_s)


def measure(kind: str, download: Path, pairs: int, num_proc: int, langid: bool) -> dict:
    """Run one pipeline in a fresh subprocess; returns its throughput and peak RSS."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, __file__, "--_worker", kind, "--_download", str(download), "--_out", out,
                   "--num_proc", str(num_proc)] + ([] if langid else ["--no-langid"])
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"{kind} run failed:\n{result.stderr[-3000:]}")
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["pairs_per_s"] = round(pairs / figures["seconds"], 1)
    return figures


def worker(args) -> None:
    memory = PeakMemory()
    start = time.perf_counter()
    if args._worker == "ours":
        kept = run_ours(Path(args._download), Path(args._out), args.num_proc, not args.no_langid)
    else:
        kept = run_baseline(Path(args._download), Path(args._out), not args.no_langid)
    seconds = time.perf_counter() - start
    own = PeakMemory.status_mib(("VmHWM",))["VmHWM"]
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 2), "kept": kept, "peak_rss_mib": round(own, 1),
                      "peak_anon_mib": round(memory.peaks["RssAnon"], 1),
                      "peak_file_mib": round(memory.peaks["RssFile"], 1),
                      "peak_worker_rss_mib": round(workers, 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--num_proc", type=int, default=1, help="our pipeline's language-id workers")
    parser.add_argument("--no-langid", action="store_true")
    parser.add_argument("--rss_pairs", type=int, default=0, help="also measure our peak RSS at this many pairs")
    parser.add_argument("--skip_baseline", action="store_true", help="measure only our pipeline")
    parser.add_argument("--_worker", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--_download", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._worker:
        worker(args)
        return
    from langadapt.corpus.opus_format import write_opus_moses_zip

    report = {"pairs": args.pairs, "langid": not args.no_langid, "num_proc": args.num_proc}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "opus"
        write_opus_moses_zip(data, "Synth", "en", "sw", synthetic_pairs(args.pairs))
        report["ours"] = measure("ours", data, args.pairs, args.num_proc, not args.no_langid)
        if not args.skip_baseline:
            report["baseline"] = measure("baseline", data, args.pairs, 1, not args.no_langid)
            report["speedup"] = round(report["ours"]["pairs_per_s"] / report["baseline"]["pairs_per_s"], 2)
        if args.rss_pairs:
            big = Path(tmp) / "opus_big"
            write_opus_moses_zip(big, "Synth", "en", "sw", synthetic_pairs(args.rss_pairs))
            report["ours_at_rss_pairs"] = {"pairs": args.rss_pairs,
                                           **measure("ours", big, args.rss_pairs, args.num_proc, not args.no_langid)}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
