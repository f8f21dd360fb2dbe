"""Backpack-GPT2 (Hewitt et al., 2023), loadable from the published checkpoints without remote code.

A Backpack predicts from a weighted sum of per-token sense vectors: o_i = sum_k sum_j alpha_kij s_kj,
logits = lm_head(o). The weights alpha come from a GPT-2 contextualizer through a K-head "attention"
with query/key width d/K; the values are the senses (width d). So the sense layer IS multi-head
attention summed over heads, and the fused path runs it through `scaled_dot_product_attention` without
materialising the [B, K, L, L] weights (see `fused_sense_attention`); the eager path materialises them
(and returns them on request).

Parameter names match `stanfordnlp/backpack-gpt2` (all under `backpack.`), so its weights load as is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, GPT2Model, PreTrainedModel
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import ModelOutput
from transformers.models.gpt2.modeling_gpt2 import GPT2MLP

from .errors import LangAdaptError, VocabularyError
from .cache import BackpackCache
from .configuration import BackpackGPT2Config
from .sense_path import MAX_FUSED_HEAD_DIM, sense_path_for


@dataclass
class BackpackGPT2Output(ModelOutput):
    loss: Optional[torch.Tensor] = None
    loss_unsmoothed: Optional[torch.Tensor] = None
    logits: Optional[torch.Tensor] = None
    past_key_values: Optional[BackpackCache] = None
    backpack_hidden_states: Optional[torch.Tensor] = None  # o = sum of sense contributions [B, L, d]
    senses: Optional[torch.Tensor] = None  # [B, K, L, d]
    contextualization: Optional[torch.Tensor] = None  # alpha [B, K, L, S]
    sense_contributions: Optional[torch.Tensor] = None  # alpha_k @ senses_k [B, K, L, d]
    hidden_states: Optional[tuple[torch.Tensor, ...]] = None  # the contextualizer's


class BackpackMLP(GPT2MLP):
    """GPT-2's MLP with a free output width (the final sense MLP maps to K*d)."""

    def __init__(self, intermediate_size: int, config: BackpackGPT2Config, output_size: int):
        super().__init__(intermediate_size, config)
        from transformers.pytorch_utils import Conv1D

        self.c_proj = Conv1D(output_size, intermediate_size)


class BackpackNoMixBlock(nn.Module):
    """A transformer block without the attention: per-token MLP with the same residual/norm pattern."""

    def __init__(self, config: BackpackGPT2Config):
        super().__init__()
        d = config.n_embd
        self.ln_1 = nn.LayerNorm(d, eps=config.layer_norm_epsilon)
        self.ln_2 = nn.LayerNorm(d, eps=config.layer_norm_epsilon)
        self.mlp = GPT2MLP(4 * d, config)
        self.resid_dropout1 = nn.Dropout(config.resid_pdrop)
        self.resid_dropout2 = nn.Dropout(config.resid_pdrop)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        residual = self.resid_dropout1(hidden_states) + residual
        hidden_states = self.ln_1(residual)
        residual = self.resid_dropout2(self.mlp(hidden_states)) + residual
        return self.ln_2(residual)


class BackpackSenseNetwork(GradientCheckpointingLayer):
    """Token embedding -> K sense vectors, without any context (so senses can be cached per token)."""

    def __init__(self, config: BackpackGPT2Config):
        super().__init__()
        d = config.n_embd
        self.num_senses = config.num_senses
        self.dropout = nn.Dropout(config.embd_pdrop)
        self.ln = nn.LayerNorm(d, eps=config.layer_norm_epsilon)
        self.block = BackpackNoMixBlock(config)
        self.final_mlp = BackpackMLP(config.sense_intermediate_scale * d, config, config.num_senses * d)

    def forward(self, input_embeds: torch.Tensor) -> torch.Tensor:
        residual = self.dropout(input_embeds)
        hidden_states = self.block(self.ln(residual), residual)
        senses = self.final_mlp(hidden_states)  # [B, L, K*d]
        batch, length, _ = senses.shape
        return senses.view(batch, length, self.num_senses, -1).transpose(1, 2)  # [B, K, L, d]


class BackpackWeightNetwork(nn.Module):
    """Contextual states -> per-sense query/key pairs (K heads of width d/K)."""

    def __init__(self, config: BackpackGPT2Config):
        super().__init__()
        self.num_senses = config.num_senses
        self.head_dim = config.n_embd // config.num_senses
        self.c_attn = nn.Linear(config.n_embd, 2 * config.n_embd)

    def forward(self, contextual: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, _ = contextual.shape
        qk = self.c_attn(contextual).view(batch, length, 2, self.num_senses, self.head_dim)
        query, key = qk.unbind(dim=2)
        return query.transpose(1, 2), key.transpose(1, 2)  # each [B, K, L, d/K]


class BackpackGPT2PreTrainedModel(PreTrainedModel):
    config_class = BackpackGPT2Config
    config: BackpackGPT2Config
    base_model_prefix = "backpack"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["GPT2Block", "BackpackSenseNetwork"]
    # GPT-2's legacy mask buffers and the original code's aliases of wte/wpe carry no extra weights.
    _keys_to_ignore_on_load_unexpected = [r"attn\.bias$", r"attn\.masked_bias$", r"word_embeddings\.weight$",
                                          r"position_embeddings\.weight$"]

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        from transformers.pytorch_utils import Conv1D

        if isinstance(module, Conv1D):
            module.weight.normal_(mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                module.bias.zero_()


class BackpackGPT2Model(BackpackGPT2PreTrainedModel):
    def __init__(self, config: BackpackGPT2Config):
        super().__init__(config)
        self.gpt2_model = GPT2Model(config)
        self.sense_network = BackpackSenseNetwork(config)
        self.sense_weight_net = BackpackWeightNetwork(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.gpt2_model.wte

    def set_input_embeddings(self, embeddings):
        self.gpt2_model.wte = embeddings


def check_token_ids(ids: torch.Tensor, vocab_size: int, what: str = "token id", ignored: Optional[int] = None) -> None:
    """An id past the embedding table (or the logits) is a one-line error, not an IndexError deep in the
    embedding or the loss; `ignored` is an id that stands for "no target" (labels' -100).

    Checked for CPU tensors only: on an accelerator the check would wait for the device on every forward
    (there the kernel's own bounds assertion fires), and compiled graphs skip it.
    """
    if ids.device.type != "cpu" or torch.compiler.is_compiling():
        return
    if ignored is not None:
        ids = ids[ids != ignored]
    if ids.numel() == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high >= vocab_size:
        bad = high if high >= vocab_size else low
        allowed = f"0..{vocab_size - 1}" + (f", or {ignored} for no target" if ignored is not None else "")
        raise VocabularyError(f"{what} {bad} is outside the model's vocabulary of {vocab_size} ids ({allowed}); "
                              f"the tokenizer or data does not match the model")


def positions_from_mask(attention_mask: torch.Tensor, past_length: int, length: int) -> torch.Tensor:
    """Position of each new token counted over real tokens only, so left padding does not shift them."""
    positions = attention_mask.long().cumsum(-1) - 1
    positions = positions.clamp(min=0)
    return positions[:, past_length: past_length + length]


def sense_attention_mask(attention_mask: Optional[torch.Tensor], past_length: int, length: int,
                         device: torch.device) -> Optional[torch.Tensor]:
    """Boolean [B, 1, L, S] mask: causal, padding keys hidden; a padding query sees only itself (no NaN)."""
    total = past_length + length
    query_pos = torch.arange(past_length, total, device=device)[:, None]
    key_pos = torch.arange(total, device=device)[None, :]
    allowed = key_pos <= query_pos
    if attention_mask is None:
        return allowed[None, None]
    keys_real = attention_mask[:, None, None, :total].bool()
    return (allowed[None, None] & keys_real) | (key_pos == query_pos)[None, None]


class BackpackGPT2LMHeadModel(BackpackGPT2PreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.weight": "backpack.gpt2_model.wte.weight"}

    def __init__(self, config: BackpackGPT2Config):
        super().__init__(config)
        self.backpack = BackpackGPT2Model(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # The loss is next-token cross-entropy: the Trainer then counts `num_items_in_batch` over the L-1
        # predicted tokens of each row, not over all L labels (which made every loss (L-1)/L too low).
        self.loss_type = "ForCausalLM"
        self.post_init()

    def _prepare_cache_for_generation(self, generation_config, model_kwargs, *args, **kwargs):
        """Every generation mode gets a BackpackCache before the first forward (assisted and prompt-lookup
        decoding need one to crop); caches of other kinds cannot hold the sense keys and values."""
        user_cache = model_kwargs.get("past_key_values")
        if user_cache is not None and not isinstance(user_cache, BackpackCache):
            raise LangAdaptError(f"a Backpack generates with a BackpackCache, not a {type(user_cache).__name__}")
        if generation_config.cache_implementation not in (None, "dynamic"):
            raise LangAdaptError(f"cache_implementation={generation_config.cache_implementation!r} is not "
                                 f"available for a Backpack; it generates with its own dynamic cache")
        if user_cache is not None:
            user_cache._is_user_defined = True  # generate() hands a cache it was given back to the caller
        elif generation_config.use_cache is not False:
            model_kwargs["past_key_values"] = BackpackCache(config=self.config)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """Load either checkpoint format, refusing missing or mis-shaped weights instead of re-initialising."""
        from .loading import load_backpack

        return load_backpack(cls, pretrained_model_name_or_path, *args, **kwargs)

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, embeddings):
        self.lm_head = embeddings

    def forward(
        self,
        input_ids: Optional[torch.LongTensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
        position_ids: Optional[torch.LongTensor] = None,
        labels: Optional[torch.LongTensor] = None,
        label_smoothing: float = 0.0,
        past_key_values: Optional[BackpackCache] = None,
        use_cache: Optional[bool] = None,
        output_senses: bool = False,
        output_contextualization: bool = False,
        output_sense_contributions: bool = False,
        output_hidden_states: bool = False,
        num_items_in_batch: Optional[int] = None,
        **kwargs,
    ) -> BackpackGPT2Output:
        """Logits and (with `labels`) the shifted LM loss; senses and weights on request.

        `loss` is label-smoothed; `loss_unsmoothed` is plain cross-entropy (detached when they differ),
        the quantity perplexity is computed from. `num_items_in_batch` (passed by the Trainer) turns the
        mean into a sum over the whole accumulated batch, which makes gradient accumulation exact.
        """
        for ignored in ("return_dict", "output_attentions", "cache_position", "token_type_ids"):
            kwargs.pop(ignored, None)
        if kwargs:
            raise TypeError(f"unexpected arguments to BackpackGPT2LMHeadModel.forward: {', '.join(kwargs)}")
        if input_ids is None:
            raise ValueError("input_ids is required")
        use_cache = use_cache if use_cache is not None else (past_key_values is not None)
        if use_cache and past_key_values is None:
            past_key_values = BackpackCache(config=self.config)
        past_length = past_key_values.get_seq_length() if past_key_values is not None else 0
        batch, length = input_ids.shape
        if past_length + length > self.config.n_positions:
            raise LangAdaptError(f"sequence of {past_length + length} tokens exceeds the model's n_positions "
                                 f"({self.config.n_positions}); truncate it to at most {self.config.n_positions}")
        check_token_ids(input_ids, self.config.vocab_size)
        if position_ids is None and attention_mask is not None:
            position_ids = positions_from_mask(attention_mask, past_length, length)

        backpack = self.backpack
        context = backpack.gpt2_model(input_ids, past_key_values=past_key_values, attention_mask=attention_mask,
                                      position_ids=position_ids, use_cache=use_cache,
                                      output_hidden_states=output_hidden_states)
        senses = backpack.sense_network(backpack.gpt2_model.wte(input_ids))  # [B, K, L, d]
        query, key = backpack.sense_weight_net(context.last_hidden_state)
        if use_cache:
            key, values = past_key_values.update_senses(key, senses)
        else:
            values = senses
        contributions, alpha = self._sense_attention(query, key, values, attention_mask, past_length,
                                                     need_weights=output_contextualization)
        hidden = contributions.sum(dim=1)  # [B, L, d]
        logits = self.lm_head(hidden)

        loss = loss_unsmoothed = None
        if labels is not None:
            check_token_ids(labels, self.config.vocab_size, "label id", ignored=-100)
            loss, loss_unsmoothed = shifted_lm_loss(logits, labels, label_smoothing, num_items_in_batch)
        return BackpackGPT2Output(
            loss=loss, loss_unsmoothed=loss_unsmoothed, logits=logits,
            past_key_values=past_key_values if use_cache else None, backpack_hidden_states=hidden,
            senses=senses if output_senses else None, contextualization=alpha,
            sense_contributions=contributions if output_sense_contributions else None,
            hidden_states=context.hidden_states if output_hidden_states else None,
        )

    def _sense_attention(self, query, key, values, attention_mask, past_length, need_weights: bool):
        """Per-sense contributions alpha_k @ senses_k [B, K, L, d], and alpha when asked.

        With sdpa, the fused or the eager formulation runs, as `sense_path_for` rules for the config's
        `sense_path`, this device and shape. A decoding step's weights are only [B, K, 1, S]: it takes the
        eager formulation, which also avoids re-padding the cached keys every step.
        """
        length = query.shape[2]
        if (self.config._attn_implementation == "eager" or need_weights or (length == 1 and past_length > 0)
                or sense_path_for(self.config.sense_path, query.device.type, values.shape[-1], length) == "eager"):
            return eager_sense_attention(query, key, values, attention_mask, past_length, need_weights)
        mask = None
        if attention_mask is not None or past_length > 0:
            mask = sense_attention_mask(attention_mask, past_length, length, query.device)
        return fused_sense_attention(query, key, values, mask), None

    def _reorder_cache(self, past_key_values, beam_idx):
        past_key_values.reorder_cache(beam_idx)
        return past_key_values


def eager_sense_attention(query, key, values, attention_mask, past_length: int, need_weights: bool):
    """The sense layer with its [B, K, L, S] weights materialised: (contributions, weights when asked)."""
    mask = sense_attention_mask(attention_mask, past_length, query.shape[2], query.device)
    scores = query @ key.transpose(-1, -2) / math.sqrt(query.shape[-1])
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    alpha = torch.softmax(scores, dim=-1)
    return alpha @ values, (alpha if need_weights else None)


def fused_head_dim(width: int, key_dim: int) -> Optional[int]:
    """Widest divisor of the value width that fused kernels accept (and no narrower than the keys); None
    when there is none (keys wider than 256, e.g. 1 or 2 senses at width 768)."""
    fitting = [c for c in range(key_dim, min(width, MAX_FUSED_HEAD_DIM) + 1) if width % c == 0]
    return max(fitting) if fitting else None


def fused_sense_attention(query: torch.Tensor, key: torch.Tensor, values: torch.Tensor,
                          mask: Optional[torch.Tensor]) -> torch.Tensor:
    """alpha_k @ senses_k through a fused SDPA kernel, without the [B, K, L, S] weights.

    Fused kernels want one head width for queries, keys and values, but a sense's values are K times wider
    than its keys (d vs d/K). Since one sense's weights apply to every column of its values, the values
    are cut into chunks of width c (d itself when d <= 256) and each chunk becomes a head sharing its
    sense's query and key, zero-padded from d/K to c (padding leaves q.k unchanged; the scale stays
    1/sqrt(d/K)). Measured on CPU this is 2x faster than the eager path at width 64, L = 512.
    """
    batch, senses, length, key_dim = query.shape
    width, total = values.shape[-1], key.shape[2]
    head_dim = fused_head_dim(width, key_dim)
    if head_dim is None or (head_dim < width and query.device.type == "cpu"):
        # One head per sense with the values' full width: SDPA picks a kernel that takes unequal widths (on
        # CPU the math one). There, when a sense's values need several chunks, the fused kernel recomputes
        # the scores per chunk and measured 3x slower than this at the real shape (width 768, 16 senses).
        return F.scaled_dot_product_attention(query, key, values, attn_mask=mask, is_causal=mask is None)
    chunks = width // head_dim

    def per_chunk(t: torch.Tensor, rows: int) -> torch.Tensor:
        t = F.pad(t, (0, head_dim - key_dim))
        return t[:, :, None].expand(batch, senses, chunks, rows, head_dim).reshape(batch, senses * chunks, rows,
                                                                                      head_dim)

    value_chunks = values.view(batch, senses, total, chunks, head_dim).transpose(2, 3)
    out = F.scaled_dot_product_attention(per_chunk(query, length), per_chunk(key, total),
                                         value_chunks.reshape(batch, senses * chunks, total, head_dim),
                                         attn_mask=mask, is_causal=mask is None, scale=key_dim ** -0.5)
    return out.view(batch, senses, chunks, length, head_dim).transpose(2, 3).reshape(batch, senses, length, -1)


def shifted_lm_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float,
                    num_items_in_batch: Optional[int] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token cross-entropy over labels != -100: (smoothed loss, unsmoothed loss)."""
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    shift_labels = labels[:, 1:].reshape(-1).to(shift_logits.device)
    reduction = "sum" if num_items_in_batch is not None else "mean"

    def cross_entropy(smoothing: float) -> torch.Tensor:
        loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100, label_smoothing=smoothing,
                               reduction=reduction)
        return loss / num_items_in_batch if num_items_in_batch is not None else loss

    loss = cross_entropy(label_smoothing)
    if label_smoothing == 0.0:
        return loss, loss
    with torch.no_grad():
        return loss, cross_entropy(0.0)
