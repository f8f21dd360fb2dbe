"""The sense-adaptation math against hand computations on small tensors."""
import math

import pytest
import torch

from langadapt.sense_adaptation.losses import (LossSchedule, adaptation_losses, cosine_interpolate, info_nce,
                                  last_token_vectors, pool_senses, recall_at_1)
from langadapt.errors import LangAdaptError

# The seed README's weights, with the original's default temperatures (so they do move).
SEED = dict(align_pct=0.20, polish_pct=0.50, w_ctx_align=0.45, w_sns_align=0.55, w_lm_align=0.02,
            w_ctx_mid=0.40, w_sns_mid=0.40, w_lm_mid=0.20, w_ctx_tail=0.15, w_sns_tail=0.15, w_lm_tail=0.70,
            tau_ctx_start=0.07, tau_ctx_end=0.04, tau_sns_start=0.05, tau_sns_end=0.03)


def normalised(*weights):
    return tuple(w / sum(weights) for w in weights)


@pytest.mark.parametrize("step, phase, raw, taus", [
    (0, "align", (0.45, 0.55, 0.02), (0.07, 0.05)),                    # start of the run
    (10, "align", (0.425, 0.475, 0.11), (0.055, 0.04)),                # align midpoint: halfway, cos(pi/2)=0
    (5, "align", (0.40 + 0.05 * (1 + math.sqrt(0.5)) / 2, 0.40 + 0.15 * (1 + math.sqrt(0.5)) / 2,
                  0.20 - 0.18 * (1 + math.sqrt(0.5)) / 2),
     (0.04 + 0.03 * (1 + math.sqrt(0.5)) / 2, 0.03 + 0.02 * (1 + math.sqrt(0.5)) / 2)),  # quarter of align
    (20, "align", (0.40, 0.40, 0.20), (0.04, 0.03)),                   # align/joint boundary: mid weights
    (35, "joint", (0.275, 0.275, 0.45), (0.04, 0.03)),                 # joint midpoint
    (50, "polish", (0.15, 0.15, 0.70), (0.04, 0.03)),                  # polish starts at 1 - polish_pct
    (100, "polish", (0.15, 0.15, 0.70), (0.04, 0.03)),
])
def test_schedule_at_boundaries_and_midpoints(step, phase, raw, taus):
    values = LossSchedule(**SEED).at(step, 100)
    assert values.phase == phase
    assert (values.w_ctx, values.w_sns, values.w_lm) == pytest.approx(normalised(*raw), abs=1e-12)
    assert (values.tau_ctx, values.tau_sns) == pytest.approx(taus, abs=1e-12)


def test_schedule_is_continuous_at_the_joint_polish_boundary():
    schedule = LossSchedule(**SEED)
    before, after = schedule.at(49_999, 100_000), schedule.at(50_000, 100_000)
    assert before.phase == "joint" and after.phase == "polish"
    assert before.w_lm == pytest.approx(after.w_lm, abs=1e-8)


def test_schedule_without_lm_renormalises_the_contrastive_weights():
    values = LossSchedule(**SEED, use_lm=False).at(35, 100)
    assert values.w_lm == 0.0
    assert (values.w_ctx, values.w_sns) == pytest.approx((0.5, 0.5))


def test_schedule_with_no_align_phase_starts_in_joint():
    values = LossSchedule(**{**SEED, "align_pct": 0.0}).at(0, 100)
    assert values.phase == "joint"
    assert (values.w_ctx, values.w_sns, values.w_lm) == pytest.approx((0.4, 0.4, 0.2))


@pytest.mark.parametrize("override, message", [
    (dict(align_pct=0.6, polish_pct=0.5), "must not exceed 1"),
    (dict(w_ctx_mid=0.0, w_sns_mid=0.0, w_lm_mid=0.0), "mid phase sum to zero"),
    (dict(w_ctx_tail=-0.1), "w_ctx_tail must be >= 0"),
    (dict(tau_sns_end=0.0), "tau_sns_end must be > 0"),
])
def test_schedule_rejects_bad_settings(override, message):
    with pytest.raises(LangAdaptError, match=message):
        LossSchedule(**{**SEED, **override})


def test_schedule_rejects_zero_contrastive_weights_when_lm_is_off():
    zero = dict(w_ctx_align=0, w_sns_align=0, w_ctx_mid=0, w_sns_mid=0, w_ctx_tail=0, w_sns_tail=0)
    LossSchedule(**{**SEED, **zero})  # fine while the LM term carries the loss
    with pytest.raises(LangAdaptError, match="sum to zero"):
        LossSchedule(**{**SEED, **zero}, use_lm=False)


def test_cosine_interpolate_clamps_t():
    assert cosine_interpolate(1.0, 3.0, -1) == 1.0
    assert cosine_interpolate(1.0, 3.0, 2) == 3.0


def test_last_token_vectors_follow_the_attention_mask_not_eos():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    out = last_token_vectors(hidden, mask)
    assert torch.equal(out[0], hidden[0, 2]) and torch.equal(out[1], hidden[1, 3])


def direct_sense_pool(contrib, mask, temp):
    """Loop-by-loop version of the reference formula."""
    batch, senses, length, _ = contrib.shape
    vectors, ent_sum = [], 0.0
    for b in range(batch):
        mixtures = []
        for pos in range(length):
            if not mask[b, pos]:
                continue
            norms = [contrib[b, k, pos].norm().item() / temp for k in range(senses)]
            z = sum(math.exp(n) for n in norms)
            pis = [math.exp(n) / z for n in norms]
            ent_sum += -sum(p * math.log(p) for p in pis)
            mixtures.append(sum(pis[k] * contrib[b, k, pos] for k in range(senses)))
        vectors.append(torch.stack(mixtures).mean(dim=0))
    return torch.stack(vectors), ent_sum / int(mask.sum())


@pytest.mark.parametrize("normalize", [False, True])
def test_pool_senses_matches_direct_computation(normalize):
    torch.manual_seed(0)
    contrib = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    pooled = pool_senses(contrib, mask, temperature=0.7, normalize=normalize)
    expected, entropy = direct_sense_pool(contrib, mask, 0.7)
    if normalize:
        expected = expected / expected.norm(dim=-1, keepdim=True)
    assert torch.allclose(pooled.vectors.double(), expected, atol=1e-5)
    assert pooled.mean_entropy.item() == pytest.approx(entropy, rel=1e-5)
    assert pooled.num_tokens.item() == 6


def test_pool_senses_ignores_padding_content():
    torch.manual_seed(0)
    contrib = torch.randn(1, 2, 3, 4)
    mask = torch.tensor([[1, 1, 0]])
    changed = contrib.clone()
    changed[:, :, 2] += 100.0
    assert torch.allclose(pool_senses(contrib, mask).vectors, pool_senses(changed, mask).vectors)


def direct_info_nce(q, k, tau):
    q = q / q.norm(dim=-1, keepdim=True)
    k = k / k.norm(dim=-1, keepdim=True)
    total = 0.0
    for i in range(q.size(0)):
        scores = [(q[i] @ k[j]).item() / tau for j in range(k.size(0))]
        total += -(scores[i] - math.log(sum(math.exp(s) for s in scores)))
    return total / q.size(0)


def test_info_nce_one_directional_matches_direct_computation():
    torch.manual_seed(1)
    q, k = torch.randn(4, 6), torch.randn(4, 6)
    assert info_nce(q, k, 0.1, symmetric=False).item() == pytest.approx(direct_info_nce(q, k, 0.1), rel=1e-5)


def test_symmetric_info_nce_is_the_mean_of_both_directions():
    torch.manual_seed(2)
    q, k = torch.randn(5, 3), torch.randn(5, 3)
    forward, backward = direct_info_nce(q, k, 0.2), direct_info_nce(k, q, 0.2)
    assert forward != pytest.approx(backward, rel=1e-3)  # the case separates the two variants
    assert info_nce(q, k, 0.2, symmetric=True).item() == pytest.approx((forward + backward) / 2, rel=1e-5)
    assert info_nce(q, k, 0.2).item() == pytest.approx(info_nce(k, q, 0.2).item(), rel=1e-6)
    assert info_nce(q, k, 0.2, symmetric=False).item() != pytest.approx(
        info_nce(k, q, 0.2, symmetric=False).item(), rel=1e-3)


def test_info_nce_is_low_for_matched_pairs_and_high_for_shuffled_ones():
    torch.manual_seed(3)
    q = torch.randn(8, 16)
    assert info_nce(q, q + 0.01 * torch.randn(8, 16), 0.05).item() < 0.01
    assert info_nce(q, q.roll(1, dims=0), 0.05).item() > 5.0


def test_recall_at_1_both_directions():
    src = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    tgt = torch.tensor([[1.0, 0.1], [1.0, 0.9], [0.1, 1.0]])
    # src->tgt: 0->0 ok, 1->2 wrong, 2->1 wrong; tgt->src: 0->0 ok, 1->2 wrong, 2->1 wrong
    assert recall_at_1(src, tgt) == pytest.approx((1 / 3, 1 / 3))
    assert recall_at_1(src, src) == (1.0, 1.0)


class FakeOutput:
    def __init__(self, hidden, contributions, loss=None):
        self.backpack_hidden_states, self.sense_contributions, self.loss = hidden, contributions, loss


def test_adaptation_losses_weighted_sum_and_negatives():
    torch.manual_seed(4)
    src = FakeOutput(torch.randn(3, 4, 8), torch.randn(3, 2, 4, 8))
    tgt = FakeOutput(torch.randn(3, 5, 8), torch.randn(3, 2, 5, 8), loss=torch.tensor(2.5))
    src_mask, tgt_mask = torch.ones(3, 4, dtype=torch.long), torch.ones(3, 5, dtype=torch.long)
    values = LossSchedule(**SEED).at(35, 100)
    kwargs = dict(sense_pool_temp=0.7, normalize_context=True, normalize_senses=True, symmetric=True)
    losses = adaptation_losses(src, tgt, src_mask, tgt_mask, values, use_lm=True, **kwargs)
    expected = values.w_ctx * losses.context + values.w_sns * losses.sense + values.w_lm * 2.5
    assert losses.total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert losses.negatives == 3
    ctx = info_nce(src.backpack_hidden_states[:, -1], tgt.backpack_hidden_states[:, -1], values.tau_ctx)
    assert losses.context.item() == pytest.approx(ctx.item(), rel=1e-5)
    no_lm = adaptation_losses(src, tgt, src_mask, tgt_mask, values, use_lm=False, **kwargs)
    assert no_lm.lm.item() == 0.0
    assert no_lm.total.item() == pytest.approx((values.w_ctx * losses.context + values.w_sns * losses.sense).item())
