#!/usr/bin/env python
"""COMMIT data pipeline tokens/s on one core next to a training step's tokens/s; prints JSON.

The pipeline is the training one (`PackedStream` with the seed command's settings): code-mixing at
ratio 0.9 with the template blocked, Alpaca formatting, EasyLM's joint tokenisation and loss masks, and
packing into rows of `--seq_length`, over one epoch of Alpaca-shaped synthetic records (as many as
Stanford Alpaca has; instruction ~12 words, input in 40% of records, output ~60 words) drawn with
Zipf-like frequencies from a 60k-word vocabulary whose 50k most frequent words are in a MUSE-shaped
dictionary (1-3 translations each into Devanagari words). The tokenizer is a LLaMA-style sentencepiece
BPE (byte fallback) trained on English and target-language text, converted as `--tokenizer.vocab_file`
is. Times are CPU seconds of this process (one core, tokenizer threads off). The pipeline must feed at
least `TARGET_TOKENS_PER_SECOND`, about 10x what one H200 trains a 7B model at.

The training step is a COMMIT step (forward with FCM, masked loss, backward, clip, AdamW) of `--model`
(an HF causal LM folder; default: a tiny Llama) on the device available, at `--train_rows` rows.
`--save_inputs DIR` also writes the records, dictionary and tokenizer.model, to run EasyLM's own
TextProcessor on the same input for comparison (it is not part of this repository).
"""
from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from itertools import accumulate  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ALPACA_RECORDS = 52_002
TOKENIZER_RECORDS = 5_000  # more records, drawn alike, that the tokenizer is trained on
RATIO = 0.9
TARGET_TOKENS_PER_SECOND = 100_000
CONSONANTS = [chr(c) for c in range(0x0915, 0x0939)]
VOWEL_SIGNS = [""] * 3 + [chr(c) for c in range(0x093E, 0x094D)]


def sentence(rng: random.Random, vocabulary: list[str], cum_weights: list[float], length: int) -> str:
    words = rng.choices(vocabulary, cum_weights=cum_weights, k=length)
    words[0] = words[0].capitalize()
    out = []
    for word in words:
        if rng.random() < 0.08:
            word += rng.choice([",", ".", ";", ":", "?"])
        elif rng.random() < 0.02:
            word = f"({word})"
        out.append(word)
    return " ".join(out) + "."


def build_inputs(folder: Path, examples: int, seed: int = 0) -> list[dict[str, str]]:
    """Alpaca-shaped records; writes the en-xx dictionary of their vocabulary into `folder`."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvk"
    vocabulary = set()
    while len(vocabulary) < 60_000:
        vocabulary.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))))
    vocabulary = sorted(vocabulary)
    cum_weights = list(accumulate(1.0 / (rank + 10) for rank in range(len(vocabulary))))  # Zipf-like
    targets = sorted({"".join(rng.choice(CONSONANTS) + rng.choice(VOWEL_SIGNS) for _ in range(rng.randint(1, 4)))
                      for _ in range(40_000)})
    with open(folder / "en-xx.txt", "w", encoding="utf-8") as handle:
        for word in vocabulary[:50_000]:
            for _ in range(rng.randint(1, 3)):
                handle.write(f"{word}\t{rng.choice(targets)}\n")
    return [{"instruction": sentence(rng, vocabulary, cum_weights, rng.randint(6, 18)),
             "input": sentence(rng, vocabulary, cum_weights, rng.randint(5, 30)) if rng.random() < 0.4 else "",
             "output": sentence(rng, vocabulary, cum_weights, rng.randint(20, 100))} for _ in range(examples)]


def train_sentencepiece(folder: Path, records, dictionary) -> Path:
    """A LLaMA-style sentencepiece BPE on English outputs and their full translations."""
    import sentencepiece

    from langadapt.commit.codemix import CodeMixer, example_rng

    translator = CodeMixer(dictionary, 1.0)
    with open(folder / "spm.txt", "w", encoding="utf-8") as handle:
        for index, record in enumerate(records):
            handle.write(record["output"] + "\n" + translator.mix(record["output"], example_rng(1, 0, index)) + "\n")
    sentencepiece.SentencePieceTrainer.train(
        input=str(folder / "spm.txt"), model_prefix=str(folder / "tokenizer"), vocab_size=16_000, model_type="bpe",
        byte_fallback=True, character_coverage=0.99995, normalization_rule_name="identity",
        remove_extra_whitespaces=False, split_digits=True, num_threads=1, minloglevel=2)
    return folder / "tokenizer.model"


def pipeline_tokens_per_second(dataset, tokenizer, mixer, seq_length: int, rows: int) -> tuple[float, int]:
    """(CPU seconds, tokens) of packing one epoch of `dataset` into rows."""
    from langadapt.commit.data import ExampleEncoder, PackedStream

    stream = PackedStream(dataset, ExampleEncoder(tokenizer, "alpaca", mixer=mixer), seq_length)
    packed, started = 0, time.process_time()
    while stream.consumed < len(dataset) - 1:
        packed += stream.next_rows(rows)["input_ids"].numel()
    return time.process_time() - started, packed


def train_step_tokens_per_second(model_path, vocab_size: int, rows: int, seq_length: int, steps: int = 3):
    """Wall-clock tokens/s of COMMIT training steps of the model on the available device."""
    import torch

    from langadapt.commit.fcm import ForgetfulCausalMask
    from langadapt.commit.optim import build_optimizer, masked_row_mean_loss
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if model_path:
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    else:
        from langadapt.toy_models import tiny_llama_config
        model = LlamaForCausalLM(tiny_llama_config(vocab_size, max_position_embeddings=seq_length))
    model.to(device).train()
    optimizer = build_optimizer(model, 2e-5, 0.9, 0.999, 0.0, bf16_momentum=True)
    fcm = ForgetfulCausalMask(0.0, 0.1, model.config._attn_implementation)
    ids = torch.randint(3, model.config.vocab_size, (rows, seq_length + 1), device=device)
    timings = []
    for _ in range(steps + 1):  # the first is warm-up
        started = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            logits = model(input_ids=ids[:, :-1], attention_mask=fcm(ids[:, :-1], training=True)).logits
        masked_row_mean_loss(logits, ids[:, 1:], torch.ones_like(ids[:, 1:], dtype=torch.float32)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        timings.append(time.perf_counter() - started)
    parameters = sum(p.numel() for p in model.parameters())
    return rows * seq_length / min(timings[1:]), device, parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=ALPACA_RECORDS)
    parser.add_argument("--seq_length", type=int, default=512)
    parser.add_argument("--model", help="HF causal LM folder whose training step is timed (default: tiny Llama)")
    parser.add_argument("--train_rows", type=int, default=4)
    parser.add_argument("--save_inputs", help="folder to write records.jsonl, en-xx.txt and tokenizer.model to")
    args = parser.parse_args()

    import torch
    from datasets import Dataset

    from langadapt.commit.codemix import CodeMixer, load_muse_dictionary
    from langadapt.commit.setup import sentencepiece_tokenizer

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.save_inputs or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        records = build_inputs(folder, args.examples + TOKENIZER_RECORDS)
        dictionary = load_muse_dictionary(folder / "en-xx.txt")
        tokenizer = sentencepiece_tokenizer(train_sentencepiece(folder, records[args.examples:], dictionary))
        records = records[:args.examples]
        if args.save_inputs:
            with open(folder / "records.jsonl", "w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    dataset = Dataset.from_list(records)
    mixer = CodeMixer(dictionary, RATIO)
    seconds_on, tokens_on = pipeline_tokens_per_second(dataset, tokenizer, mixer, args.seq_length, 16)
    seconds_off, tokens_off = pipeline_tokens_per_second(dataset, tokenizer, None, args.seq_length, 16)
    train_rate, device, parameters = train_step_tokens_per_second(args.model, len(tokenizer), args.train_rows,
                                                                  args.seq_length)
    result = {
        "examples": args.examples, "dictionary_entries": len(dictionary), "codemix_ratio": RATIO,
        "coverage": mixer.stats.as_dict()["coverage"], "replaced_fraction": mixer.stats.as_dict()["replaced_fraction"],
        "tokenizer_vocab": len(tokenizer), "timer": "process CPU time, 1 thread",
        "pipeline_seconds_mixing": round(seconds_on, 2), "pipeline_seconds_no_mixing": round(seconds_off, 2),
        "pipeline_tokens_per_second_mixing": round(tokens_on / seconds_on),
        "pipeline_tokens_per_second_no_mixing": round(tokens_off / seconds_off),
        "target_tokens_per_second": TARGET_TOKENS_PER_SECOND,
        "train_step_tokens_per_second": round(train_rate, 1), "train_device": device,
        "train_model_parameters": parameters, "train_model": args.model or "tiny Llama (toy_models)",
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
