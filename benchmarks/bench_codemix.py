#!/usr/bin/env python
"""COMMIT data pipeline throughput with code-mixing on vs off, on one core; prints JSON.

The pipeline is the training one (`PackedStream`): code-mixing + Alpaca formatting + tokenisation + loss
masks + packing into rows, over one epoch of Alpaca-shaped synthetic records (as many as Stanford Alpaca
has: instruction ~12 words, input in 40% of records, output ~60 words, punctuation and capitals as in
English text) drawn with Zipf-like frequencies from a 60k-word vocabulary whose 50k most frequent words
are in a 50k-entry MUSE dictionary with 1-3 translations each into syllable-shaped Devanagari words. The
tokenizer is a byte-level BPE trained on English and target-language text, as a multilingual model's is.
Times are CPU seconds of this process (one core, tokenizer threads off), best of `--repeats` runs with
on/off interleaved, so that other work on a shared machine affects them little.

Reported overheads, relative to the whole pipeline with mixing off:
- `codemix_step_overhead`: the code-mixing itself (per-example random streams included), timed on the
  pipeline's own text step (`ExampleEncoder.texts`, one mixer call per batch of examples) over the
  first epoch, when every distinct word is seen and parsed for the first time, building the mixer
  included; the target (at most 10%) is about this figure. `codemix_step_overhead_later_epochs`: the
  same with every word already parsed.
- `pipeline_time_overhead`: the whole pipeline on vs off; it also pays for tokenising the mixed text
  (`tokenize_mixed_text_overhead`, the rest after the mixing step): target-language words cost the
  tokenizer more than the English words they replace, whatever the mixing code does.
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
TOKENIZER_RECORDS = 10_000  # more records, drawn alike, that the tokenizer is trained on
RATIO = 0.9
CONSONANTS = [chr(c) for c in range(0x0915, 0x0939)]
VOWEL_SIGNS = [""] * 3 + [chr(c) for c in range(0x093E, 0x094D)]


def synthetic_vocabulary(rng: random.Random, size: int) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvk"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(2, 9))))
    return sorted(words)


def devanagari_word(rng: random.Random) -> str:
    return "".join(rng.choice(CONSONANTS) + rng.choice(VOWEL_SIGNS) for _ in range(rng.randint(1, 4)))


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
    vocabulary = synthetic_vocabulary(rng, 60_000)
    cum_weights = list(accumulate(1.0 / (rank + 10) for rank in range(len(vocabulary))))  # Zipf-like
    targets = sorted({devanagari_word(rng) for _ in range(40_000)})
    with open(folder / "en-xx.txt", "w", encoding="utf-8") as handle:
        for word in vocabulary[:50_000]:
            for _ in range(rng.randint(1, 3)):
                handle.write(f"{word}\t{rng.choice(targets)}\n")
    return [{"instruction": sentence(rng, vocabulary, cum_weights, rng.randint(6, 18)),
             "input": sentence(rng, vocabulary, cum_weights, rng.randint(5, 30)) if rng.random() < 0.4 else "",
             "output": sentence(rng, vocabulary, cum_weights, rng.randint(20, 100))} for _ in range(examples)]


# GPT-2's pre-tokenizer regex with combining marks (\p{M}) kept inside words: GPT-2's own splits every
# Devanagari vowel sign off its consonant, so that no merge can ever join them; multilingual tokenizers
# (BLOOM's, SentencePiece ones) keep them together.
WORDS_WITH_MARKS = r"'s|'t|'re|'ve|'m|'ll|'d| ?[\p{L}\p{M}]+| ?\p{N}+| ?[^\s\p{L}\p{M}\p{N}]+|\s+(?!\S)|\s+"


def train_bilingual_tokenizer(records, dictionary):
    """Byte-level BPE on the English outputs of half the records and the target-language outputs (the
    dictionary's translation of every word) of the other half, so that target words get their own
    tokens as in a multilingual model's tokenizer."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from langadapt.codemix import CodeMixer, example_rng
    from langadapt.toy_models import EOS_TOKEN

    translator = CodeMixer(dictionary, 1.0)
    half = len(records) // 2
    english = [record["output"] for record in records[:half]]
    target = [translator.mix(record["output"], example_rng(1, 0, index))
              for index, record in enumerate(records[half:])]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(WORDS_WITH_MARKS), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=16_000, special_tokens=[EOS_TOKEN], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(english + target, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN,
                                   pad_token=EOS_TOKEN)


def run_pipeline(dataset, tokenizer, mixer, seq_length: int, rows: int) -> tuple[float, int, int]:
    """(CPU seconds, examples, tokens) of packing one epoch of `dataset` into rows."""
    from langadapt.commit.data import ExampleEncoder, PackedStream

    stream = PackedStream(dataset, ExampleEncoder(tokenizer, "alpaca", mixer=mixer), seq_length)
    packed = 0
    started = time.process_time()
    while stream.consumed < len(dataset):
        packed += stream.next_rows(rows)["input_ids"].numel()
    return time.process_time() - started, stream.consumed, packed + len(stream.tokens)


def time_mixing(dataset, tokenizer, dictionary) -> tuple[float, float]:
    """CPU seconds code-mixing adds to the pipeline's text step (`ExampleEncoder.texts`: per-example
    random streams, mixing, formatting) over the pipeline's batches in its order, mixed minus unmixed,
    in a first epoch (building the mixer from the loaded dictionary included) and in a second one (every
    word already parsed)."""
    from langadapt.codemix import CodeMixer
    from langadapt.commit.data import ENCODE_BATCH, ExampleEncoder, PackedStream

    stream = PackedStream(dataset, ExampleEncoder(tokenizer, "alpaca"), 16)
    sampler = iter(stream.sampler)
    order = [next(sampler) for _ in range(len(dataset))]
    batches = [order[start:start + ENCODE_BATCH] for start in range(0, len(order), ENCODE_BATCH)]
    batches = [(stream.dataset[indices], indices) for indices in batches]

    def texts_of_epoch(encoder, epoch: int) -> None:
        for records, indices in batches:
            encoder.texts(records, indices, [epoch] * len(indices))

    started = time.process_time()
    mixing = ExampleEncoder(tokenizer, "alpaca", mixer=CodeMixer(dictionary, RATIO))
    texts_of_epoch(mixing, 0)
    first = time.process_time() - started
    started = time.process_time()
    texts_of_epoch(mixing, 1)
    later = time.process_time() - started
    started = time.process_time()
    texts_of_epoch(ExampleEncoder(tokenizer, "alpaca"), 0)
    plain = time.process_time() - started
    return first - plain, later - plain


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=ALPACA_RECORDS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seq_length", type=int, default=512)
    args = parser.parse_args()

    import torch
    from datasets import Dataset

    from langadapt.codemix import CodeMixer, load_muse_dictionary

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        records = build_inputs(Path(tmp), args.examples + TOKENIZER_RECORDS)
        dictionary = load_muse_dictionary(Path(tmp) / "en-xx.txt")
    tokenizer = train_bilingual_tokenizer(records[args.examples:], dictionary)
    records = records[:args.examples]
    dataset = Dataset.from_list(records)

    seconds = {"off": [], "on": []}
    mixing = {"first": [], "later": []}
    for _ in range(args.repeats):  # interleaved so that machine load hits both alike
        for label in ("off", "on"):
            mixer = CodeMixer(dictionary, RATIO) if label == "on" else None
            elapsed, examples, tokens = run_pipeline(dataset, tokenizer, mixer, args.seq_length, 16)
            seconds[label].append(elapsed)
            if mixer is not None:
                stats, tokens_on, examples_on = mixer.stats.as_dict(), tokens, examples
            else:
                tokens_off, examples_off = tokens, examples
        first, later = time_mixing(dataset, tokenizer, dictionary)
        mixing["first"].append(first)
        mixing["later"].append(later)
    best = {label: min(values) for label, values in {**seconds, **mixing}.items()}
    result = {
        "examples": args.examples, "dictionary_entries": len(dictionary), "codemix_ratio": RATIO,
        "coverage": stats["coverage"], "replaced_fraction": stats["replaced_fraction"],
        "tokenizer_vocab": len(tokenizer), "timer": "process CPU time, 1 thread",
        "examples_per_second_off": round(examples_off / best["off"], 1),
        "examples_per_second_on": round(examples_on / best["on"], 1),
        "tokens_per_second_off": round(tokens_off / best["off"]),
        "tokens_per_second_on": round(tokens_on / best["on"]),
        "tokens_per_example_off": round(tokens_off / examples_off, 1),
        "tokens_per_example_on": round(tokens_on / examples_on, 1),
        "pipeline_seconds_off": round(best["off"], 3),
        "pipeline_seconds_on": round(best["on"], 3),
        "codemix_step_seconds": round(best["first"], 3),
        "codemix_step_seconds_later_epochs": round(best["later"], 3),
        "codemix_step_overhead": round(best["first"] / best["off"], 4),
        "codemix_step_overhead_later_epochs": round(best["later"] / best["off"], 4),
        "tokenize_mixed_text_overhead": round((best["on"] - best["off"] - best["first"]) / best["off"], 4),
        "pipeline_time_overhead": round(best["on"] / best["off"] - 1, 4),
        "target_overhead": 0.10,
    }
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
