"""Sense-analysis speed: the batched topology + Procrustes collection against a per-sentence, per-word loop.

The per-word loop is what the original does for its visualisations (and what a straightforward
implementation of every analysis does): one forward per sentence and side, then a Python loop over the
aligned pairs that pools each word, builds its Gram triangle and ranks it with scipy. Both paths compute
the same rho and pooled vectors (checked). Also reports the share of the batched run's time spent in
alignment (eflomal over the split) versus the model pass. On CPU it uses `--threads` threads (default 1:
on a shared machine OpenMP spin-waiting swamps small kernels). Prints one JSON object.

    python benchmarks/bench_analysis.py [--device cuda] [--sentences 512] [--width 256] [--senses 16]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = Path(__file__).resolve().parent.parent
FLORES = ROOT / "examples" / "data" / "flores_demo"


def corpus_text(count: int) -> tuple[list[str], list[str]]:
    src, tgt = [], []
    for split in ("dev", "devtest"):
        src += (FLORES / split / f"eng_Latn.{split}").read_text(encoding="utf-8").split("\n")
        tgt += (FLORES / split / f"swh_Latn.{split}").read_text(encoding="utf-8").split("\n")
    pairs = [(s, t) for s, t in zip(src, tgt) if s.strip() and t.strip()]
    pairs = (pairs * (count // len(pairs) + 1))[:count]
    return [s for s, _ in pairs], [t for _, t in pairs]


def build(args, texts):
    import torch

    from langadapt.backpack import BackpackGPT2Config, BackpackGPT2LMHeadModel
    from langadapt.toy_models import train_byte_bpe_tokenizer

    tokenizer = train_byte_bpe_tokenizer(texts, vocab_size=args.vocab)
    torch.manual_seed(0)
    config = BackpackGPT2Config(vocab_size=len(tokenizer), n_positions=256, n_embd=args.width, n_layer=args.layers,
                                n_head=4, num_senses=args.senses, sense_intermediate_scale=2)
    return BackpackGPT2LMHeadModel(config).to(args.device).eval(), tokenizer


def batched(model, tokenizer, corpus, args):
    import torch

    from langadapt.analysis.features import iter_pair_batches
    from langadapt.analysis.procrustes import pool_senses
    from langadapt.analysis.topology import pair_rho

    rho, pooled = [], []
    for batch in iter_pair_batches(model, tokenizer, corpus, args.batch_size, args.device, progress=False):
        rho.append(pair_rho(batch.src_senses, batch.tgt_senses))
        pooled.append(pool_senses(batch.tgt_senses, batch.tgt_scores))
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return torch.cat(rho).cpu(), torch.cat(pooled).cpu()


def per_word(model, tokenizer, corpus, args):
    """One sentence and one word at a time, as the original's visualisation collector."""
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from langadapt.analysis.features import word_token_spans

    def side(words):
        ids, word_of = word_token_spans(tokenizer, words, 256)
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids], device=args.device), output_senses=True,
                        output_hidden_states=True)
        return out.senses[0], out.hidden_states[-1][0], word_of

    def word(senses, hidden, word_of, index):
        positions = [p for p, w in enumerate(word_of) if w == index]
        span = senses[:, positions, :]
        vectors = span.mean(dim=1)
        centred = torch.nn.functional.normalize(vectors - vectors.mean(0, keepdim=True), dim=-1)
        gram = (centred @ centred.T).clamp(-1, 1).cpu().numpy()
        weights = torch.softmax(torch.einsum("pd,kpd->k", hidden[positions], span), dim=0)
        return gram[np.triu_indices(len(gram), 1)], (weights[:, None] * vectors).sum(0)

    rho, pooled = [], []
    for n, pairs in enumerate(corpus.pairs):
        if not pairs:
            continue
        src, tgt = side(corpus.src_words[n]), side(corpus.tgt_words[n])
        for i, j in pairs:
            (a, _), (b, vector) = word(*src, i), word(*tgt, j)
            rho.append(spearmanr(a, b).statistic)
            pooled.append(vector.cpu())
    return torch.tensor(rho), torch.stack(pooled)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sentences", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--senses", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    import torch

    from langadapt.analysis.alignment import EflomalAligner, align_corpus

    torch.set_num_threads(args.threads)
    src, tgt = corpus_text(args.sentences)
    model, tokenizer = build(args, src + tgt)
    start = time.perf_counter()
    corpus = align_corpus(src, tgt, EflomalAligner())
    align_s = time.perf_counter() - start
    batched(model, tokenizer, corpus, args)  # warm-up
    start = time.perf_counter()
    rho_fast, pooled_fast = batched(model, tokenizer, corpus, args)
    fast_s = time.perf_counter() - start
    start = time.perf_counter()
    rho_slow, pooled_slow = per_word(model, tokenizer, corpus, args)
    slow_s = time.perf_counter() - start
    defined = ~rho_slow.isnan()
    print(json.dumps({
        "device": args.device, "sentences": args.sentences, "aligned_pairs": corpus.num_pairs,
        "model": {"width": args.width, "layers": args.layers, "senses": args.senses},
        "batched_sentences_per_s": round(args.sentences / fast_s, 1),
        "per_word_loop_sentences_per_s": round(args.sentences / slow_s, 1),
        "speedup": round(slow_s / fast_s, 2),
        "alignment_s": round(align_s, 3), "model_pass_s": round(fast_s, 3),
        "alignment_share": round(align_s / (align_s + fast_s), 3),
        "max_abs_rho_difference": float((rho_fast.double() - rho_slow)[defined].abs().max()),
        "max_abs_pooled_difference": float((pooled_fast - pooled_slow).abs().max()),
        "load_average_1min": os.getloadavg()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
