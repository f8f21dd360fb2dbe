"""Shared set-up of the evaluation benchmarks: a small local model and more XCOPA/XQuAD rows.

The bundled samples are a handful of rows; throughput needs a few hundred, so rows are recombined
deterministically (premise i with the alternatives of row j) in the same format.
"""
from __future__ import annotations

import argparse
import json
import random
import tempfile
import zipfile
from pathlib import Path

import torch

from langadapt.toy_models import save_tiny_model, tiny_gpt2_config, train_byte_bpe_tokenizer

ROOT = Path(__file__).resolve().parent.parent
XCOPA_SAMPLE = ROOT / "examples/data/eval/xcopa_sw_test.jsonl"
XQUAD_SAMPLE = ROOT / "examples/data/eval/xquad_hi.json"
OPUS_SAMPLE = ROOT / "examples/data/opus/DemoNews_latest_moses_en-sw.txt.zip"


def corpus_text() -> list[str]:
    rows = [json.loads(line) for line in XCOPA_SAMPLE.read_text(encoding="utf-8").splitlines()]
    squad = json.loads(XQUAD_SAMPLE.read_text(encoding="utf-8"))
    text = [f"{r['premise']} {r['choice1']} {r['choice2']} kwa sababu kwa hiyo" for r in rows]
    text += [p["context"] + " " + " ".join(q["question"] for q in p["qas"])
             for article in squad["data"] for p in article["paragraphs"]]
    return text * 4 + ["Background: Question: Answer:"] * 4


def build_model(folder: Path, n_embd: int = 32, n_layer: int = 2, n_head: int = 4, vocab_size: int = 0) -> str:
    """A GPT-2 with random weights and a byte-level BPE trained on the samples, saved to `folder`. The model's
    vocabulary is the tokenizer's 600 ids, or `vocab_size` rows (ids the tokenizer never emits, as in a real
    model's output layer, whose size sets the cost of every position's logits)."""
    if (folder / "config.json").is_file():
        return str(folder)
    tokenizer = train_byte_bpe_tokenizer(corpus_text(), vocab_size=600)
    config = tiny_gpt2_config(max(vocab_size, len(tokenizer)), n_positions=256, n_embd=n_embd, n_layer=n_layer,
                              n_head=n_head)
    return save_tiny_model(config, tokenizer, folder)


def expand_xcopa(target: Path, n: int) -> str:
    rows = [json.loads(line) for line in XCOPA_SAMPLE.read_text(encoding="utf-8").splitlines()]
    with open(target, "w", encoding="utf-8") as handle:
        for i in range(n):
            base, alt = rows[i % len(rows)], rows[(i // len(rows)) % len(rows)]
            row = dict(base, idx=i)
            if i >= len(rows):
                row.update(choice1=alt["choice1"], choice2=alt["choice2"], question=alt["question"])
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return str(target)


def swahili_sentences() -> list[str]:
    """The bundled FLORES sample's Swahili, then the demo OPUS corpus's Swahili side: 1,700+ distinct
    sentences, so recombined rows are distinct, as real test sets are (with the FLORES sample's 8 alone,
    the 400 XCOPA rows held 16 contexts, and the harness, which computes a repeated request once, gained
    from a repetition no real task has)."""
    folder = ROOT / "examples/data/eval/flores"
    lines = [line for path in sorted(folder.glob("*/swh_Latn.*")) for line in
             path.read_text(encoding="utf-8").splitlines()]
    with zipfile.ZipFile(OPUS_SAMPLE) as archive:
        lines += archive.read("DemoNews.en-sw.sw").decode("utf-8").splitlines()
    return list(dict.fromkeys(line.strip() for line in lines if line.strip()))


def fresh_rows(task: str, n: int, seed: int, target: Path) -> list[dict]:
    """`n` rows of xcopa, xstorycloze or belebele in the hub format, written to `target` as JSONL: the bundled
    Swahili sentences recombined at random (not the test fixtures); some fields carry spaces the originals strip."""
    rng, pool = random.Random(seed), swahili_sentences()

    def text(k: int) -> str:
        return " ".join(rng.choice(pool) for _ in range(k))

    def spaced(s: str) -> str:
        return rng.choice(["", " ", "  "]) + s + rng.choice(["", " ", "\n"])

    rows = []
    for i in range(n):
        if task == "xcopa":
            rows.append({"premise": spaced(text(1)), "choice1": spaced(" ".join(rng.choice(pool).split()[:6])),
                         "choice2": spaced(" ".join(rng.choice(pool).split()[:6])),
                         "question": rng.choice(["cause", "effect"]), "label": rng.randrange(2), "idx": i})
        elif task == "xstorycloze":
            rows.append({"story_id": str(i), **{f"input_sentence_{k}": spaced(rng.choice(pool)) for k in range(1, 5)},
                         "sentence_quiz1": spaced(rng.choice(pool)), "sentence_quiz2": spaced(rng.choice(pool)),
                         "answer_right_ending": 1 + rng.randrange(2)})
        else:
            rows.append({"flores_passage": spaced(text(rng.randint(2, 6))), "question": spaced(text(1)[:60]),
                         **{f"mc_answer{k}": spaced(" ".join(rng.choice(pool).split()[: rng.randint(1, 5)]))
                            for k in range(1, 5)},
                         "correct_answer_num": str(1 + rng.randrange(4)), "dialect": "swh_Latn",
                         "question_number": i})
    target.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return rows


def make_belebele(target: Path, n: int) -> str:
    """Belebele-format rows: a passage of six consecutive bundled Swahili sentences, a question, four short options."""
    sentences = swahili_sentences()
    with open(target, "w", encoding="utf-8") as handle:
        for i in range(n):
            passage = " ".join(sentences[(i + k) % len(sentences)] for k in range(6))
            options = [sentences[(i + k) % len(sentences)].split()[0] for k in range(4)]
            handle.write(json.dumps({"flores_passage": passage, "question": "Ni nini kilitajwa kwanza?",
                                     **{f"mc_answer{k + 1}": opt for k, opt in enumerate(options)},
                                     "correct_answer_num": str(1 + i % 4), "dialect": "swh_Latn", "question_number": i},
                                    ensure_ascii=False) + "\n")
    return str(target)


def expand_xquad(target: Path, n: int) -> str:
    squad = json.loads(XQUAD_SAMPLE.read_text(encoding="utf-8"))
    paragraphs = [p for article in squad["data"] for p in article["paragraphs"]]
    out, count = [], 0
    while count < n:
        for p in paragraphs:
            qas = [dict(q, id=f"{q['id']}-{count + k}") for k, q in enumerate(p["qas"])][: n - count]
            out.append({"context": p["context"], "qas": qas})
            count += len(qas)
            if count >= n:
                break
    target.write_text(json.dumps({"version": "1.1", "data": [{"title": "bench", "paragraphs": out}]},
                                 ensure_ascii=False), encoding="utf-8")
    return str(target)


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--examples", type=int, default=400)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement; the fastest counts")
    parser.add_argument("--n_embd", type=int, default=32, help="model width (32 x 2 layers: the tests' tiny model)")
    parser.add_argument("--n_layer", type=int, default=2)
    parser.add_argument("--vocab_size", type=int, default=0,
                        help="rows of the model's output layer (default 0: the tokenizer's 600; 50257 is GPT-2's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 keeps a shared machine's noise low)")


def prepare(args: argparse.Namespace, device: str = "cpu", fp16: bool = False):
    """(work folder, model, tokenizer, model description) for a benchmark run."""
    from langadapt.evaluation.model_io import load_model_for_eval

    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    heads = max(4, args.n_embd // 64)  # GPT-2's 64-wide heads from width 256 up
    model, tokenizer = load_model_for_eval(
        build_model(work / "model", n_embd=args.n_embd, n_layer=args.n_layer, n_head=heads,
                    vocab_size=args.vocab_size), device, fp16)
    return work, model, tokenizer, (f"gpt2 {args.n_layer}x{args.n_embd} (random), vocabulary "
                                    f"{model.config.vocab_size}, {device}, {args.threads} thread(s)")
