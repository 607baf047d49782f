"""adcgan.training.optim: the fused Adam/AdamW on flat views of channels-last weights, bit for bit torch's."""
import pytest
import torch

from adcgan import torch_compat
from adcgan.training.optim import Adam, AdamW, flat_view


def test_flat_view_by_hand():
    """A (1, 2, 2, 2) channels-last tensor holds its elements in (n, h, w, c) order: the flat view reads
    them as stored; a contiguous tensor or one with gaps (every other column) has none."""
    t = torch.arange(8.0).view(1, 2, 2, 2).to(memory_format=torch.channels_last)
    assert flat_view(t).tolist() == [0.0, 4.0, 1.0, 5.0, 2.0, 6.0, 3.0, 7.0]
    assert flat_view(torch.zeros(2, 3)) is None
    assert flat_view(torch.zeros(3, 4)[:, ::2]) is None
    v = flat_view(t)
    v.add_(1.0)  # a view: writes land in t
    assert t[0, 1, 0, 0].item() == 5.0


@pytest.mark.parametrize("cls,torch_cls", [(Adam, torch.optim.Adam), (AdamW, torch.optim.AdamW)])
def test_fused_steps_on_channels_last_weights_equal_torch_bit_for_bit(cls, torch_cls, monkeypatch):
    """Three fused steps with weight decay on a channels-last conv weight, a contiguous one and a bias:
    our kernel calls get only contiguous tensors (nothing for it to copy), parameters and moments equal
    torch's fused optimiser exactly, layouts are kept, and the state_dict loads into torch's class."""
    assert torch_compat.supported(torch_compat.ADAM_INIT_GROUP)  # its probe's own kernel calls come before the spy
    name = "_fused_adamw_" if torch_cls is torch.optim.AdamW else "_fused_adam_"
    kernel, seen = getattr(torch, name), []
    def spy(params, grads, exp_avgs, exp_avg_sqs, *args, **kwargs):
        seen.append(all(t.is_contiguous() for ts in (params, grads, exp_avgs, exp_avg_sqs) for t in ts))
        return kernel(params, grads, exp_avgs, exp_avg_sqs, *args, **kwargs)
    monkeypatch.setattr(torch, name, spy)
    torch.manual_seed(0)
    shapes = [(8, 4, 3, 3), (6, 5), (8,)]
    ours = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    ours[0].data = ours[0].data.to(memory_format=torch.channels_last)
    ref = [torch.nn.Parameter(p.detach().clone(memory_format=torch.preserve_format)) for p in ours]
    start = [p.detach().clone() for p in ours]
    opts = [c(ps, lr=1e-2, betas=(0.5, 0.999), weight_decay=0.1, fused=True) for c, ps in ((cls, ours), (torch_cls, ref))]
    for step in range(3):
        g = [torch.randn(s, generator=torch.Generator().manual_seed(10 * step + i)) for i, s in enumerate(shapes)]
        for ps, opt in zip((ours, ref), opts):
            for p, gi in zip(ps, g):
                p.grad = gi.to(memory_format=torch.channels_last) if gi.dim() == 4 else gi.clone()
            opt.step()
    assert seen == [True, False] * 3  # ours: flat views; torch's: the channels-last tensors themselves
    assert ours[0].is_contiguous(memory_format=torch.channels_last) and not ours[0].is_contiguous()
    for a, b in zip(ours, ref):
        assert torch.equal(a, b)
        for k in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opts[0].state[a][k], opts[1].state[b][k])
    assert all(not torch.equal(a, a0) for a, a0 in zip(ours, start))
    torch_cls(ref, lr=1e-2, fused=True).load_state_dict(opts[0].state_dict())
