"""Sentence retrieval from mean-pooled hidden states (Tatoeba), scored by cosine Recall@1."""
from __future__ import annotations

from typing import Sequence

import torch
from ..progress import progress_bar

from .batching import pad_right, positions_from_mask


def final_states(model, out) -> torch.Tensor:
    """The representation to pool: a Backpack's output vectors o, else the last hidden layer."""
    states = getattr(out, "backpack_hidden_states", None)
    return states if states is not None else out.hidden_states[-1]


@torch.inference_mode()
def embed_sentences(model, tokenizer, sentences: Sequence[str], max_length: int, batch_size: int = 32,
                    progress: bool = True, original_indexing: bool = False) -> torch.Tensor:
    """[N, d] float32 mean of the final states over each sentence's real tokens (no special tokens).

    `original_indexing` restores the original run_eval's `hidden_states[-1]` on [B, L, D] states: batches of
    consecutive sentences, each sentence pooled, over its own length, from the batch's LAST sentence's
    states, so recall depends on `batch_size` and is right only at 1."""
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = [tokenizer.encode(text, add_special_tokens=False)[:max_length] or [pad_id] for text in sentences]
    order = (list(range(len(encoded))) if original_indexing
             else sorted(range(len(encoded)), key=lambda i: -len(encoded[i])))
    result = torch.zeros(len(encoded), 0)
    chunks = [order[i: i + batch_size] for i in range(0, len(order), batch_size)]
    for chunk in progress_bar(chunks, desc="embedding", disable=not progress, leave=False):
        ids, mask = pad_right([encoded[i] for i in chunk], pad_id, device)
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions_from_mask(mask),
                    output_hidden_states=True)
        states = final_states(model, out).float()
        if original_indexing:
            states = states[-1:].expand_as(states)
        weights = mask.unsqueeze(-1).float()
        pooled = ((states * weights).sum(1) / weights.sum(1)).cpu()
        if result.shape[1] == 0:
            result = torch.zeros(len(encoded), pooled.shape[1])
        result[torch.tensor(chunk)] = pooled
    return result


def recall_at_1(queries: torch.Tensor, keys: torch.Tensor) -> tuple[float, list[int]]:
    """Share of queries whose most cosine-similar key is their own pair (row i <-> row i), and the picks."""
    queries = torch.nn.functional.normalize(queries, dim=-1)
    keys = torch.nn.functional.normalize(keys, dim=-1)
    picks = (queries @ keys.T).argmax(-1)
    hits = picks == torch.arange(len(queries))
    return hits.float().mean().item(), picks.tolist()
