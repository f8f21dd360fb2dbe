"""The whole workflow end to end on bundled data, offline, on CPU in minutes.

Sense adaptation: corpus (OPUS files + an HF dataset, LaBSE stage with a small local encoder) -> pretrain
a tiny Backpack on English -> sense-adapt it to Swahili -> evaluate base and adapted (FLORES perplexity,
XCOPA-style choices, Tatoeba-style retrieval). COMMIT: a tiny Llama -> code-mixed alignment on Hindi text ->
code-mixed instruction tuning -> perplexity of held-out Hindi. Every stage runs the real top-level script in
a subprocess, as a user would, and the results end in one Markdown table with plots. The tokenizer and
every model see training text only; each result's n and its noise are in the table.

    python examples/demo.py --output_dir demo_output [--size smoke]
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "examples" / "data"
GRAMMAR = DATA / "grammar"
logger = logging.getLogger("demo")

# Steps and sizes per run size: "full" is `make demo`, "smoke" the CI test of the same pipeline.
SIZES = {
    "full": {"clm_steps": 400, "adapt_steps": 1200, "align_steps": 40, "commit_steps": 60, "vocab": 1024,
             "eval_every": 200, "log_every": 10},
    "smoke": {"clm_steps": 6, "adapt_steps": 6, "align_steps": 3, "commit_steps": 3, "vocab": 384,
              "eval_every": 3, "log_every": 1},
}


class Demo:
    def __init__(self, out: Path, size: dict):
        self.out, self.size = out, size
        self.logs = out / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.timings: dict[str, float] = {}

    def run(self, name: str, script: str, *args: str) -> None:
        """Run one stage's script; its output goes to logs/<name>.log, a failure stops the demo."""
        command = [sys.executable, str(ROOT / script), *map(str, args)]
        log = self.logs / f"{name}.log"
        start = time.perf_counter()
        logger.info("[%s] %s", name, " ".join([script, *map(str, args)]))
        with open(log, "w", encoding="utf-8") as handle:
            result = subprocess.run(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.timings[name] = round(time.perf_counter() - start, 1)
        if result.returncode != 0:
            tail = "".join(log.read_text(encoding="utf-8").splitlines(keepends=True)[-25:])
            raise SystemExit(f"demo stage {name!r} failed (exit {result.returncode}); end of {log}:\n{tail}")
        logger.info("[%s] done in %.1fs", name, self.timings[name])


def lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def training_texts() -> list[str]:
    """Everything the demo trains on, and nothing it evaluates on: the English for pretraining, the
    Swahili of the HF corpus source, the Hindi for COMMIT alignment and the Alpaca records."""
    from datasets import load_from_disk

    texts = lines(GRAMMAR / "english_train.txt")
    texts += [row["swh_Latn"] for row in load_from_disk(str(DATA / "hf_parallel_eng_swh"))["train"]["translation"]]
    texts += [json.loads(line)["text"] for line in lines(GRAMMAR / "hindi_train.jsonl")]
    texts += [" ".join(str(v) for v in row.values()) for row in json.loads((DATA / "alpaca_sample.json").read_text())]
    return texts


def prepare_models(out: Path, vocab_size: int) -> tuple[Path, Path, Path]:
    """A byte-level BPE tokenizer over the training text, a tiny Llama for COMMIT, a LaBSE stand-in."""
    from langadapt.toy_models import (save_tiny_model, save_tiny_sentence_encoder, tiny_llama_config,
                                      train_byte_bpe_tokenizer)

    texts = training_texts()
    tokenizer = train_byte_bpe_tokenizer(texts, vocab_size=vocab_size)
    tokenizer_dir = out / "tokenizer"
    tokenizer.save_pretrained(tokenizer_dir)
    llama_dir = out / "llama-base"
    save_tiny_model(tiny_llama_config(len(tokenizer), max_position_embeddings=512), tokenizer, llama_dir)
    encoder = save_tiny_sentence_encoder(out / "sentence-encoder", texts)
    return tokenizer_dir, llama_dir, Path(encoder)


def write_retrieval_pairs(out: Path) -> Path:
    """FLORES devtest pairs in the tatoeba_mt format, for sentence retrieval eng<->swh."""
    english = lines(DATA / "flores_demo" / "devtest" / "eng_Latn.devtest")
    swahili = lines(DATA / "flores_demo" / "devtest" / "swh_Latn.devtest")
    path = out / "retrieval_eng_swh.jsonl"
    path.write_text("".join(json.dumps({"sourceLang": "eng", "targetlang": "swh", "sourceString": e,
                                        "targetString": s}) + "\n" for e, s in zip(english, swahili)),
                    encoding="utf-8")
    return path


def sense_adaptation(demo: Demo, tokenizer_dir: Path, encoder: Path) -> dict[str, Path]:
    out, size = demo.out, demo.size
    demo.run("1_corpus", "build_opus_corpus.py", "--src", "eng", "--tgt", "swh",
             "--hf_out", out / "corpus", "--work_dir", out / "corpus-work",
             "--corpora", "DemoNews", "DemoTalks", "--hf_corpora", DATA / "hf_parallel_eng_swh",
             "--hf_corpora_split", "train", "--max_per_corpus", "500000", "--batch_size", "256",
             "--min_len", "3", "--max_len", "256", "--len_ratio_low", "0.45", "--len_ratio_high", "2.0",
             "--labse_threshold", "0.6", "--labse_model", encoder, "--target_size", "100000",
             "--opus_download_dir", DATA / "opus", "--log_level", "INFO")
    with open(tokenizer_dir / "tokenizer.json", encoding="utf-8") as handle:
        vocab = len(json.load(handle)["model"]["vocab"])
    demo.run("2_pretrain_backpack", "run_clm.py", "--model_name_or_path", ROOT / "configs" / "backpack-tiny",
             "--config_name", ROOT / "configs" / "backpack-tiny", "--config_overrides", f"vocab_size={vocab}",
             "--tokenizer_name", tokenizer_dir, "--train_file", GRAMMAR / "english_train.txt",
             "--validation_file", GRAMMAR / "english_valid.txt", "--block_size", "64",
             "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "16",
             "--learning_rate", "3e-3", "--warmup_ratio", "0.1", "--weight_decay", "0.01",
             "--do_train", "--do_eval", "--output_dir", out / "backpack-base", "--overwrite_output_dir",
             "--max_steps", size["clm_steps"], "--logging_steps", size["log_every"], "--save_steps", "1000",
             "--save_total_limit", "1", "--report_to", "none", "--run_name", "demo-clm", "--seed", "0")
    demo.run("3_sense_adaptation", "run_adaptation.py", "--model_id", out / "backpack-base",
             "--max_length", "48", "--dataset_name", out / "corpus", "--dataset_split", "train",
             "--src", "eng", "--tgt", "swh", "--validation_file", DATA / "flores_demo",
             "--normalize_sense_pooling", "--normalize_last_token_embeds", "--add_lm_loss",
             "--learning_rate", "6e-3", "--train_batch_size", "32", "--test_batch_size", "64",
             "--warmup_ratio", "0.02", "--clip_grad_norm", "1.0", "--label_smoothing", "0.05",
             "--sense_pool_temp", "0.7", "--align_pct", "0.20", "--polish_pct", "0.50",
             "--w_ctx_align", "0.45", "--w_sns_align", "0.55", "--w_lm_align", "0.02",
             "--w_ctx_mid", "0.40", "--w_sns_mid", "0.40", "--w_lm_mid", "0.20",
             "--w_ctx_tail", "0.15", "--w_sns_tail", "0.15", "--w_lm_tail", "0.70",
             "--tau_ctx_start", "0.07", "--tau_ctx_end", "0.07", "--tau_sns_start", "0.05", "--tau_sns_end", "0.05",
             "--max_steps", size["adapt_steps"], "--eval_every_n_steps", size["eval_every"],
             "--save_every", size["adapt_steps"], "--max_checkpoints", "1", "--log_every_n_steps", size["log_every"],
             "--resume_from_checkpoint", "--save_dir", out / "backpack-adapted", "--seed", "1234")
    return {"base": out / "backpack-base", "adapted": out / "backpack-adapted"}


def evaluate_backpacks(demo: Demo, models: dict[str, Path]) -> None:
    retrieval = write_retrieval_pairs(demo.out)
    for name, model in models.items():
        results = demo.out / "results" / name
        demo.run(f"4_flores_{name}", "run_flores_ppl.py", "--model_path", model, "--dataset",
                 DATA / "flores_demo", "--lang", "swh_Latn", "--split", "devtest", "--batch_size", "32",
                 "--max_length", "64", "--device", "cpu", "--output_file", results / "flores_ppl.json")
        demo.run(f"4_xcopa_{name}", "run_eval.py", "--model_path", model, "--task", "xcopa", "--lang", "swh",
                 "--split", "test", "--batch_size", "16", "--device", "cpu",
                 "--data_path", GRAMMAR / "xcopa_sw.jsonl", "--output_file", results / "xcopa.json")
        demo.run(f"4_retrieval_{name}", "run_eval.py", "--model_path", model, "--task", "tatoeba_retrieval",
                 "--lang", "swh", "--batch_size", "32", "--device", "cpu", "--data_path", retrieval,
                 "--tatoeba_dir", "both", "--output_file", results / "retrieval.json")


def inspect_senses(demo: Demo, models: dict[str, Path]) -> None:
    """Which senses moved in adaptation: the most frequent aligned FLORES word pairs, adapted vs base."""
    demo.run("4_inspect_senses", "inspect_senses.py", "--model", models["adapted"], "--compare", models["base"],
             "--src", "eng_Latn", "--tgt", "swh_Latn", "--split", "devtest", "--dataset", DATA / "flores_demo",
             "--aligner", "eflomal", "--top_pairs", "8", "--device", "cpu", "--out_dir", demo.out / "results" / "senses")


def commit(demo: Demo, llama_dir: Path) -> dict[str, Path]:
    out, size = demo.out, demo.size
    shared = ["--seq_length", "128", "--batch_size", "8", "--lr", "2e-3", "--end_lr", "1e-5", "--b1", "0.9",
              "--b2", "0.999", "--weight_decay", "0.0", "--resid_pdrop", "0.05", "--embd_pdrop", "0.05",
              "--attn_pdrop", "0.05", "--fcm_max_ratio", "0.1", "--report_to", "none", "--log_steps", size["log_every"],
              "--seed", "0"]
    demo.run("5_commit_align", "commit_train.py", "--model_name_or_path", llama_dir, "--mode", "text",
             "--text_field", "text", "--dataset_name", GRAMMAR / "hindi_train.jsonl",
             "--codemix_dict_path", ROOT / "dicts" / "sample" / "hi-en.txt", "--codemix_ratio", "0.5",
             "--total_steps", size["align_steps"], "--warmup_steps", "2", "--lr_decay_steps", size["align_steps"],
             "--output_dir", out / "commit-aligned", "--save_steps", "1000", "--overwrite_output_dir", *shared)
    demo.run("6_commit", "commit_train.py", "--model_name_or_path", out / "commit-aligned", "--mode", "alpaca",
             "--dataset_name", DATA / "alpaca_sample.json", "--codemix_dict_path",
             ROOT / "dicts" / "sample" / "en-hi.txt", "--codemix_ratio", "0.9", "--block_codemix_in_template",
             "True", "--total_steps", size["commit_steps"], "--warmup_steps", "2",
             "--lr_decay_steps", size["commit_steps"], "--output_dir", out / "commit", "--save_steps", "1000",
             "--overwrite_output_dir", *shared)
    models = {"base": llama_dir, "adapted": out / "commit"}
    for name, model in models.items():
        demo.run(f"7_hindi_ppl_{name}", "run_flores_ppl.py", "--model_path", model, "--dataset",
                 GRAMMAR / "flores_hindi", "--lang", "hin_Deva", "--split", "devtest", "--batch_size", "32",
                 "--max_length", "128", "--device", "cpu",
                 "--output_file", out / "results" / f"commit_{name}" / "hindi_ppl.json")
    return models


def read_results(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass
class ResultRow:
    """One table row: a metric of the base and the adapted model on the same n examples, with each
    figure's standard error, and the difference in units of its noise."""
    task: str
    metric: str
    n: int
    base: float
    adapted: float
    base_stderr: float
    adapted_stderr: float
    shown: tuple[float, float] | None = None  # what the table prints when not the compared figure

    @property
    def z(self) -> float:
        return abs(self.adapted - self.base) / math.hypot(self.base_stderr, self.adapted_stderr)


def proportion_stderr(p: float, n: int) -> float:
    """Binomial standard error, with p kept off 0 and 1 so that a floor of 1/(2n) remains."""
    p = min(max(p, 0.5 / n), 1 - 0.5 / n)
    return math.sqrt(p * (1 - p) / n)


def perplexity_rows(task: str, base: dict, adapted: dict) -> list[ResultRow]:
    """Perplexity (compared on its log, the NLL per token) and bits per byte, each with its error."""
    n = base["sentences"]
    return [ResultRow(task, "perplexity", n, base["nll_per_token"], adapted["nll_per_token"],
                      base["nll_per_token_stderr"], adapted["nll_per_token_stderr"],
                      shown=(base["perplexity"], adapted["perplexity"])),
            ResultRow(task, "bits_per_byte", n, base["bits_per_byte"], adapted["bits_per_byte"],
                      base["bits_per_byte_stderr"], adapted["bits_per_byte_stderr"])]


def proportion_row(task: str, metric: str, base: dict, adapted: dict) -> ResultRow:
    n = base["n_examples"]
    b, a = base["metrics"][metric], adapted["metrics"][metric]
    return ResultRow(task, metric, n, b, a, proportion_stderr(b, n), proportion_stderr(a, n))


def results_table(out: Path) -> list[ResultRow]:
    """The evaluation rows, gathered from the stages' JSON files."""
    res = out / "results"

    def both(folder: str, file: str) -> tuple[dict, dict]:
        return read_results(res / folder.format("base") / file), read_results(res / folder.format("adapted") / file)

    rows = perplexity_rows("FLORES-style swh_Latn devtest (Backpack)", *both("{}", "flores_ppl.json"))
    rows.append(proportion_row("XCOPA-style sw (Backpack)", "acc", *both("{}", "xcopa.json")))
    retrieval = both("{}", "retrieval.json")
    rows.append(proportion_row("Retrieval eng->swh (Backpack)", "recall@1_src2tgt", *retrieval))
    rows.append(proportion_row("Retrieval swh->eng (Backpack)", "recall@1_tgt2src", *retrieval))
    rows += adaptation_retrieval_rows(out / "backpack-adapted" / "metrics.jsonl")
    rows += perplexity_rows("Held-out Hindi (COMMIT Llama)", *both("commit_{}", "hindi_ppl.json"))
    return rows


def adaptation_retrieval_rows(metrics: Path) -> list[ResultRow]:
    """run_adaptation's own FLORES dev retrieval (both directions averaged), at step 0 (the base model)
    and at its last evaluation: by the last-token context vectors and by sense pooling, which it trains."""
    evals = [r for r in jsonl(metrics) if r.get("kind") == "eval"]
    first, last = evals[0], evals[-1]
    n = first["num_pairs"]
    return [ResultRow(f"Retrieval eng<->swh, FLORES dev, {name} (run_adaptation eval)", "recall@1", n,
                      first[key], last[key], proportion_stderr(first[key], n), proportion_stderr(last[key], n))
            for name, key in (("context vectors", "ctx_r1_avg"), ("sense pooling", "sns_r1_avg"))]


def unigram_cross_entropy(tokenizer_dir: Path) -> float:
    """Nats per token of the pretraining validation text under the training text's unigram distribution
    (add-one smoothed): the figure a language model must beat to have learned more than word frequencies."""
    from collections import Counter

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    counts = Counter(t for line in lines(GRAMMAR / "english_train.txt") for t in tokenizer(line)["input_ids"])
    total, vocab = sum(counts.values()), len(tokenizer)
    valid = [t for line in lines(GRAMMAR / "english_valid.txt") for t in tokenizer(line)["input_ids"]]
    return -sum(math.log((counts[t] + 1) / (total + vocab)) for t in valid) / len(valid)


def base_language_model_line(out: Path, tokenizer_dir: Path) -> str:
    loss = read_results(out / "backpack-base" / "eval_results.json")["eval_loss"]
    return (f"Base Backpack on held-out English (grammar/english_valid.txt): validation loss {loss:.3f} nats/token "
            f"against {unigram_cross_entropy(tokenizer_dir):.3f} for a unigram model of the training text.")


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in lines(path)]


def training_table(out: Path) -> list[tuple[str, str, float, float]]:
    """(stage, loss, first logged, last logged) for every training run of the demo."""
    clm = [r for r in json.loads((out / "backpack-base" / "trainer_state.json").read_text())["log_history"]
           if "loss" in r]
    rows = [("Backpack pretraining (run_clm.py)", "train loss", clm[0]["loss"], clm[-1]["loss"])]
    adaptation = [r for r in jsonl(out / "backpack-adapted" / "metrics.jsonl") if r.get("kind") == "train"]
    for key in ("context_loss", "sense_loss", "lm_loss", "loss"):
        rows.append(("Sense adaptation (run_adaptation.py)", key, adaptation[0][key], adaptation[-1][key]))
    for stage, folder in (("COMMIT alignment (commit_train.py --mode text)", "commit-aligned"),
                          ("COMMIT instruction tuning (commit_train.py --mode alpaca)", "commit")):
        log = [r for r in jsonl(out / folder / "metrics.jsonl") if r.get("kind") == "train"]
        rows.append((stage, "train loss", log[0]["loss"], log[-1]["loss"]))
    return rows


def bar_plot(rows: list[ResultRow], path: Path) -> None:
    """One panel per row, each bar labelled with its figure and drawn with a 2-standard-error whisker;
    perplexity on a log axis, so that a small figure beside a large one still shows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    grid = math.ceil(len(rows) / columns)
    fig, axes = plt.subplots(grid, columns, figsize=(3.3 * columns, 3.0 * grid), squeeze=False)
    for axis in axes.flat[len(rows):]:
        axis.set_visible(False)
    for axis, row in zip(axes.flat, rows):
        values = row.shown or (row.base, row.adapted)
        if row.shown:  # the error is on the log scale: exp(nll +- 2 se)
            errors = [[v - math.exp(math.log(v) - 2 * se) for v, se in zip(values, (row.base_stderr, row.adapted_stderr))],
                      [math.exp(math.log(v) + 2 * se) - v for v, se in zip(values, (row.base_stderr, row.adapted_stderr))]]
            axis.set_yscale("log")
        else:
            errors = [[min(v, 2 * se) for v, se in zip(values, (row.base_stderr, row.adapted_stderr))],
                      [2 * row.base_stderr, 2 * row.adapted_stderr]]  # a proportion's whisker stops at 0
        bars = axis.bar(["base", "adapted"], values, yerr=errors, capsize=3, color=["#999999", "#2a7ab0"])
        axis.bar_label(bars, labels=[f"{v:.3g}" for v in values], fontsize=7)
        axis.set_title(textwrap.fill(f"{row.task}: {row.metric} (n={row.n}, z={row.z:.1f})", 40), fontsize=7)
        axis.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(out: Path, rows: list[ResultRow], base_lm: str, training, timings: dict[str, float],
                 wall: float) -> str:
    plots = sorted(p.relative_to(out) for p in out.glob("backpack-adapted/*.png"))
    lines_out = ["# langadapt demo results", "",
                 "Base = tiny Backpack pretrained on the bundled English / untrained tiny Llama; adapted = after "
                 "sense adaptation to Swahili / after COMMIT (code-mixed alignment on Hindi text + code-mixed "
                 "instruction tuning). Tiny models and tiny bundled data: the numbers show that each stage "
                 "moves what it should, not what the methods reach.", "",
                 "n = examples (sentences, rows or pairs) each figure averages over. Noise: each figure's "
                 "standard error over those n (binomial for proportions; for perplexity, of the NLL per token "
                 "and of bits per byte, sentences as the units); z = |adapted - base| / sqrt(se_base^2 + "
                 "se_adapted^2). A difference with z > 2 is beyond noise.", "",
                 "| task | metric | n | base | adapted | z |", "|---|---|---|---|---|---|"]
    for row in rows:
        base, adapted = row.shown or (row.base, row.adapted)
        lines_out.append(f"| {row.task} | {row.metric} | {row.n} | {base:.4g} | {adapted:.4g} | {row.z:.1f} |")
    lines_out += ["", base_lm]
    lines_out += ["", "| training stage | loss | first logged | last logged |", "|---|---|---|---|"]
    lines_out += [f"| {stage} | {name} | {first:.4g} | {last:.4g} |" for stage, name, first, last in training]
    lines_out += ["", "![base vs adapted](results.png)", ""]
    lines_out += [f"![{p.stem}]({p.as_posix()})" for p in plots]
    lines_out += ["", "Which senses moved in adaptation (inspect_senses.py, adapted vs base): "
                  "[results/senses/senses.md](results/senses/senses.md)"]
    lines_out += ["", f"Wall time: {wall:.0f} s. Stage times (s): " +
                  ", ".join(f"{k} {v}" for k, v in timings.items()), ""]
    report = "\n".join(lines_out)
    (out / "RESULTS.md").write_text(report, encoding="utf-8")
    return report


def replace_previous_demo(out: Path) -> None:
    """Empty `out` for a new demo, but only when it is empty or an earlier demo's output."""
    from langadapt.errors import LangAdaptError
    from langadapt.run_folder import RunFolder

    folder = RunFolder(out, flag="--output_dir", script="examples/demo.py", settings={}, defining=())
    if out.is_dir() and any(out.iterdir()):
        identity = folder.identity()
        if identity is None or identity.get("script") != folder.script:
            raise LangAdaptError(f"--output_dir {out} is not empty and is not an earlier demo's output: choose "
                                 f"an empty or new folder")
        shutil.rmtree(out)
    folder.plan(overwrite=False, resume=False, latest=lambda: None, checkpoint_step=lambda _: 0)
    folder.prepare(overwrite=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="demo_output", help="everything the demo writes goes here")
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="full: `make demo`; smoke: the same pipeline with a few steps per stage (CI)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    start = time.perf_counter()
    out = Path(args.output_dir).resolve()
    replace_previous_demo(out)
    demo = Demo(out, SIZES[args.size])
    tokenizer_dir, llama_dir, encoder = prepare_models(out, demo.size["vocab"])
    backpacks = sense_adaptation(demo, tokenizer_dir, encoder)
    evaluate_backpacks(demo, backpacks)
    inspect_senses(demo, backpacks)
    commit(demo, llama_dir)
    rows = results_table(out)
    bar_plot(rows, out / "results.png")
    report = write_report(out, rows, base_language_model_line(out, tokenizer_dir), training_table(out),
                          demo.timings, time.perf_counter() - start)
    print(report)
    print(f"written: {out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    from langadapt.cli import run_cli

    run_cli(main)
