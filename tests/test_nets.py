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


def _blind(net: torch.nn.Module, size: int = 28) -> tuple[list[int], list[int]]:
    """The input columns and rows whose pixels reach no output of ``net`` (zero gradient of every output)."""
    net.eval()  # in training, BatchNorm's batch statistics add a weak coupling through the whole map
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, size, size, generator=gen, requires_grad=True)
    out = net(x)  # a random projection of every output (a plain sum of a LayerNorm output is constant)
    outs = [o for o in (out if isinstance(out, tuple) else (out,)) if torch.is_tensor(o)]
    sum((o * torch.randn(o.shape, generator=gen)).sum() for o in outs).backward()
    g = x.grad.abs().sum(dim=(0, 1))
    return [c for c in range(size) if float(g[:, c].sum()) == 0], [r for r in range(size) if float(g[r].sum()) == 0]


def test_the_28x28_encoder_and_critic_never_see_the_last_rows_and_columns():
    """The paper-style 28x28 nets (released code: Discriminator_MNIST, Encoder_MNIST) use unpadded stride-2
    3x3 convolutions. By hand: such a window over n pixels starts at 0, 2, ..., 2 * ((n - 3) // 2), so over 28
    pixels the last one covers 24..26 (the critic drops pixel 27); the encoder's 28 -> 26 -> 12 -> 5 drops map
    column 11 of the 12-wide map, the only one that input pixels 25 and 26 reach. G's last column and row are
    held only by the pixel loss (docs/faithfulness.md)."""
    torch.manual_seed(0)
    assert _blind(Critic((28, 28, 1))) == ([27], [27])
    assert _blind(Encoder((28, 28, 1), 100)) == ([25, 26, 27], [25, 26, 27])
