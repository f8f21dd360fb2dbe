"""The mathematics of sense adaptation (REFERENCE.md section 2), apart from any training loop.

Two sentence vectors per side of a translation pair:
- the context vector: the Backpack output o at the last real token (found from the attention mask, not
  from `ids != eos`, which would drop real EOS tokens);
- the sense vector: per token, a softmax over senses of the norms of the per-sense contributions
  P_k = alpha_k @ senses_k mixes the P_k; the mixtures are averaged over real tokens.
Both are aligned with InfoNCE over in-batch negatives, while a three-phase schedule moves the weight from
the contrastive losses to the target-language LM loss.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..errors import LangAdaptError

EPS = 1e-8


# ------------------------------------------------------------------------------------ sentence vectors
def last_token_vectors(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """`hidden` [B,L,d] at each row's last real token; right padding assumed (a row of pads gives 0)."""
    last = attention_mask.long().sum(dim=1).clamp(min=1) - 1
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last]


class SensePooling(NamedTuple):
    vectors: torch.Tensor  # [B, d] sentence sense vectors
    entropy_sum: torch.Tensor  # sum over real tokens of the entropy of the sense mixture (fp32 scalar)
    num_tokens: torch.Tensor  # number of real tokens (scalar)

    @property
    def mean_entropy(self) -> torch.Tensor:
        return self.entropy_sum / self.num_tokens.clamp(min=1)


def pool_senses(contributions: torch.Tensor, attention_mask: torch.Tensor, temperature: float = 1.0,
                normalize: bool = True) -> SensePooling:
    """Sentence sense vectors from the per-sense contributions P [B,K,L,d].

    pi = softmax_k(||P_k|| / temperature) per token; T = sum_k pi_k P_k; z = mean of T over real tokens.
    Computed in fp32: under fp16 autocast a saturated softmax makes the entropy's 0 * log 0 unstable.
    """
    if temperature <= 0:
        raise LangAdaptError(f"--sense_pool_temp must be > 0, got {temperature}")
    contributions = contributions.float()
    batch, senses, length, width = contributions.shape
    mask = attention_mask.to(contributions.dtype)  # [B, L]
    weights = torch.softmax(contributions.norm(dim=-1) / temperature, dim=1)  # [B, K, L]
    entropy = -(weights * weights.clamp_min(EPS).log()).sum(dim=1)  # [B, L]
    # The mixture and the token mean are one weighted sum over (k, l): a single batched matmul over the
    # contiguous [B, K*L, d] view, instead of a [B, K, L, d] temporary for the mixture.
    token_share = mask / mask.sum(dim=1, keepdim=True).clamp_min(EPS)  # [B, L]
    coefficients = (weights * token_share.unsqueeze(1)).reshape(batch, 1, senses * length)
    vectors = torch.bmm(coefficients, contributions.reshape(batch, senses * length, width)).squeeze(1)
    if normalize:
        vectors = F.normalize(vectors, dim=-1, eps=EPS)
    return SensePooling(vectors, (entropy * mask).sum(), mask.sum())


# --------------------------------------------------------------------------------------- InfoNCE
def info_nce(queries: torch.Tensor, keys: torch.Tensor, temperature: float, symmetric: bool = True
             ) -> torch.Tensor:
    """InfoNCE with in-batch negatives: row i of `queries` matches row i of `keys`.

    Similarities are cosines (as the `info_nce` package the original uses computes them). One-directional:
    cross-entropy of each query against all keys. Symmetric: the mean of that and keys against queries.
    """
    if temperature <= 0:
        raise LangAdaptError(f"InfoNCE temperature must be > 0, got {temperature}")
    logits = F.normalize(queries.float(), dim=-1, eps=EPS) @ F.normalize(keys.float(), dim=-1, eps=EPS).T
    logits = logits / temperature
    labels = torch.arange(logits.size(0), device=logits.device)
    forward = F.cross_entropy(logits, labels)
    if not symmetric:
        return forward
    return 0.5 * (forward + F.cross_entropy(logits.T, labels))


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the gradient of its own rows summed over all ranks.

    Every rank computes the same loss on the gathered batch, so summing the ranks' gradients and then
    letting DDP average the parameter gradients gives exactly the gradient of that one global loss.
    Written with all_reduce because gloo lacks the reduce-scatter / all-to-all that torch's own uses.
    """

    @staticmethod
    def forward(ctx, local: torch.Tensor) -> torch.Tensor:
        ctx.rows = local.size(0)
        ctx.rank = dist.get_rank()
        parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, local.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


def gather_with_grad(local: torch.Tensor) -> torch.Tensor:
    """Rows of all ranks, in rank order, with gradient; the tensor itself outside data parallelism."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return local
    return _GatherWithGrad.apply(local)


# -------------------------------------------------------------------------------------- schedule
def cosine_interpolate(start: float, end: float, t: float) -> float:
    """From `start` at t=0 to `end` at t=1 along half a cosine (flat at both ends)."""
    t = min(1.0, max(0.0, t))
    return end + (start - end) * (1.0 + math.cos(math.pi * t)) / 2.0


class ScheduleValues(NamedTuple):
    phase: str  # "align", "joint" or "polish"
    w_ctx: float
    w_sns: float
    w_lm: float
    tau_ctx: float
    tau_sns: float


@dataclass(frozen=True)
class LossSchedule:
    """Loss weights and InfoNCE temperatures over the run (raw weights; `at` renormalises them).

    Align (p <= align_pct): weights *_align -> *_mid, temperatures start -> end.
    Joint (until 1 - polish_pct): weights *_mid -> *_tail, temperatures at end.
    Polish: *_tail weights, end temperatures.
    """
    align_pct: float = 0.20
    polish_pct: float = 0.15
    w_ctx_align: float = 0.45
    w_sns_align: float = 0.55
    w_lm_align: float = 0.02
    w_ctx_mid: float = 0.40
    w_sns_mid: float = 0.40
    w_lm_mid: float = 0.20
    w_ctx_tail: float = 0.15
    w_sns_tail: float = 0.15
    w_lm_tail: float = 0.70
    tau_ctx_start: float = 0.07
    tau_ctx_end: float = 0.04
    tau_sns_start: float = 0.05
    tau_sns_end: float = 0.03
    use_lm: bool = True

    def __post_init__(self) -> None:
        for name in ("align_pct", "polish_pct"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise LangAdaptError(f"--{name} must lie in [0, 1], got {value}")
        if self.align_pct + self.polish_pct > 1.0 + 1e-12:
            raise LangAdaptError(f"--align_pct + --polish_pct must not exceed 1, got "
                                 f"{self.align_pct} + {self.polish_pct} = {self.align_pct + self.polish_pct}")
        for name, value in asdict(self).items():
            if name.startswith("w_") and value < 0:
                raise LangAdaptError(f"--{name} must be >= 0, got {value}")
            if name.startswith("tau_") and value <= 0:
                raise LangAdaptError(f"--{name} must be > 0, got {value}")
        for phase in ("align", "mid", "tail"):
            total = sum(self._raw(phase))
            if total <= 0:
                used = "w_ctx, w_sns" + (", w_lm" if self.use_lm else " (the LM term is off: --no-add_lm_loss)")
                raise LangAdaptError(f"the loss weights of the {phase} phase sum to zero ({used}_{phase}); "
                                     f"at least one must be > 0")

    def _raw(self, phase: str) -> tuple[float, float, float]:
        lm = getattr(self, f"w_lm_{phase}") if self.use_lm else 0.0
        return getattr(self, f"w_ctx_{phase}"), getattr(self, f"w_sns_{phase}"), lm

    @property
    def polish_start(self) -> float:
        return 1.0 - self.polish_pct

    def at(self, step: int, total_steps: int) -> ScheduleValues:
        """Renormalised weights and temperatures for optimiser step `step` (1-based) of `total_steps`."""
        p = 0.0 if total_steps <= 0 else min(1.0, max(0.0, step / total_steps))
        a, z = self.align_pct, self.polish_start
        if p <= a and a > 0:
            t = p / a
            phase, start, end = "align", self._raw("align"), self._raw("mid")
            tau_ctx = cosine_interpolate(self.tau_ctx_start, self.tau_ctx_end, t)
            tau_sns = cosine_interpolate(self.tau_sns_start, self.tau_sns_end, t)
        else:
            tau_ctx, tau_sns = self.tau_ctx_end, self.tau_sns_end
            if p < z:
                t = (p - a) / (z - a)
                phase, start, end = "joint", self._raw("mid"), self._raw("tail")
            else:
                t, phase, start, end = 1.0, "polish", self._raw("tail"), self._raw("tail")
        weights = [cosine_interpolate(s, e, t) for s, e in zip(start, end)]
        total = sum(weights)
        return ScheduleValues(phase, *(w / total for w in weights), tau_ctx, tau_sns)


# ------------------------------------------------------------------------------------------ losses
class StepLosses(NamedTuple):
    total: torch.Tensor
    context: torch.Tensor
    sense: torch.Tensor
    lm: torch.Tensor
    src_entropy: torch.Tensor
    tgt_entropy: torch.Tensor
    negatives: int  # rows each InfoNCE compared against (the global batch under data parallelism)


def adaptation_losses(src_out, tgt_out, src_mask: torch.Tensor, tgt_mask: torch.Tensor,
                      values: ScheduleValues, *, sense_pool_temp: float, normalize_context: bool,
                      normalize_senses: bool, symmetric: bool, use_lm: bool) -> StepLosses:
    """The weighted objective of one step from the source and target Backpack outputs.

    `src_out`/`tgt_out` need `backpack_hidden_states` and `sense_contributions`; `tgt_out.loss` is the
    label-smoothed target LM loss when `use_lm`.
    """
    ctx_src = last_token_vectors(src_out.backpack_hidden_states, src_mask).float()
    ctx_tgt = last_token_vectors(tgt_out.backpack_hidden_states, tgt_mask).float()
    if normalize_context:
        ctx_src, ctx_tgt = F.normalize(ctx_src, dim=-1, eps=EPS), F.normalize(ctx_tgt, dim=-1, eps=EPS)
    sns_src = pool_senses(src_out.sense_contributions, src_mask, sense_pool_temp, normalize_senses)
    sns_tgt = pool_senses(tgt_out.sense_contributions, tgt_mask, sense_pool_temp, normalize_senses)

    # One gather for all four vector sets keeps the collective count per step at one.
    local = torch.cat([ctx_src, ctx_tgt, sns_src.vectors, sns_tgt.vectors], dim=-1)
    gathered = gather_with_grad(local)
    g_ctx_src, g_ctx_tgt, g_sns_src, g_sns_tgt = gathered.split(
        [ctx_src.size(-1), ctx_tgt.size(-1), sns_src.vectors.size(-1), sns_tgt.vectors.size(-1)], dim=-1)
    context = info_nce(g_ctx_src, g_ctx_tgt, values.tau_ctx, symmetric)
    sense = info_nce(g_sns_src, g_sns_tgt, values.tau_sns, symmetric)
    lm = tgt_out.loss.float() if use_lm else context.new_zeros(())
    total = values.w_ctx * context + values.w_sns * sense + (values.w_lm * lm if use_lm else 0.0)
    return StepLosses(total, context, sense, lm, sns_src.mean_entropy.detach(), sns_tgt.mean_entropy.detach(),
                      gathered.size(0))


# ------------------------------------------------------------------------------------------ retrieval
def recall_at_1(src: torch.Tensor, tgt: torch.Tensor) -> tuple[float, float]:
    """Cosine Recall@1 of pair i (src_i, tgt_i) among all pairs: (src->tgt, tgt->src)."""
    if src.shape != tgt.shape or src.ndim != 2:
        raise ValueError(f"expected two [N, d] matrices of the same shape, got {tuple(src.shape)} and "
                         f"{tuple(tgt.shape)}")
    sim = F.normalize(src.float(), dim=-1, eps=EPS) @ F.normalize(tgt.float(), dim=-1, eps=EPS).T
    gold = torch.arange(sim.size(0), device=sim.device)
    return ((sim.argmax(dim=1) == gold).float().mean().item(), (sim.argmax(dim=0) == gold).float().mean().item())
