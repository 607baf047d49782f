"""The stacked (per-problem weights) layout of ADGAN's test-time search, against plain modules."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from adcgan.nets.baselines import DCGenerator
from adcgan.nets.stacked import stacked_conv_transpose, stacked_linear, stacked_parameters


def _stack(params: dict[str, torch.Tensor], p: int) -> dict[str, torch.Tensor]:
    return {k: w.unsqueeze(0).repeat(p, *([1] * w.dim())).requires_grad_(True) for k, w in params.items()}


def test_linear_by_hand():
    # y = W h with W = [[1, 2], [3, 4], [5, 6]] stored transposed; h = (1, -1) -> (-1, -1, -1)
    wt = torch.tensor([[[1.0, 3.0, 5.0], [2.0, 4.0, 6.0]]], requires_grad=True)
    h = torch.tensor([[1.0, -1.0]], requires_grad=True)
    y = stacked_linear(h, wt)
    assert y.tolist() == [[-1.0, -1.0, -1.0]]
    gh, gw = torch.autograd.grad((y * torch.tensor([[1.0, 0.0, 2.0]])).sum(), [h, wt])
    assert gh.tolist() == [[11.0, 14.0]]  # W^T g = (1*1 + 5*2, 2*1 + 6*2)
    assert gw.tolist() == [[[1.0, 0.0, 2.0], [-1.0, 0.0, -2.0]]]  # h g^T


def test_conv_transpose_matches_torch_and_rejects_groups():
    m = nn.ConvTranspose2d(3, 2, 4, 2, 1, bias=False)
    x = torch.randn(2, 3, 5, 5)
    w = m.weight.detach().unsqueeze(0).repeat(2, 1, 1, 1, 1)
    torch.testing.assert_close(stacked_conv_transpose(x, w, m), m(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="groups=1"):
        stacked_conv_transpose(x, w, nn.ConvTranspose2d(2, 2, 4, 2, 1, groups=2))


def test_generator_gradients_per_problem_and_into_buffers():
    """Each problem's weight gradient equals that of its own module copy; buffers receive them in place."""
    torch.manual_seed(0)
    g = DCGenerator(6, (28, 28, 1), width=4).eval()
    z, target = torch.randn(3, 6), torch.rand(3, 1, 28, 28)
    params = _stack(stacked_parameters(g), 3)
    buffers = {k: torch.full_like(w, float("nan")) for k, w in params.items() if k.endswith("0.weight")}
    loss = (g.forward_stacked(params, z, buffers) - target).pow(2).flatten(1).mean(1).sum()
    grads = dict(zip(params, torch.autograd.grad(loss, list(params.values()))))
    for k, buf in buffers.items():
        assert grads[k].data_ptr() == buf.data_ptr(), k
    for p in range(3):
        ref = copy.deepcopy(g)
        (ref(z[p:p + 1]) - target[p:p + 1]).pow(2).mean().backward()
        for k, w in ref.named_parameters():
            expect = w.grad.t() if k == "fc.0.weight" else w.grad
            torch.testing.assert_close(grads[k][p], expect, rtol=1e-4, atol=1e-6, msg=k)
