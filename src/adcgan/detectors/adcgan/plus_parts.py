"""adcgan+ score and loss parts: rotation and translation prediction, k-NN feature distance.

Rotation prediction follows GEOM (Golan & El-Yaniv 2018); the translation head follows Hendrycks et al.
(2019): a shift by a quarter of the image side, horizontally and vertically, each axis its own 3-way label.

Pure functions over a critic (:class:`adcgan.detectors.adcgan.networks.Critic` with ``rotation_head``)
and feature tensors, so each is tested on its own.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

N_ROTATIONS = 4
SHIFTS = (0, 1, -1)  # translation label -> direction (0: none, 1: right/down, 2: left/up) of each axis


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


def rotation_globs(critic: nn.Module, x: Tensor) -> list[Tensor]:
    """The critic's global features (N, F) of ``rotate(x, r)`` for r = 0..3: the passes that ROT, the KNN
    rotation ensemble and the held-out rotation accuracy all read (computed once per batch)."""
    return [critic(rotate(x, r)).glob for r in range(N_ROTATIONS)]


def rotation_nll(critic: nn.Module, x: Tensor, globs: list[Tensor] | None = None) -> Tensor:
    """Per-image rotation score (N,): higher = rotations harder to tell = more anomalous.
    ``globs``: :func:`rotation_globs` of ``x`` when already computed."""
    return rotation_nll_from_logits([critic.rot(g) for g in (globs or rotation_globs(critic, x))])


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


def shift_pixels(side: int) -> int:
    """Translation step for an image side: a quarter of it (8 pixels at 32, 7 at 28, 16 at 64)."""
    return side // 4


def translate(x: Tensor, h: int, v: int) -> Tensor:
    """``x`` (N, C, H, W) shifted by ``SHIFTS[h]`` and ``SHIFTS[v]`` steps (right/down positive), the
    uncovered border filled by reflection (no wrap-around); labels ``(0, 0)`` return ``x``."""
    dx, dy = SHIFTS[h], SHIFTS[v]
    if not dx and not dy:
        return x
    s, side_h, side_w = shift_pixels(x.shape[-1]), x.shape[-2], x.shape[-1]
    xp = F.pad(x, (s, s, s, s), mode="reflect")
    return xp[:, :, s - dy * s:s - dy * s + side_h, s - dx * s:s - dx * s + side_w]


def translation_views(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Each real image of ``x`` (N, C, H, W) under one random translation: ``(views, h, v)``,
    views (N, C, H, W) and the horizontal and vertical labels (N,) int64 (indices into ``SHIFTS``)."""
    h, v = (torch.randint(0, len(SHIFTS), (len(x),), device=x.device) for _ in range(2))
    out = x.clone()
    for a in range(len(SHIFTS)):
        for b in range(len(SHIFTS)):
            m = (h == a) & (v == b)
            if bool(m.any()):
                out[m] = translate(x[m], a, b)
    return out, h, v


def translation_loss(critic: nn.Module, x: Tensor) -> Tensor:
    """Cross-entropy of the critic's translation head (horizontal + vertical) on translated real images."""
    views, h, v = translation_views(x)
    logits = critic.trans(critic(views).glob)
    return F.cross_entropy(logits[:, :3], h) + F.cross_entropy(logits[:, 3:], v)


def translation_combos() -> list[tuple[int, int]]:
    """The 9 (horizontal, vertical) label pairs, row-major."""
    return [(a, b) for a in range(len(SHIFTS)) for b in range(len(SHIFTS))]


def translation_nll_from_logits(logits: list[Tensor]) -> Tensor:
    """Translation score: mean over the 9 pairs (a, b) of -log p_h(a) - log p_v(b); ``logits[i]`` (N, 6)
    of the images under :func:`translation_combos`'s pair ``i``."""
    terms = [-F.log_softmax(lg[:, :3], dim=1)[:, a] - F.log_softmax(lg[:, 3:], dim=1)[:, b]
             for (a, b), lg in zip(translation_combos(), logits)]
    return torch.stack(terms).mean(0)


def translation_logits(critic: nn.Module, x: Tensor) -> list[Tensor]:
    """The translation head's logits (N, 6) of ``x`` under each of :func:`translation_combos`' 9 shifts."""
    return [critic.trans(critic(translate(x, a, b)).glob) for a, b in translation_combos()]


def translation_nll(critic: nn.Module, x: Tensor) -> Tensor:
    """Per-image translation score (N,): higher = shifts harder to tell = more anomalous."""
    return translation_nll_from_logits(translation_logits(critic, x))


def heldout_accuracy(critic: nn.Module, x: Tensor) -> dict[str, float]:
    """Label-free figures of a critic on held-out normal images ``x``: the rotation head's accuracy over
    the 4 rotations and the translation head's over the 9 shifts (both axes right), for the heads it has."""
    out: dict[str, float] = {}
    if critic.rot is not None:
        hits = [(critic.rot(g).argmax(1) == r).float().mean() for r, g in enumerate(rotation_globs(critic, x))]
        out["heldout_rotation_accuracy"] = float(torch.stack(hits).mean())
    if critic.trans is not None:
        hits = [((lg[:, :3].argmax(1) == a) & (lg[:, 3:].argmax(1) == b)).float().mean()
                for (a, b), lg in zip(translation_combos(), translation_logits(critic, x))]
        out["heldout_translation_accuracy"] = float(torch.stack(hits).mean())
    return out


def feature_bank_views(critic: nn.Module, x: Tensor, rotations: bool) -> Tensor:
    """Unit-norm global features of ``x`` (N, C, H, W): (N, F), or (4, N, F) over the 4 rotations."""
    if not rotations:
        return normalize_features(critic(x).glob)
    return torch.stack([normalize_features(g) for g in rotation_globs(critic, x)])


def knn_score(critic: nn.Module, x: Tensor, bank: Tensor, k: int, glob: Tensor | None = None,
              globs: list[Tensor] | None = None) -> Tensor:
    """KNN component (N,): with a 2-D bank (M, F), the k-NN distance of x's global features (``glob``
    if already computed); with a 3-D bank (4, M, F), the mean over rotations r of the distance of
    rotate(x, r)'s features to the bank of rotation r (a test-time rotation ensemble; ``globs``:
    :func:`rotation_globs` of ``x`` when already computed, of which rotations 1-3 are read)."""
    first = normalize_features(critic(x).glob if glob is None else glob)
    if bank.dim() == 2:
        return knn_distance(first, bank, k)
    turned = (globs or rotation_globs(critic, x))[1:]
    feats = [first] + [normalize_features(g) for g in turned]
    return torch.stack([knn_distance(f, bank[r], k) for r, f in enumerate(feats)]).mean(0)
