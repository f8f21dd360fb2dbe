"""The whole workflow end to end on bundled data, offline, on CPU in minutes.

Sense adaptation: corpus (OPUS files + an HF dataset, LaBSE stage with a small local encoder) -> pretrain
a tiny Backpack on English -> sense-adapt it to Swahili -> evaluate base and adapted (FLORES perplexity,
XCOPA, Tatoeba-style retrieval). COMMIT: a tiny Llama -> code-mixed alignment -> code-mixed instruction
tuning -> XQuAD. Every stage runs the real top-level script in a subprocess, as a user would, and the
results end in one Markdown table with plots.

    python examples/demo.py --output_dir demo_output [--size smoke]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / "examples" / "data"
logger = logging.getLogger("demo")

# Steps and sizes per run size: "full" is `make demo`, "smoke" the CI test of the same pipeline.
SIZES = {
    "full": {"clm_steps": 150, "adapt_steps": 300, "align_steps": 40, "commit_steps": 60, "vocab": 1024,
             "eval_every": 50, "log_every": 10},
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


def prepare_models(out: Path, vocab_size: int) -> tuple[Path, Path, Path]:
    """A byte-level BPE tokenizer over all bundled text, a tiny Llama for COMMIT, a LaBSE stand-in."""
    from langadapt.toy_models import (save_tiny_model, save_tiny_sentence_encoder, tiny_llama_config,
                                      train_byte_bpe_tokenizer)

    texts = lines(DATA / "english_train.txt") + lines(DATA / "flores_demo" / "dev" / "swh_Latn.dev")
    texts += [json.loads(line)["text"] for line in lines(DATA / "hi_text_sample.jsonl")]
    texts += [" ".join(str(v) for v in row.values()) for row in json.loads((DATA / "alpaca_sample.json").read_text())]
    swahili_corpus = lines(DATA / "flores_demo" / "devtest" / "swh_Latn.devtest")
    tokenizer = train_byte_bpe_tokenizer(texts + swahili_corpus, vocab_size=vocab_size)
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
             "--tokenizer_name", tokenizer_dir, "--train_file", DATA / "english_train.txt",
             "--validation_file", DATA / "english_valid.txt", "--block_size", "64",
             "--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "16",
             "--learning_rate", "1e-3", "--warmup_ratio", "0.1", "--weight_decay", "0.01",
             "--do_train", "--do_eval", "--output_dir", out / "backpack-base", "--overwrite_output_dir",
             "--max_steps", size["clm_steps"], "--logging_steps", size["log_every"], "--save_steps", "1000",
             "--save_total_limit", "1", "--report_to", "none", "--run_name", "demo-clm", "--seed", "0")
    demo.run("3_sense_adaptation", "run_adaptation.py", "--model_id", out / "backpack-base",
             "--max_length", "48", "--dataset_name", out / "corpus", "--dataset_split", "train",
             "--src", "eng", "--tgt", "swh", "--validation_file", DATA / "flores_demo",
             "--normalize_sense_pooling", "--normalize_last_token_embeds", "--add_lm_loss",
             "--learning_rate", "2e-3", "--train_batch_size", "32", "--test_batch_size", "64",
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
                 "--data_path", DATA / "eval" / "xcopa_sw_test.jsonl", "--output_file", results / "xcopa.json")
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
    # EasyLM drops an epoch's leftover tokens: the small Hindi sample fills 64-token rows, not 128-token ones
    align_rows, tuning_rows = ["--seq_length", "64", "--batch_size", "8"], ["--seq_length", "128", "--batch_size", "8"]
    shared = ["--lr", "2e-3", "--end_lr", "1e-5", "--b1", "0.9",
              "--b2", "0.999", "--weight_decay", "0.0", "--resid_pdrop", "0.05", "--embd_pdrop", "0.05",
              "--attn_pdrop", "0.05", "--fcm_max_ratio", "0.1", "--report_to", "none", "--log_steps", size["log_every"],
              "--seed", "0"]
    demo.run("5_commit_align", "commit_train.py", "--model_name_or_path", llama_dir, "--mode", "text",
             "--text_field", "text", "--dataset_name", DATA / "hi_text_sample.jsonl",
             "--codemix_dict_path", ROOT / "dicts" / "sample" / "hi-en.txt", "--codemix_ratio", "0.5",
             "--total_steps", size["align_steps"], "--warmup_steps", "2", "--lr_decay_steps", size["align_steps"],
             "--output_dir", out / "commit-aligned", "--save_steps", "1000", "--overwrite_output_dir", *align_rows,
             *shared)
    demo.run("6_commit", "commit_train.py", "--model_name_or_path", out / "commit-aligned", "--mode", "alpaca",
             "--dataset_name", DATA / "alpaca_sample.json", "--codemix_dict_path",
             ROOT / "dicts" / "sample" / "en-hi.txt", "--codemix_ratio", "0.9", "--block_codemix_in_template",
             "True", "--total_steps", size["commit_steps"], "--warmup_steps", "2",
             "--lr_decay_steps", size["commit_steps"], "--output_dir", out / "commit", "--save_steps", "1000",
             "--overwrite_output_dir", *tuning_rows, *shared)
    models = {"base": llama_dir, "adapted": out / "commit"}
    for name, model in models.items():
        demo.run(f"7_xquad_{name}", "run_eval.py", "--model_path", model, "--task", "xquad", "--lang", "hi",
                 "--batch_size", "8", "--device", "cpu", "--max_new_tokens", "16",
                 "--data_path", DATA / "eval" / "xquad_hi.json",
                 "--output_file", out / "results" / f"commit_{name}" / "xquad.json")
    return models


def read_metrics(path: Path) -> dict:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data.get("metrics", data)


def pick(metrics: dict, *names: str):
    for name in names:
        if name in metrics and isinstance(metrics[name], (int, float)):
            return metrics[name]
    raise KeyError(f"none of {names} in {sorted(metrics)}")


def results_table(out: Path) -> list[tuple[str, str, float, float]]:
    """(task, metric, base, adapted) rows gathered from the stages' JSON files."""
    rows = []
    res = out / "results"
    for task, file, names in (("FLORES swh_Latn devtest", "flores_ppl.json", ("perplexity", "ppl")),
                              ("FLORES swh_Latn devtest", "flores_ppl.json", ("bits_per_byte",)),
                              ("XCOPA sw (bundled sample)", "xcopa.json", ("acc", "accuracy")),
                              ("Retrieval eng->swh (FLORES pairs)", "retrieval.json",
                               ("recall@1_src2tgt", "src2tgt_recall@1", "recall_at_1_src2tgt", "recall@1")),
                              ("Retrieval swh->eng (FLORES pairs)", "retrieval.json",
                               ("recall@1_tgt2src", "tgt2src_recall@1", "recall_at_1_tgt2src"))):
        base, adapted = read_metrics(res / "base" / file), read_metrics(res / "adapted" / file)
        rows.append((task, names[0], pick(base, *names), pick(adapted, *names)))
    base, adapted = read_metrics(res / "commit_base" / "xquad.json"), read_metrics(res / "commit_adapted" / "xquad.json")
    for metric in ("exact_match", "f1"):
        rows.append(("XQuAD hi (COMMIT, bundled sample)", metric, pick(base, metric, metric.upper()),
                     pick(adapted, metric, metric.upper())))
    return rows


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


def bar_plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(3 * len(rows), 3))
    for axis, (task, metric, base, adapted) in zip(axes, rows):
        axis.bar(["base", "adapted"], [base, adapted], color=["#999999", "#2a7ab0"])
        axis.set_title(f"{task}\n{metric}", fontsize=7)
        axis.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(out: Path, rows, training, timings: dict[str, float], wall: float) -> str:
    plots = sorted(p.relative_to(out) for p in out.glob("backpack-adapted/*.png"))
    lines_out = ["# langadapt demo results", "",
                 "Base = tiny Backpack pretrained on English / tiny Llama; adapted = after sense adaptation "
                 "to Swahili / after COMMIT (align + code-mixed instruction tuning) for Hindi. Tiny models and "
                 "tiny bundled data: the numbers show the pipeline works, not what the methods reach.", "",
                 "| task | metric | base | adapted |", "|---|---|---|---|"]
    lines_out += [f"| {task} | {metric} | {base:.4g} | {adapted:.4g} |" for task, metric, base, adapted in rows]
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
    report = write_report(out, rows, training_table(out), demo.timings, time.perf_counter() - start)
    print(report)
    print(f"written: {out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    from langadapt.cli import run_cli

    run_cli(main)
