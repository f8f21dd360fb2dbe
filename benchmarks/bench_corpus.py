#!/usr/bin/env python
"""Corpus build throughput and peak memory: ours against the original builder, on the same input files.

Both builders get the seed README's command line with LaBSE off (`--labse_threshold 0`, no HF corpora, no
upload) over one synthetic OPUS moses zip (realistic sentence lengths, plus duplicates, bad length ratios,
too-short lines and wrong-language targets). The original runs from a local copy the user points to with
`--original` (its build_opus_corpus.py; never committed here); without it only ours is measured. Every
run is a fresh subprocess with one BLAS thread, pinned to `--cores` CPUs (the original always to one);
runs alternate, ours and the original, `--repeats` times, and each figure is the fastest of its runs.
Ours gets `--num_proc` = its core count (in-process at one core). `same_pairs` says
whether both saved exactly the same rows (a hash of the saved train split). Prints one JSON object.

Memory figures, per run: `peak_rss_mib` is the process's own VmHWM. (Not `ru_maxrss`: Linux carries a
parent's high-water mark across fork + exec, so every run would report at least this script's peak while
it generated the synthetic corpus.) `peak_anon_mib` and `peak_file_mib` are the peaks of RssAnon and
RssFile, sampled every 20 ms: anonymous memory is what the build really needs; file-backed pages are the
memory-mapped Arrow files `datasets` reads, which count in RSS but are page cache the kernel drops under
pressure (they grow with the output size, up to the final file's size). `peak_worker_rss_mib` is the
largest language-id worker (forked, so it counts pages shared with its parent).

    python benchmarks/bench_corpus.py --original /tmp/sensia/build_opus_corpus.py   # 200k pairs, 1 and 2 cores
    python benchmarks/bench_corpus.py --rss_pairs 2000000                              # plus our RSS at 2M pairs
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import runpy
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


def seed_argv(download: Path, out: Path) -> list[str]:
    """The seed README's build_opus_corpus command line over the synthetic corpus, LaBSE off."""
    return ["--src", "eng", "--tgt", "swh", "--hf_out", str(out / "hf"), "--work_dir", str(out / "work"),
            "--corpora", "Synth", "--max_per_corpus", "500000", "--batch_size", "2048", "--min_len", "3",
            "--max_len", "256", "--len_ratio_low", "0.45", "--len_ratio_high", "2.0", "--labse_threshold", "0",
            "--target_size", "100000", "--opus_download_dir", str(download), "--log_level", "WARNING"]


def run_builder(builder: str, argv: list[str]) -> None:
    """Ours through its main(); the original as its own __main__, as a user runs it."""
    if builder == "ours":
        import build_opus_corpus

        build_opus_corpus.main(argv)
    else:
        sys.argv = [builder, *argv]
        runpy.run_path(builder, run_name="__main__")


def saved_rows_sha256(hf_out: Path) -> str:
    from datasets import load_from_disk

    digest = hashlib.sha256()
    for row in load_from_disk(str(hf_out))["train"]:
        digest.update(json.dumps(row["translation"], ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")
    return digest.hexdigest()


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


ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def measure(builder: str, download: Path, pairs: int, cores: int) -> dict:
    """One build in a fresh subprocess on `cores` CPUs; its throughput, peak RSS and output hash."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, __file__, "--_worker", builder, "--_download", str(download), "--_out", out,
                   "--_cores", str(cores)]
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **ONE_THREAD})
        if result.returncode != 0:
            raise SystemExit(f"{builder} run failed:\n{result.stderr[-3000:]}")
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["pairs_per_s"] = round(pairs / figures["seconds"], 1)
    figures["load"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def worker(args) -> None:
    cpus = sorted(os.sched_getaffinity(0))[:args._cores]
    os.sched_setaffinity(0, cpus)
    memory = PeakMemory()
    out = Path(args._out)
    start = time.perf_counter()
    argv = seed_argv(Path(args._download), out)
    run_builder(args._worker, argv + ["--num_proc", str(len(cpus))] if args._worker == "ours" else argv)
    seconds = time.perf_counter() - start
    own = PeakMemory.status_mib(("VmHWM",))["VmHWM"]
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 2), "cores": len(cpus), "peak_rss_mib": round(own, 1),
                      "peak_anon_mib": round(memory.peaks["RssAnon"], 1),
                      "peak_file_mib": round(memory.peaks["RssFile"], 1),
                      "peak_worker_rss_mib": round(workers, 1), "sha256": saved_rows_sha256(out / "hf")}))


def fastest(runs: list[dict]) -> dict:
    best = min(runs, key=lambda run: run["seconds"])
    return {**best, "all_seconds": [run["seconds"] for run in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200_000)
    parser.add_argument("--original", help="path of the original build_opus_corpus.py (a local copy)")
    parser.add_argument("--cores", default="1,2", help="core counts to run ours on, comma-separated")
    parser.add_argument("--repeats", type=int, default=1, help="alternating runs of each; the fastest counts")
    parser.add_argument("--rss_pairs", type=int, default=0, help="also measure our peak RSS at this many pairs")
    parser.add_argument("--_worker", help=argparse.SUPPRESS)
    parser.add_argument("--_download", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    parser.add_argument("--_cores", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._worker:
        worker(args)
        return
    from langadapt.corpus.opus_format import write_opus_moses_zip

    cores = [int(c) for c in args.cores.split(",")]
    report = {"pairs": args.pairs, "flags": "seed README, --labse_threshold 0", "cpus": os.cpu_count()}
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "opus"
        write_opus_moses_zip(data, "Synth", "en", "sw", synthetic_pairs(args.pairs))
        for _ in range(args.repeats):
            for n in cores:
                runs.setdefault(f"ours_{n}_core", []).append(measure("ours", data, args.pairs, n))
                if args.original and n == cores[0]:
                    runs.setdefault("original_1_core", []).append(
                        measure(str(Path(args.original).resolve()), data, args.pairs, 1))
        report.update({name: fastest(found) for name, found in runs.items()})
        if args.original:
            base = report["original_1_core"]["pairs_per_s"]
            report["speedup_vs_original"] = {name: round(report[name]["pairs_per_s"] / base, 2)
                                             for name in runs if name.startswith("ours")}
            report["same_pairs"] = all(report[name]["sha256"] == report["original_1_core"]["sha256"] for name in runs)
        if args.rss_pairs:
            big = Path(tmp) / "opus_big"
            write_opus_moses_zip(big, "Synth", "en", "sw", synthetic_pairs(args.rss_pairs))
            report["ours_at_rss_pairs"] = {"pairs": args.rss_pairs,
                                           **measure("ours", big, args.rss_pairs, cores[-1])}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
