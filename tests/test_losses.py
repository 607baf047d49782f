"""Losses against values computed by hand (paper Eq. 1-6)."""
import math

import torch

from adcgan.detectors.adcgan import losses as L


def _brute_infonce(local, glob, mask_value):
    """Eq. 1 written as an explicit loop over images and locations."""
    n, k = glob.shape
    loc = local.flatten(2)
    m2 = loc.shape[2]
    total = 0.0
    for a in range(n):
        negs = []
        for b in range(n):
            for j in range(m2):
                v = float(loc[b, :, j] @ glob[a])
                if b == a:
                    if mask_value is None:
                        continue
                    v = mask_value
                negs.append(v)
        for i in range(m2):
            pos = float(loc[a, :, i] @ glob[a])
            denom = math.exp(pos) + sum(math.exp(v) for v in negs)
            total += -(pos - math.log(denom))
    return total / (n * m2)


def test_infonce_hand_computed_two_images():
    local = torch.tensor([1.0, 2.0]).view(2, 1, 1, 1)
    glob = torch.tensor([[0.5], [-1.0]])
    # image 0: pos 0.5, negative 2*0.5 = 1 -> log(1 + e^0.5); image 1: pos -2, negative -1 -> log(1 + e^1)
    expected = (math.log(1 + math.exp(0.5)) + math.log(1 + math.exp(1.0))) / 2
    assert abs(float(L.infonce_local_global(local, glob)) - expected) < 1e-6
    # released-code masking: own location kept as a constant -10 in the denominator
    exp10 = (-0.5 + math.log(math.exp(0.5) + math.exp(1.0) + math.exp(-10))
             + 2.0 + math.log(math.exp(-2.0) + math.exp(-1.0) + math.exp(-10))) / 2
    assert abs(float(L.infonce_local_global(local, glob, mask_value=-10.0)) - exp10) < 1e-6


def test_infonce_matches_explicit_loop():
    g = torch.Generator().manual_seed(0)
    local, glob = torch.randn(3, 4, 2, 2, generator=g), torch.randn(3, 4, generator=g)
    for mask in (None, -10.0):
        got = float(L.infonce_local_global(local, glob, mask))
        assert abs(got - _brute_infonce(local, glob, mask)) < 1e-5


def test_infonce_single_image_has_no_negatives():
    local, glob = torch.ones(1, 2, 2, 2), torch.ones(1, 2)
    assert float(L.infonce_local_global(local, glob)) == 0.0


def test_relativistic_losses_hand_computed():
    cr, cf = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0])
    d = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    g = (math.log(1 + math.exp(1)) + math.log(2)) / 2
    assert abs(float(L.relativistic_d_loss(cr, cf)) - d) < 1e-6
    assert abs(float(L.relativistic_g_loss(cr, cf)) - g) < 1e-6


def test_critic_and_generator_losses_add_weighted_contrastive_term():
    cr, cf = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 0.0])
    local, glob = torch.tensor([1.0, 2.0]).view(2, 1, 1, 1), torch.tensor([[0.5], [-1.0]])
    nce = (math.log(1 + math.exp(0.5)) + math.log(1 + math.exp(1.0))) / 2
    d = (math.log(1 + math.exp(-1)) + math.log(2)) / 2
    g = (math.log(1 + math.exp(1)) + math.log(2)) / 2
    assert abs(float(L.critic_loss(cr, cf, local, glob, beta=0.3)) - (d + 0.3 * nce)) < 1e-6
    assert abs(float(L.generator_loss(cr, cf, local, glob, alpha=0.3)) - (g + 0.3 * nce)) < 1e-6


def test_ae_and_dz_losses_hand_computed():
    x, r = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 1.0])
    assert abs(float(L.ae_loss(x, r)) - 0.5) < 1e-7
    zero = torch.zeros(3)
    assert abs(float(L.dz_loss(zero, zero)) - 2 * math.log(2)) < 1e-6
    # Dz(z,z) = +2 -> -log sigmoid(2); Dz(z,E(x)) = -1 -> -log(1 - sigmoid(-1))
    expected = math.log(1 + math.exp(-2)) + math.log(1 + math.exp(-1))
    assert abs(float(L.dz_loss(torch.tensor([2.0]), torch.tensor([-1.0]))) - expected) < 1e-6
    assert abs(float(L.encoder_adv_loss(torch.tensor([0.0]))) - math.log(2)) < 1e-6


def test_normality_score_and_ablations_hand_computed():
    c = {k: torch.tensor([v]) for k, v in {"LGR": 1.0, "LGD": 2.0, "LFE": 3.0, "LFL": 4.0}.items()}
    ns = L.normality_score(c["LGR"], c["LGD"], c["LFE"], c["LFL"], lam=0.1, rho=0.5)
    assert abs(float(ns) - (0.2 + 0.9 + 1.5 + 2.0)) < 1e-6
    ab = L.ablation_scores(c, 0.1, 0.5)
    assert abs(float(ab["LG"]) - 1.1) < 1e-6
    assert abs(float(ab["LG+LFE"]) - 4.1) < 1e-6
    assert abs(float(ab["LG+LFL"]) - 5.1) < 1e-6
    assert abs(float(ab["GF"]) - 4.6) < 1e-6


def test_per_sample_l1_hand_computed_in_any_layout_and_leaves_its_inputs():
    a = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]], [[[0.0, 0.0], [0.0, 4.0]]]]).repeat(1, 3, 1, 1)  # (2, 3, 2, 2)
    b = torch.zeros_like(a)
    b[0, 1] = 1.0                                              # image 0, channel 1: |0| + |-3| + |2| + |-0.5|
    want = torch.tensor([(6.5 + 6.5 + 5.5) / 12, 4.0 * 3 / 12])
    a0, b0 = a.clone(), b.clone()
    torch.testing.assert_close(L.per_sample_l1(a, b), want)
    cl = torch.channels_last
    torch.testing.assert_close(L.per_sample_l1(a.contiguous(memory_format=cl), b.contiguous(memory_format=cl)), want)
    torch.testing.assert_close(L.per_sample_l1(a.flatten(1), b.flatten(1)), want)
    assert torch.equal(a, a0) and torch.equal(b, b0)
