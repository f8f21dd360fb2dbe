"""COMMIT's data pipeline: code-mix, format, tokenise with loss masks, pack into fixed-length rows.

As in EasyLM, examples are concatenated into one token stream (BOS + text + EOS each) and cut into rows
of `seq_length` inputs; the targets are the next tokens and carry the loss mask of the target token, so a
row may start mid-example and no token is dropped at row boundaries. Each rank packs its own shard of the
examples; its position (examples consumed, epoch, and the tokens left over from the last cut) is small
and saved in every checkpoint, so a resumed run continues with exactly the rows it would have seen.
"""
from __future__ import annotations

import logging
from typing import Any, Optional, Sequence

import torch

from ..codemix import CodeMixer, alpaca_prompts_and_responses
from ..codemix_random import ExampleStreams
from ..errors import LangAdaptError
from ..training import ResumableSampler

logger = logging.getLogger(__name__)

# Below this dictionary coverage of the data's words, the dictionary is almost surely for another
# language pair or the other direction (MUSE en-xx covers roughly half of English running words).
LOW_COVERAGE = 0.01
COVERAGE_CHECK_WORDS = 500
# Distinct words whose BPE split a fast tokenizer remembers (its default is 10,000): code-mixed data has
# several times more (English words, their translations, their punctuated forms), and a cache that
# thrashes makes tokenising a fifth slower. Each entry is a few hundred bytes; the size is not saved with
# the tokenizer.
TOKENIZER_WORD_CACHE = 1 << 18
# Examples encoded per refill: mixing and tokenising a few hundred at once spreads the per-call costs of
# numpy and the tokenizer thin; what is packed does not depend on it.
ENCODE_BATCH = 256


class ExampleEncoder:
    """Records -> (token ids, per-token loss mask); `mode` "alpaca" trains on the response + EOS only,
    "text" on every token (the alignment stage)."""

    def __init__(self, tokenizer, mode: str, text_field: str = "text", mixer: Optional[CodeMixer] = None,
                 block_codemix_in_template: bool = True, add_bos_token: bool = True,
                 add_eos_token: bool = True, seed: int = 0, source: str = "dataset"):
        if mode not in ("alpaca", "text"):
            raise LangAdaptError(f"--mode must be alpaca or text, got {mode!r}")
        if add_eos_token and tokenizer.eos_token_id is None:
            raise LangAdaptError("the tokenizer has no EOS token; pass a tokenizer with one (--tokenizer_name) "
                                 "or --add_eos_token=False")
        if add_bos_token and tokenizer.bos_token_id is None:
            raise LangAdaptError("the tokenizer has no BOS token; pass --add_bos_token=False")
        self.tokenizer, self.mode, self.text_field, self.mixer = tokenizer, mode, text_field, mixer
        _enlarge_word_cache(tokenizer)
        self.block_codemix_in_template, self.seed, self.source = block_codemix_in_template, seed, source
        self.prefix = [tokenizer.bos_token_id] if add_bos_token else []
        self.suffix = [tokenizer.eos_token_id] if add_eos_token else []
        self._coverage_checked = mixer is None

    def columns(self) -> list[str]:
        return ["instruction", "input", "output"] if self.mode == "alpaca" else [self.text_field]

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]

    def encode(self, records: dict[str, list], indices: Sequence[int], epochs: Sequence[int]
               ) -> list[tuple[list[int], list[int]]]:
        """Encode a column batch; example `indices[i]` of epoch `epochs[i]` gets its own mixing stream."""
        texts = self.texts(records, indices, epochs)
        ignored = len(self.prefix)
        if self.mode == "alpaca":
            prompts, responses = map(self._tokenize, texts)
            return [(self.prefix + prompt + response + self.suffix,
                     [0] * (ignored + len(prompt)) + [1] * (len(response) + len(self.suffix)))
                    for prompt, response in zip(prompts, responses)]
        return [(self.prefix + ids + self.suffix, [0] * ignored + [1] * (len(ids) + len(self.suffix)))
                for ids in self._tokenize(texts[0])]

    def texts(self, records: dict[str, list], indices: Sequence[int], epochs: Sequence[int]) -> list[list[str]]:
        """The batch's texts as they are tokenised, code-mixed and formatted: [prompts, responses] in
        alpaca mode (only responses are trained), [texts] in text mode. The whole batch is mixed at once."""
        rngs = ExampleStreams(self.seed, epochs, indices) if self.mixer is not None else [None] * len(indices)
        if self.mode == "alpaca":
            contexts = records.get("input") or [""] * len(rngs)
            texts = list(alpaca_prompts_and_responses(records["instruction"], contexts, records["output"],
                                                      self.mixer, rngs, self.block_codemix_in_template,
                                                      self.source))
        else:
            texts = [self._plain_texts(records)]
            if self.mixer is not None:
                texts = [[mixed for [mixed] in self.mixer.mix_batch([[text] for text in texts[0]], rngs)]]
        self._check_coverage()
        return texts

    def _plain_texts(self, records) -> list[str]:
        texts = records[self.text_field]
        for text in texts:
            if not isinstance(text, str):
                raise LangAdaptError(f"{self.source}: field {self.text_field!r} must hold text, "
                                     f"got {type(text).__name__}")
        return texts

    def _check_coverage(self) -> None:
        if self._coverage_checked or self.mixer.stats.words < COVERAGE_CHECK_WORDS:
            return
        self._coverage_checked = True
        coverage = self.mixer.stats.coverage
        if coverage < LOW_COVERAGE:
            logger.warning("the dictionary %s covers only %.2f%% of the words of %s: is it the right language "
                           "pair and direction (en-xx for instruction tuning, xx-en for alignment)?",
                           self.mixer.dictionary.path, 100 * coverage, self.source)


def _enlarge_word_cache(tokenizer) -> None:
    """Give a fast BPE tokenizer's word cache `TOKENIZER_WORD_CACHE` entries (others are left alone)."""
    model = getattr(getattr(tokenizer, "backend_tokenizer", None), "model", None)
    if hasattr(model, "_resize_cache"):
        model._resize_cache(TOKENIZER_WORD_CACHE)


def check_dictionary_direction(mixer: Optional[CodeMixer], mode: str) -> None:
    """Warn when the file name says the dictionary maps the wrong way for the stage."""
    if mixer is None or mixer.dictionary.source_lang is None:
        return
    source, target = mixer.dictionary.source_lang, mixer.dictionary.target_lang
    if mode == "alpaca" and source != "en":
        logger.warning("instruction tuning mixes English data, but %s translates %s->%s (expected en-xx)",
                       mixer.dictionary.path, source, target)
    if mode == "text" and target != "en":
        logger.warning("alignment mixes target-language text into English, but %s translates %s->%s "
                       "(expected xx-en)", mixer.dictionary.path, source, target)


class PackedStream:
    """Endless rows of packed tokens from this rank's shard of `dataset`, resumable exactly."""

    def __init__(self, dataset, encoder: ExampleEncoder, seq_length: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True, encode_batch: int = ENCODE_BATCH):
        self.dataset = dataset.select_columns([c for c in encoder.columns() if c in dataset.column_names])
        self.encoder, self.seq_length, self.encode_batch = encoder, seq_length, encode_batch
        self.sampler = ResumableSampler(len(dataset), seed=seed, shuffle=shuffle, rank=rank,
                                        world_size=world_size)
        self._order = iter(self.sampler)
        self.consumed = 0
        self.tokens: list[int] = []
        self.masks: list[int] = []

    def _refill(self) -> None:
        indices, epochs = [], []
        for _ in range(self.encode_batch):
            indices.append(next(self._order))
            epochs.append(self.sampler.epoch)
        for ids, mask in self.encoder.encode(self.dataset[indices], indices, epochs):
            self.tokens.extend(ids)
            self.masks.extend(mask)
        self.consumed += len(indices)

    def next_rows(self, rows: int) -> dict[str, torch.Tensor]:
        """`input_ids`, `targets` (next tokens) and `loss_mask` (of the targets), each [rows, seq_length]."""
        length = rows * self.seq_length
        while len(self.tokens) <= length:
            self._refill()
        tokens = torch.tensor(self.tokens[: length + 1], dtype=torch.long)
        masks = torch.tensor(self.masks[1: length + 1], dtype=torch.float32)
        del self.tokens[:length], self.masks[:length]
        return {"input_ids": tokens[:-1].view(rows, self.seq_length),
                "targets": tokens[1:].view(rows, self.seq_length),
                "loss_mask": masks.view(rows, self.seq_length)}

    def state_dict(self) -> dict[str, Any]:
        state = {"sampler": self.sampler.state_dict(self.consumed),
                 "tokens": torch.tensor(self.tokens, dtype=torch.long),
                 "masks": torch.tensor(self.masks, dtype=torch.uint8)}
        if self.encoder.mixer is not None:
            state["codemix_stats"] = self.encoder.mixer.stats.as_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self._order = iter(self.sampler)
        self.consumed = int(state["sampler"]["consumed"])
        self.tokens = state["tokens"].tolist()
        self.masks = state["masks"].tolist()
        stats = state.get("codemix_stats")
        if stats is not None and self.encoder.mixer is not None:
            mixer_stats = self.encoder.mixer.stats
            mixer_stats.words, mixer_stats.in_dictionary = int(stats["words"]), int(stats["in_dictionary"])
            mixer_stats.replaced = int(stats["replaced"])
