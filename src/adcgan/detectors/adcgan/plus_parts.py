"""adcgan+ score and loss parts: rotation prediction (GEOM-style) and k-NN feature distance.

Pure functions over a critic (:class:`adcgan.detectors.adcgan.networks.Critic` with ``rotation_head``)
and feature tensors, so each is tested on its own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

N_ROTATIONS = 4


def rotate(x: Tensor, k: int) -> Tensor:
    """``x`` (N, C, H, W) rotated by ``k`` * 90 degrees (square images)."""
    return torch.rot90(x, k, dims=(2, 3)) if k % N_ROTATIONS else x


def rotation_logits(critic: nn.Module, x: Tensor) -> Tensor:
    """Rotation logits (N, 4) of the critic's global features of ``x``."""
    return critic.rot(critic(x).glob)


def rotate_each(x: Tensor, k: Tensor) -> Tensor:
    """Image ``i`` of ``x`` (N, C, H, W) rotated by ``k[i]`` * 90 degrees (N, C, H, W)."""
    return torch.stack([rotate(x, r) for r in range(N_ROTATIONS)])[k, torch.arange(len(x), device=x.device)]


def rotation_views(x: Tensor, views: str = "one") -> tuple[Tensor, Tensor]:
    """Rotated copies of real images ``x`` (N, C, H, W) and their rotation labels.

    Args:
        x: Real images.
        views: ``"one"``: one random rotation per image (N views); ``"all"``: every image in all
            four rotations, rotation-major (4N views, labels ``[0]*N + [1]*N + [2]*N + [3]*N``).

    Returns:
        ``(views, labels)``: (M, C, H, W) and (M,) int64.
    """
    if views == "all":
        return (torch.cat([rotate(x, r) for r in range(N_ROTATIONS)]),
                torch.arange(N_ROTATIONS, device=x.device).repeat_interleave(len(x)))
    k = torch.randint(0, N_ROTATIONS, (len(x),), device=x.device)
    return rotate_each(x, k), k


def rotation_loss(critic: nn.Module, x: Tensor, views: str = "one") -> Tensor:
    """Cross-entropy of the critic's rotation head on rotated real images (see :func:`rotation_views`).

    Args:
        critic: A critic with a rotation head.
        x: Real images (N, C, H, W).
        views: ``"one"`` random rotation per image, or ``"all"`` four.
    """
    xr, k = rotation_views(x, views)
    return F.cross_entropy(rotation_logits(critic, xr), k)


def rotated_negatives(x: Tensor) -> Tensor:
    """Each real image of ``x`` (N, C, H, W) turned by a random 90, 180 or 270 degrees (N, C, H, W).

    A shifted instance of a normal image is not normal (CSI's shifted instances; Sohn et al. 2021's
    distribution augmentation): with ``rotated_negatives > 0`` they take the fake role in the critic's
    relativistic loss (Eq. 6's L_advD), each paired with the image it was turned from.
    """
    return rotate_each(x, torch.randint(1, N_ROTATIONS, (len(x),), device=x.device))


def rotation_nll_from_logits(logits: list[Tensor]) -> Tensor:
    """GEOM score: mean over the 4 rotations r of -log p(r | rotate(x, r)); ``logits[r]`` (N, 4)."""
    return torch.stack([-F.log_softmax(lg, dim=1)[:, r] for r, lg in enumerate(logits)]).mean(0)


def rotation_nll(critic: nn.Module, x: Tensor) -> Tensor:
    """Per-image rotation score (N,): higher = rotations harder to tell = more anomalous."""
    return rotation_nll_from_logits([rotation_logits(critic, rotate(x, r)) for r in range(N_ROTATIONS)])


def normalize_features(f: Tensor) -> Tensor:
    """Rows scaled to unit L2 norm (cosine geometry for the k-NN bank)."""
    return F.normalize(f.flatten(1), dim=1)


def knn_distance(queries: Tensor, bank: Tensor, k: int) -> Tensor:
    """Mean Euclidean distance (N,) of each query row to its ``k`` nearest rows of ``bank`` (M, F)."""
    k = min(k, len(bank))
    q = queries.flatten(1)
    # |q - b|^2 = |q|^2 + |b|^2 - 2 q.b: the form torch.cdist uses for large inputs, written out so the
    # computation is the same at every batch size (cdist switches algorithm at 25 rows; ONNX export)
    d2 = (q * q).sum(1, keepdim=True) + (bank * bank).sum(1)[None, :] - 2.0 * q @ bank.T
    return d2.clamp_min(0.0).sqrt().topk(k, dim=1, largest=False).values.mean(1)
