"""COMMIT's data pipeline, as EasyLM's TextProcessor and HuggingfaceDataset: code-mix, format, tokenise
with loss masks, pack into fixed-length rows.

Alpaca records are tokenised as EasyLM does: source+target jointly, with the tokenizer's BOS/EOS, and
the loss masked over as many tokens as the source alone tokenises to, its <unk> tokens not counted (BOS
and EOS included, so the first response token is not trained; `train_first_response_token` trains it).
Text mode puts the processor's BOS (untrained) and EOS around the tokenizer's own (`<s> <s> ... </s>
</s>` by default).
Examples are concatenated in file order (or shuffled on request) into one token stream that is cut
into rows of `seq_length` inputs once it holds more than a batch + 1 tokens; targets are the next
tokens and carry their own mask; what is left at the end of an epoch is dropped. Each rank packs its own
shard; its position (examples consumed and the tokens not yet cut) is saved in every checkpoint, so a
resumed run continues with exactly the rows it would have seen.
"""
from __future__ import annotations

import logging
from collections import deque
from typing import Any, Optional, Sequence

import torch

from ..errors import LangAdaptError
from ..training import ResumableSampler
from .codemix import CodeMixer, CodeMixStats, alpaca_source_and_target, example_rng

logger = logging.getLogger(__name__)

# Below this dictionary coverage of the data's words, the dictionary is almost surely for another
# language pair or the other direction (MUSE en-xx covers roughly half of English running words).
LOW_COVERAGE = 0.01
COVERAGE_CHECK_WORDS = 500
# Examples tokenised per tokenizer call (spreads its per-call cost); what is packed does not depend on it.
ENCODE_BATCH = 256


class ExampleEncoder:
    """Records -> (token ids, per-token loss mask); `mode` "alpaca" trains on the response + EOS,
    "text" on every token but the processor's BOS (the alignment stage)."""

    def __init__(self, tokenizer, mode: str, text_field: str = "text", mixer: Optional[CodeMixer] = None,
                 block_codemix_in_template: bool = True, add_bos_token: bool = True, add_eos_token: bool = True,
                 text_bos: bool = True, text_eos: bool = True, train_first_response_token: bool = False,
                 seed: int = 0, source: str = "dataset"):
        if mode not in ("alpaca", "text"):
            raise LangAdaptError(f"--mode must be alpaca or text, got {mode!r}")
        if (add_eos_token or text_eos) and tokenizer.eos_token_id is None:
            raise LangAdaptError("the tokenizer has no EOS token; pass a tokenizer with one (--tokenizer_name) "
                                 "or --add_eos_token=False")
        if (add_bos_token or text_bos) and tokenizer.bos_token_id is None:
            raise LangAdaptError("the tokenizer has no BOS token; pass --add_bos_token=False")
        self.tokenizer, self.mode, self.text_field, self.mixer = tokenizer, mode, text_field, mixer
        self.block_codemix_in_template, self.seed, self.source = block_codemix_in_template, seed, source
        self.bos = [tokenizer.bos_token_id] if add_bos_token else []
        self.eos = [tokenizer.eos_token_id] if add_eos_token else []
        self.text_bos = [tokenizer.bos_token_id] if text_bos else []
        self.text_eos = [tokenizer.eos_token_id] if text_eos else []
        self.train_first_response_token = train_first_response_token
        # EasyLM sizes the prompt's mask by its tokens that are not padding, and pads with <unk>: each <unk> in a
        # prompt (a literal "<unk>", an unknown character without byte fallback) moves the mask one token left
        unk = tokenizer.unk_token_id
        self.uncounted = unk if unk not in (tokenizer.bos_token_id, tokenizer.eos_token_id) else None
        self._coverage_checked = mixer is None

    def columns(self) -> list[str]:
        return ["instruction", "input", "output"] if self.mode == "alpaca" else [self.text_field]

    def _tokenize(self, texts: list[str]) -> list[list[int]]:
        """Each text as the tokenizer encodes it with its special tokens (EasyLM's `tokenizer(text)`)."""
        ids = self.tokenizer(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
        return [self.bos + row + self.eos for row in ids]

    def encode(self, records: dict[str, list], indices: Sequence[int], epochs: Sequence[int]
               ) -> list[tuple[list[int], list[int]]]:
        """Encode a column batch; example `indices[i]` of epoch `epochs[i]` gets its own mixing stream."""
        return self.encode_counted(records, indices, epochs)[0]

    def encode_counted(self, records: dict[str, list], indices: Sequence[int], epochs: Sequence[int]
                       ) -> tuple[list[tuple[list[int], list[int]]], list[CodeMixStats]]:
        """`encode`, and what mixing each example counted (words, in the dictionary, replaced)."""
        texts, counts = self._mixed_texts(records, indices, epochs)
        if self.mode == "text":
            ignored = len(self.text_bos)
            return [(self.text_bos + ids + self.text_eos, [0] * ignored + [1] * (len(ids) + len(self.text_eos)))
                    for ids in self._tokenize(texts)], counts
        sources, targets = zip(*texts)
        encoded = self._tokenize([s + t for s, t in texts] + list(sources))
        untrained_eos = 0 if self.train_first_response_token else len(self.eos)
        out = []
        for ids, source_ids in zip(encoded[:len(texts)], encoded[len(texts):]):
            counted = sum(token != self.uncounted for token in source_ids)
            ignored = min(counted - len(self.eos) + untrained_eos, len(ids))
            out.append((ids, [0] * ignored + [1] * (len(ids) - ignored)))
        return out, counts

    def texts(self, records: dict[str, list], indices: Sequence[int], epochs: Sequence[int]) -> list:
        """What is tokenised: (source, target) pairs in alpaca mode, texts in text mode, code-mixed."""
        return self._mixed_texts(records, indices, epochs)[0]

    def _mixed_texts(self, records: dict[str, list], indices: Sequence[int], epochs: Sequence[int]
                     ) -> tuple[list, list[CodeMixStats]]:
        rngs = [example_rng(self.seed, epoch, index) if self.mixer is not None else None
                for index, epoch in zip(indices, epochs)]
        if self.mode == "alpaca":
            rows = [dict(zip(records, values)) for values in zip(*records.values())]
            make = [lambda row=row, rng=rng: alpaca_source_and_target(row, self.mixer, rng,
                                                                       self.block_codemix_in_template, self.source)
                    for row, rng in zip(rows, rngs)]
        else:
            for text in records[self.text_field]:
                if not isinstance(text, str):
                    raise LangAdaptError(f"{self.source}: field {self.text_field!r} must hold text, "
                                         f"got {type(text).__name__}")
            make = [lambda text=text, rng=rng: self.mixer.mix(text, rng) if self.mixer is not None else text
                    for text, rng in zip(records[self.text_field], rngs)]
        texts, counts = [], []
        for one in make:
            before = self.mixer.stats.copy() if self.mixer is not None else None
            texts.append(one())
            counts.append(self.mixer.stats.minus(before) if self.mixer is not None else CodeMixStats())
        self._check_coverage()
        return texts, counts

    def _check_coverage(self) -> None:
        if self._coverage_checked or self.mixer.stats.words < COVERAGE_CHECK_WORDS:
            return
        self._coverage_checked = True
        coverage = self.mixer.stats.coverage
        if coverage < LOW_COVERAGE:
            logger.warning("the dictionary %s covers only %.2f%% of the words of %s: is it the right language "
                           "pair and direction (en-xx for instruction tuning, xx-en for alignment)?",
                           self.mixer.dictionary.path, 100 * coverage, self.source)


def check_dictionary_direction(mixer: Optional[CodeMixer], mode: str) -> None:
    """Warn when the file name says the dictionary maps the wrong way for the stage."""
    source, target = mixer.dictionary.direction if mixer is not None else (None, None)
    if source is None:
        return
    if mode == "alpaca" and source != "en":
        logger.warning("instruction tuning mixes English data, but %s translates %s->%s (expected en-xx)",
                       mixer.dictionary.path, source, target)
    if mode == "text" and target != "en":
        logger.warning("alignment mixes target-language text into English, but %s translates %s->%s "
                       "(expected xx-en)", mixer.dictionary.path, source, target)


class PackedStream:
    """Endless rows of packed tokens from this rank's shard of `dataset`, resumable exactly.

    `trained` counts the code-mixing of the examples whose tokens went into a row: examples encoded ahead,
    or waiting in the buffer, count once they are cut into a row (and never, if an epoch ends first)."""

    def __init__(self, dataset, encoder: ExampleEncoder, seq_length: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = False, encode_batch: int = ENCODE_BATCH):
        self.dataset = dataset.select_columns([c for c in encoder.columns() if c in dataset.column_names])
        self.encoder, self.seq_length, self.encode_batch = encoder, seq_length, encode_batch
        self.sampler = ResumableSampler(len(dataset), seed=seed, shuffle=shuffle, rank=rank,
                                        world_size=world_size)
        self._order = iter(self.sampler)
        self._encoded: deque = deque()  # (epoch, ids, mask, counts) encoded ahead, not yet in the buffer
        self.consumed, self.epoch, self._cut_this_epoch = 0, 0, True
        self.tokens: list[int] = []
        self.masks: list[int] = []
        self._waiting: deque = deque()  # (offset in the buffer, counts) of examples no row has reached yet
        self.trained = CodeMixStats()

    def _add_example(self) -> None:
        if not self._encoded:
            indices, epochs = [], []
            for _ in range(self.encode_batch):
                indices.append(next(self._order))
                epochs.append(self.sampler.epoch)
            encoded, counts = self.encoder.encode_counted(self.dataset[indices], indices, epochs)
            self._encoded.extend((epoch, ids, mask, count)
                                 for epoch, (ids, mask), count in zip(epochs, encoded, counts))
        epoch, ids, mask, count = self._encoded.popleft()
        if epoch != self.epoch:  # EasyLM restarts its buffer with each pass over the data
            if not self._cut_this_epoch:
                raise LangAdaptError(f"{self.encoder.source}: a whole epoch holds too few tokens for one batch; "
                                     f"lower --batch_size or --seq_length")
            self.tokens, self.masks, self.epoch, self._cut_this_epoch = [], [], epoch, False
            self._waiting.clear()
        self._waiting.append((len(self.tokens), count))
        self.tokens.extend(ids)
        self.masks.extend(mask)
        self.consumed += 1

    def next_rows(self, rows: int) -> dict[str, torch.Tensor]:
        """`input_ids`, `targets` (next tokens) and `loss_mask` (of the targets), each [rows, seq_length]."""
        length = rows * self.seq_length
        while len(self.tokens) <= length + 1:
            self._add_example()
        self._cut_this_epoch = True
        tokens = torch.tensor(self.tokens[: length + 1], dtype=torch.long)
        masks = torch.tensor(self.masks[1: length + 1], dtype=torch.float32)
        del self.tokens[:length], self.masks[:length]
        while self._waiting and self._waiting[0][0] < length:
            self.trained.add(self._waiting.popleft()[1])
        self._waiting = deque((offset - length, count) for offset, count in self._waiting)
        return {"input_ids": tokens[:-1].view(rows, self.seq_length),
                "targets": tokens[1:].view(rows, self.seq_length),
                "loss_mask": masks.view(rows, self.seq_length)}

    def check_holds_a_batch(self, rows: int) -> None:
        """Cut one batch and put the stream back: a dataset too small for one fails here, before
        --overwrite_output_dir deletes the folder, not at the first step."""
        saved = self.state_dict()
        self.next_rows(rows)
        self.load_state_dict(saved)

    def state_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler.state_dict(self.consumed), "epoch": self.epoch,
                "tokens": torch.tensor(self.tokens, dtype=torch.long),
                "masks": torch.tensor(self.masks, dtype=torch.uint8),
                "codemix_trained": self.trained.as_list(),
                "codemix_waiting": [[offset, *count.as_list()] for offset, count in self._waiting]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.load_state_dict(state["sampler"])
        self._order, self._encoded = iter(self.sampler), deque()
        self.consumed, self.epoch = int(state["sampler"]["consumed"]), int(state["epoch"])
        self.tokens, self.masks = state["tokens"].tolist(), state["masks"].tolist()
        self.trained = CodeMixStats(*map(int, state.get("codemix_trained", (0, 0, 0))))
        self._waiting = deque((int(offset), CodeMixStats(*map(int, count)))
                              for offset, *count in state.get("codemix_waiting", ()))