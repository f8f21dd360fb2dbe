"""Greedy generation with stop strings, batched, for any causal LM that returns a key/value cache.

Our own small loop rather than `model.generate`: the Backpack is not a `GenerationMixin` model, and a
loop over `model(...)` with `past_key_values` treats every LM the same. Prompts are left-padded with
position ids from the attention mask. As in the harness, a row's whole continuation is decoded at the end and
cut at the first stop string: decoded alone a "\n" token can read as "\n" where, joined to the byte tokens
after it, it reads as U+FFFD.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from ..progress import progress_bar

from ..errors import LangAdaptError
from .batching import last_logits_only, pad_left, positions_from_mask


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """Text before the earliest stop string, and whether one was found."""
    cut = min((text.find(stop) for stop in stops if stop and stop in text), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


@dataclass(frozen=True)
class EndRule:
    """Which token ends a row and how its tokens become text. The default is `generate`'s: the model's EOS,
    dropped, special tokens skipped. `end_token` replaces EOS (None: the tokenizer's); `keep_end` keeps it in
    the text, and with `skip_special_tokens` off any EOS generated before it is text too. `watch_stops`: a row
    also ends once a stop string is in the decoding of its last tokens (as many as the stop encodes to), as the
    harness's stopping criteria; off, only the end token or the length ends it."""
    end_token: Optional[int] = None
    keep_end: bool = False
    skip_special_tokens: bool = True
    watch_stops: bool = True


class GreedyGenerator:
    def __init__(self, model, tokenizer, max_length: int, batch_size: int = 8, max_new_tokens: int = 64,
                 stop: Sequence[str] = ("\n",), progress: bool = True, end: EndRule = EndRule()):
        if max_new_tokens < 1 or max_new_tokens >= max_length:
            raise LangAdaptError(f"--max_new_tokens must be in [1, {max_length - 1}], got {max_new_tokens}")
        self.model = model
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.max_prompt = max_length - max_new_tokens
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.stop = tuple(stop)
        self.progress = progress
        self.end_token = tokenizer.eos_token_id if end.end_token is None else end.end_token
        self.end = end
        self.lookback = max((len(tokenizer.encode(stop, add_special_tokens=False)) for stop in self.stop), default=1)
        self.truncated = 0

    @torch.inference_mode()
    def generate(self, prompts: Sequence[Sequence[int]]) -> list[str]:
        """One completion per prompt (token ids), cut before the first stop string."""
        fitted = []
        for prompt in prompts:
            if len(prompt) > self.max_prompt:
                self.truncated += 1
                prompt = prompt[-self.max_prompt:]
            fitted.append(list(prompt))
        order = sorted(range(len(fitted)), key=lambda i: -len(fitted[i]))
        outputs = [""] * len(fitted)
        batches = [order[i: i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for batch in progress_bar(batches, desc="generating", disable=not self.progress, leave=False):
            for i, text in zip(batch, self._generate_batch([fitted[i] for i in batch])):
                outputs[i] = text
        return outputs

    def _generate_batch(self, prompts: list[list[int]]) -> list[str]:
        device = next(self.model.parameters()).device
        ids, mask = pad_left(prompts, self.pad_id, device)
        positions = positions_from_mask(mask)
        generated: list[list[int]] = [[] for _ in prompts]
        done = [False] * len(prompts)
        cache = None
        keep_last = last_logits_only(self.model)
        for _ in range(self.max_new_tokens):
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache,
                             use_cache=True, **keep_last)
            cache = out.past_key_values
            next_ids = out.logits[:, -1].argmax(-1)
            for row, token in enumerate(next_ids.tolist()):
                if done[row]:
                    continue
                ended = token == self.end_token
                if ended and not self.end.keep_end:
                    done[row] = True
                    continue
                generated[row].append(token)
                done[row] = ended or (self.end.watch_stops and cut_at_stop(
                    self.tokenizer.decode(generated[row][-self.lookback:]), self.stop)[1])
            if all(done):
                break
            ids = next_ids.unsqueeze(-1)
            positions = positions[:, -1:] + 1
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        decode = self.tokenizer.decode
        return [cut_at_stop(decode(tokens, skip_special_tokens=self.end.skip_special_tokens), self.stop)[0]
                for tokens in generated]
