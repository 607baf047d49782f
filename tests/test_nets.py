"""Shapes of every architecture and parameter counts against the released code (notes section 5)."""
import pytest
import torch

from adcgan.detectors.adcgan.networks import Critic, Encoder, Generator, LatentDiscriminator


def n_params(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


# trainable parameter counts of the released models (official-code-notes.md section 5)
OFFICIAL = {28: (1_191_724, 3_716_041, 272_385, 11), 32: (3_589_932, 7_953_803, 33_085_825, 6),
            64: (8_786_520, 12_042_316, 75_107_201, 10)}


@pytest.mark.parametrize("geometry", [(28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_shapes_and_parameter_counts(geometry):
    h, _, ch = geometry
    z = 200 if h == 64 else 100
    enc, gen, critic = Encoder(geometry, z), Generator(geometry, z), Critic(geometry)
    enc.eval(), gen.eval(), critic.eval()
    x = torch.rand(2, ch, h, h)
    with torch.no_grad():
        e = enc(x)
        rec = gen(e)
        out = critic(x)
    n_e, n_g, n_d, m = OFFICIAL[h]
    k = 128 if h == 28 else 2048
    assert e.shape == (2, z, 1, 1)
    assert rec.shape == (2, ch, h, h) and rec.abs().max() <= 1
    assert out.logits.shape == (2,) and out.local.shape == (2, k, m, m) and out.glob.shape == (2, k)
    assert (n_params(enc), n_params(gen), n_params(critic)) == (n_e, n_g, n_d)


def test_dz_pair_and_per_code_shapes():
    a, b = torch.randn(4, 100, 1, 1), torch.randn(4, 100, 1, 1)
    assert LatentDiscriminator(100, pair=True)(a, b).shape == (4,)
    per_code = LatentDiscriminator(100, pair=False)
    assert per_code(a, b).shape == (8,)
    assert n_params(per_code) == 8_577  # released Dz, Z = 100
    assert n_params(LatentDiscriminator(100, pair=True)) == 2 * 100 * 64 + 64 + 64 * 32 + 32 + 33


def test_official_residual_block_doubles_skip():
    g_paper, g_off = Generator((28, 28, 1), 100), Generator((28, 28, 1), 100, official=True)
    assert g_paper.res.skip_scale == 1.0 and g_off.res.skip_scale == 2.0
    assert g_off.res.f[1].eps == 0.8 and g_paper.res.f[1].eps == 1e-5


def test_unsupported_geometry_is_refused():
    with pytest.raises(ValueError, match="28x28, 32x32 and 64x64"):
        Encoder((48, 48, 3), 100)
