"""One batched model pass that pools a Backpack's senses and hidden states per whitespace word.

Sentences are tokenised as running text and each token is assigned to the whitespace word its first
character belongs to (character offsets; a separating space belongs to the word after it, as a
byte-level BPE's leading-space token does), so a word's subwords are the tokens the model saw in context
(`leading_space`: the original's " word" for every word, the first included). Per word: the mean of its
subwords' K sense vectors [K, d], the mean contextual hidden state [d], and the sense-gating scores
sum_p <h_p, s_kp> [K] (the original's mixture). Words are pooled with one membership matrix per batch:
one forward per side per batch, no per-word model call.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import torch

from ..errors import LangAdaptError
from ..evaluation.batching import pad_right
from .alignment import AlignedCorpus


def require_backpack(model, name: str) -> None:
    from ..models import is_backpack

    if not is_backpack(model):
        found = type(getattr(model, "module", model)).__name__
        raise LangAdaptError(f"{name}: a Backpack model is needed (it has senses); found {found} "
                             f"(model_type {getattr(model.config, 'model_type', '?')})")


def word_token_spans(tokenizer, words: Sequence[str], max_length: int,
                     leading_space: bool = False) -> tuple[list[int], list[int]]:
    """Token ids of " ".join(words) (truncated to `max_length`) and each token's word index (-1: empty token).

    `leading_space` puts a space before the first word too: the original's add_prefix_space +
    is_split_into_words, which encodes every word of a byte-level BPE as " word"."""
    if not getattr(tokenizer, "is_fast", False):
        raise LangAdaptError("the analyses need a fast tokenizer (character offsets); pass --tokenizer")
    text = (" " if leading_space else "") + " ".join(words)
    owner = []  # the word each character belongs to; a separating space belongs to the word after it
    for index, word in enumerate(words):
        owner += [index] * (len(word) + (index > 0 or leading_space))
    encoding = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
    ids, word_of = [], []
    for token, (start, end) in zip(encoding["input_ids"][:max_length], encoding["offset_mapping"][:max_length]):
        ids.append(token)
        word_of.append(owner[start] if end > start else -1)
    return ids, word_of


@dataclass
class WordFeatures:
    """Per-word pooled features of a batch of sentences; W = the longest sentence's word count."""
    senses: torch.Tensor  # [B, W, K, d] mean over the word's subwords
    scores: torch.Tensor  # [B, W, K] sum over subwords of <h_p, s_kp>
    context: torch.Tensor  # [B, W, d] mean hidden state over the word's subwords
    present: torch.Tensor  # [B, W] bool: the word has at least one (untruncated) token


@torch.inference_mode()
def word_features(model, tokenizer, sentences: Sequence[Sequence[str]], device, max_length: int,
                  leading_space: bool = False) -> WordFeatures:
    """One forward over a batch of word-split sentences, pooled per word."""
    spans = [word_token_spans(tokenizer, words, max_length, leading_space) for words in sentences]
    ids, mask = pad_right([s[0] for s in spans], tokenizer.pad_token_id, device)
    width = max(max((len(w) for w in sentences), default=1), 1)
    rows, words, positions = [], [], []
    for row, (_, word_of) in enumerate(spans):
        for position, word in enumerate(word_of):
            if word >= 0:
                rows.append(row), words.append(word), positions.append(position)
    membership = torch.zeros(len(sentences), width, ids.shape[1])
    membership[rows, words, positions] = 1.0
    membership = membership.to(device)
    counts = membership.sum(-1)
    mean_weights = membership / counts.clamp_min(1)[..., None]
    out = model(input_ids=ids, attention_mask=mask, output_senses=True, output_hidden_states=True)
    senses = out.senses.float()  # [B, K, L, d]
    hidden = out.hidden_states[-1].float()  # [B, L, d], the contextualizer's last layer
    gate = torch.einsum("bld,bkld->bkl", hidden, senses)
    return WordFeatures(senses=torch.einsum("bwl,bkld->bwkd", mean_weights, senses),
                        scores=torch.einsum("bwl,bkl->bwk", membership, gate),
                        context=torch.einsum("bwl,bld->bwd", mean_weights, hidden),
                        present=counts > 0)


@dataclass
class PairBatch:
    """Features of the aligned pairs of one batch of sentences (P pairs)."""
    sentence: list[int]
    src_word: list[int]
    tgt_word: list[int]
    src_senses: torch.Tensor  # [P, K, d]
    tgt_senses: torch.Tensor
    src_scores: torch.Tensor  # [P, K]
    tgt_scores: torch.Tensor
    src_context: torch.Tensor  # [P, d]
    tgt_context: torch.Tensor


def iter_pair_batches(model, tokenizer, corpus: AlignedCorpus, batch_size: int, device,
                      max_pairs: Optional[int] = None, progress: bool = True,
                      leading_space: bool = False) -> Iterator[PairBatch]:
    """Aligned-pair features, batch by batch over the sentences that have pairs, up to `max_pairs`."""
    from ..progress import progress_bar

    from ..models import max_positions

    max_length = max_positions(model.config) or 1024
    todo = [n for n, pairs in enumerate(corpus.pairs) if pairs]
    budget = max_pairs if max_pairs is not None else corpus.num_pairs
    bar = progress_bar(total=min(budget, corpus.num_pairs), desc="aligned pairs", unit="pair", disable=not progress)
    for start in range(0, len(todo), batch_size):
        if budget <= 0:
            break
        chunk = todo[start: start + batch_size]
        src = word_features(model, tokenizer, [corpus.src_words[n] for n in chunk], device, max_length, leading_space)
        tgt = word_features(model, tokenizer, [corpus.tgt_words[n] for n in chunk], device, max_length, leading_space)
        src_present, tgt_present = src.present.cpu(), tgt.present.cpu()
        rows, src_idx, tgt_idx = [], [], []
        for row, n in enumerate(chunk):
            for i, j in corpus.pairs[n]:
                if len(rows) < budget and src_present[row, i] and tgt_present[row, j]:
                    rows.append(row), src_idx.append(i), tgt_idx.append(j)
        if not rows:
            continue
        budget -= len(rows)
        bar.update(len(rows))
        r, i, j = (torch.tensor(v, device=device) for v in (rows, src_idx, tgt_idx))
        yield PairBatch(sentence=[chunk[row] for row in rows], src_word=src_idx, tgt_word=tgt_idx,
                        src_senses=src.senses[r, i], tgt_senses=tgt.senses[r, j],
                        src_scores=src.scores[r, i], tgt_scores=tgt.scores[r, j],
                        src_context=src.context[r, i], tgt_context=tgt.context[r, j])
    bar.close()
