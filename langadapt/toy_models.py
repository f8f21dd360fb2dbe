"""Small tokenizers and models built locally, for the demo and the tests.

Nothing can be downloaded on an offline machine, so the demo and the tests train a byte-level BPE
tokenizer on the text at hand and build tiny models from configs. The same code paths as with real
checkpoints are then exercised through `save_pretrained` folders.
"""
from __future__ import annotations

import os
from typing import Iterable

from transformers import PreTrainedTokenizerFast

EOS_TOKEN = "<|endoftext|>"


def train_byte_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 512) -> PreTrainedTokenizerFast:
    """A GPT-2-style byte-level BPE tokenizer (EOS doubles as BOS and pad, as for GPT-2)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN,
                                   unk_token=EOS_TOKEN, pad_token=EOS_TOKEN, model_max_length=1024)


def tiny_backpack_config(vocab_size: int, n_positions: int = 128, **overrides):
    from .backpack import BackpackGPT2Config

    fields = dict(vocab_size=vocab_size, n_positions=n_positions, n_embd=32, n_layer=2, n_head=4,
                  num_senses=4, sense_intermediate_scale=2, bos_token_id=0, eos_token_id=0)
    fields.update(overrides)
    return BackpackGPT2Config(**fields)


def tiny_backpack_model(attn: str = "sdpa", seed: int = 0, **overrides):
    """A seeded tiny Backpack (61-token vocabulary) in eval mode, with the sense-layer kernel `attn`."""
    import torch

    from .backpack import BackpackGPT2LMHeadModel

    torch.manual_seed(seed)
    fields = dict(vocab_size=61, n_positions=40, bos_token_id=None, eos_token_id=None)
    fields.update(overrides)
    config = tiny_backpack_config(**fields)
    config._attn_implementation = attn
    return BackpackGPT2LMHeadModel(config).eval()


def tiny_llama_config(vocab_size: int, max_position_embeddings: int = 256, **overrides):
    from transformers import LlamaConfig

    fields = dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_position_embeddings,
                  bos_token_id=0, eos_token_id=0, pad_token_id=0, tie_word_embeddings=False)
    fields.update(overrides)
    return LlamaConfig(**fields)


def tiny_gpt2_config(vocab_size: int, n_positions: int = 128, **overrides):
    from transformers import GPT2Config

    fields = dict(vocab_size=vocab_size, n_positions=n_positions, n_embd=32, n_layer=2, n_head=4,
                  bos_token_id=0, eos_token_id=0)
    fields.update(overrides)
    return GPT2Config(**fields)


def save_tiny_model(config, tokenizer: PreTrainedTokenizerFast, folder: str | os.PathLike, seed: int = 0) -> str:
    """Initialise a model from `config` with a fixed seed and save it with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    from . import backpack  # noqa: F401  (registers the Backpack classes with the Auto factories)

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def save_tiny_sentence_encoder(folder: str | os.PathLike, texts: Iterable[str], width: int = 32) -> str:
    """A 2-layer BERT sentence encoder (WordPiece trained on `texts`, mean pooling, L2 norm), saved with
    sentence-transformers: a stand-in for LaBSE where the real model cannot be downloaded."""
    from pathlib import Path

    import torch
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers import models as tokenizer_models
    from transformers import BertConfig, BertModel

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(tokenizer_models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    tokenizer.train_from_iterator(list(texts), trainers.WordPieceTrainer(vocab_size=300, special_tokens=special,
                                                                         show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=len(fast), hidden_size=width, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=2 * width, max_position_embeddings=128))
    folder = Path(folder)
    bert.save_pretrained(folder / "hf")
    fast.save_pretrained(folder / "hf")
    transformer = models.Transformer(str(folder / "hf"), max_seq_length=64)
    encoder = SentenceTransformer(modules=[transformer, models.Pooling(width, "mean"), models.Normalize()],
                                  device="cpu")
    encoder.save(str(folder / "st"))
    return str(folder / "st")
