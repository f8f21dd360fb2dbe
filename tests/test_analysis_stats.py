"""The analysis statistics against independent computations (scipy, numpy, hand-made data)."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from langadapt.analysis.alignment import grow_diag_final_and, is_content_word, parse_pharaoh_line
from langadapt.analysis.collapse import mixture_entropy, offdiag_cosine, variant_hidden
from langadapt.analysis.mutual_information import estimate_mi_gap
from langadapt.analysis.procrustes import kabsch
from langadapt.analysis.topology import gram_upper, rho_summary, spearman_rows


def test_spearman_with_ties_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=(50, 15)).astype(float)  # many ties
    b = a + rng.integers(0, 3, size=(50, 15))
    ours = spearman_rows(torch.tensor(a), torch.tensor(b)).numpy()
    expected = [spearmanr(x, y).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_spearman_of_a_constant_row_is_undefined_and_left_out_of_the_summary():
    rho = spearman_rows(torch.tensor([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]]), torch.tensor([[1.0, 2.0, 3.0]] * 2))
    assert math.isnan(rho[0]) and rho[1] == pytest.approx(1.0)
    summary = rho_summary(rho.tolist() + [0.0])
    assert summary["count"] == 2 and summary["undefined"] == 1 and summary["mean"] == pytest.approx(0.5)
    assert summary["std"] == pytest.approx(np.std([1.0, 0.0], ddof=1))


def test_gram_upper_is_the_centred_cosine_triangle():
    senses = torch.randn(3, 5, 7, dtype=torch.float64)
    for n in range(3):
        s = senses[n].numpy()
        c = s - s.mean(0)
        c /= np.linalg.norm(c, axis=1, keepdims=True)
        g = c @ c.T
        np.testing.assert_allclose(gram_upper(senses)[n].numpy(), g[np.triu_indices(5, 1)], atol=1e-12)


def test_kabsch_recovers_a_planted_orthogonal_map():
    rng = np.random.default_rng(1)
    q_true, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    target = rng.normal(size=(200, 6)) + 3.0  # offsets are removed by the centring
    source = (target - target.mean(0)) @ q_true - 5.0
    q, metrics = kabsch(torch.tensor(target), torch.tensor(source))
    np.testing.assert_allclose(q.numpy(), q_true, atol=1e-9)
    assert metrics["procrustes_mse"] < 1e-18 and metrics["procrustes_cos"] == pytest.approx(1.0)


def test_kabsch_metrics_on_a_noisy_fit_match_numpy():
    rng = np.random.default_rng(2)
    target, source = rng.normal(size=(40, 4)), rng.normal(size=(40, 4))
    _, metrics = kabsch(torch.tensor(target), torch.tensor(source))
    t0, e0 = target - target.mean(0), source - source.mean(0)
    u, _, vt = np.linalg.svd(t0.T @ e0)
    fitted = t0 @ (u @ vt)
    cos = (fitted * e0).sum(1) / np.linalg.norm(fitted, axis=1) / np.linalg.norm(e0, axis=1)
    assert metrics["procrustes_mse"] == pytest.approx(((fitted - e0) ** 2).mean())
    assert metrics["procrustes_cos"] == pytest.approx(cos.mean())


def test_critic_delta_mi_is_positive_for_dependent_pairs_and_near_zero_for_independent_ones():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(400, 8, generator=generator)
    dependent = x @ torch.randn(8, 8, generator=generator) + 0.1 * torch.randn(400, 8, generator=generator)
    independent = torch.randn(400, 8, generator=generator)
    options = dict(steps=200, batch=256, lr=3e-3, hidden=32, n_shuffles=5, pca_dim=0, seed=0, device="cpu")
    high, history = estimate_mi_gap(x, dependent, **options)
    low, _ = estimate_mi_gap(x, independent, **options)
    assert len(history) == 200 and history[-1] < history[0]
    assert high["delta_mi"] > 1.0 and high["heldout_pairs"] == 80
    assert abs(low["delta_mi"]) < 0.3
    assert low["delta_mi_train"] > low["delta_mi"] + 0.5  # in-sample, the critic separates what it memorised
    again, _ = estimate_mi_gap(x, dependent, **options)
    assert again == high  # seeded: the same numbers twice


def test_collapse_variants_by_hand():
    generator = torch.Generator().manual_seed(3)
    contributions = torch.randn(1, 3, 2, 4, generator=generator, dtype=torch.float64)  # B, K, L, d
    weights = contributions.norm(dim=-1) / contributions.norm(dim=-1).sum(1, keepdim=True)
    out = variant_hidden(contributions, weights, topk=2)
    c = contributions[0].numpy()
    for position in range(2):
        vectors = c[:, position]
        full = vectors.sum(0)
        norms = np.linalg.norm(vectors, axis=1)
        top = np.argsort(-norms)[:2]
        kept = vectors[top].sum(0)
        unit = (vectors / norms[:, None]).mean(0)
        expected = {"full": full, "topk": kept / 2, "topk_scaled": kept * np.linalg.norm(full) / np.linalg.norm(kept),
                    "uniform": full / 3, "uniform_scaled": unit * np.linalg.norm(full) / np.linalg.norm(unit)}
        for name, vector in expected.items():
            np.testing.assert_allclose(out[name][0, position].numpy(), vector, atol=1e-12, err_msg=name)
    everything = variant_hidden(contributions, weights, topk=3)
    np.testing.assert_allclose(everything["topk_scaled"].numpy(), everything["full"].numpy(), atol=1e-12)


def test_entropy_and_offdiagonal_cosine_by_hand():
    weights = torch.tensor([[[0.5, 1.0], [0.25, 0.0], [0.25, 0.0]]], dtype=torch.float64)  # B=1, K=3, L=2
    entropy = mixture_entropy(weights)[0]
    assert entropy[0] == pytest.approx(-(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)))
    assert entropy[1] == pytest.approx(0.0)
    senses = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 1.0]]]], dtype=torch.float64)  # B=1, K=3, L=1, d=2
    c = 1 / math.sqrt(2)
    assert offdiag_cosine(senses)[0, 0] == pytest.approx((0 + c + c) * 2 / 6)


def test_alignment_helpers():
    assert parse_pharaoh_line("0-0 2-1", "x") == [(0, 0), (2, 1)]
    assert is_content_word("house") and not is_content_word("a") and not is_content_word("--")
    # forward 0-0 1-1 2-1, reverse 0-0 1-1 1-2: the intersection plus neighbours that align a new word
    assert grow_diag_final_and({(0, 0), (1, 1), (2, 1)}, {(0, 0), (1, 1), (1, 2)}) == [(0, 0), (1, 1), (1, 2), (2, 1)]
    # a link whose words are both aligned elsewhere and not adjacent is not added
    assert grow_diag_final_and({(0, 0), (1, 1)}, {(0, 0), (1, 1), (0, 1)}) == [(0, 0), (1, 1)]
