"""AD-CGAN losses as small pure functions (paper Eq. 1, 2, 3, 4-6).

Every function takes tensors and returns a scalar tensor (or per-image scores). The training losses
run in fp32 under bf16 mixed precision (:func:`adcgan.training.precision.fp32_loss`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from adcgan.training.precision import fp32_loss

ABLATION_INPUTS = ("LGR", "LGD", "LFE", "LFL")
"""The four score components of Eq. 4 that the Table 4 ablations combine."""
ABLATIONS = ("LG", "LG+LFE", "LG+LFL", "GF")
"""Table 4's scores: LG alone, LG plus LFE (rho = 1), LG plus LFL (rho = 0), the full score GF."""


@fp32_loss
def infonce_local_global(local: Tensor, glob: Tensor, mask_value: float | None = None) -> Tensor:
    """Local-global InfoNCE of Eq. 1, with phi_theta = identity (released code).

    For image a and location i the positive score is <C_i(x_a), E(x_a)>; the
    negatives are <C_j(x_b), E(x_a)> for every other image b != a and every
    location j (InfoMax-GAN / released code, notes section 6). The image's own
    locations are masked: removed when ``mask_value`` is ``None`` (default), or
    replaced by the constant ``mask_value`` and kept in the denominator (the
    released code uses -10). Negatives are shared by all M*M locations of an
    image, so their log-sum-exp is computed once per image: O(N * N * M^2).

    Args:
        local: Local feature map C_psi(x), shape (N, K, M, M).
        glob: Global features E_psi(x), shape (N, K).
        mask_value: See above.

    Returns:
        Scalar mean over the N * M^2 (image, location) pairs of -log p(positive).
    """
    n, k = glob.shape
    loc = local.flatten(2)                                        # (N, K, L)
    pos = torch.einsum("nkl,nk->nl", loc, glob)                   # (N, L)
    allv = glob @ loc.permute(1, 0, 2).reshape(k, -1)             # (N, N*L): [a, b*L + j]
    allv = allv.view(n, n, -1)
    own = torch.eye(n, dtype=torch.bool, device=glob.device)[:, :, None].expand_as(allv)
    fill = float("-inf") if mask_value is None else float(mask_value)
    neg_lse = torch.logsumexp(allv.masked_fill(own, fill).reshape(n, -1), dim=1)   # (N,)
    log_p = pos - torch.logaddexp(pos, neg_lse[:, None])
    return -log_p.mean()


@fp32_loss
def relativistic_d_loss(c_real: Tensor, c_fake: Tensor) -> Tensor:
    """L_advD of Eq. 6: -E[log sigmoid(C(x_r) - C(x_f))], pairs matched by batch position."""
    return F.softplus(-(c_real - c_fake)).mean()


@fp32_loss
def relativistic_g_loss(c_real: Tensor, c_fake: Tensor) -> Tensor:
    """L_advG of Eq. 6: -E[log sigmoid(C(x_f) - C(x_r))]."""
    return F.softplus(-(c_fake - c_real)).mean()


def critic_loss(c_real: Tensor, c_fake: Tensor, local_real: Tensor, glob_real: Tensor,
                beta: float = 0.3, mask_value: float | None = None) -> Tensor:
    """L_Dcgan = L_advD + beta * L_cgan(X_r) (Eq. 2), contrastive term on real features only."""
    return relativistic_d_loss(c_real, c_fake) + beta * infonce_local_global(local_real, glob_real, mask_value)


def generator_loss(c_real: Tensor, c_fake: Tensor, local_fake: Tensor, glob_fake: Tensor,
                   alpha: float = 0.3, mask_value: float | None = None) -> Tensor:
    """L_G = L_advG + alpha * L_cgan(X_f) (Eq. 2), contrastive term on fake features only."""
    return relativistic_g_loss(c_real, c_fake) + alpha * infonce_local_global(local_fake, glob_fake, mask_value)


@fp32_loss
def ae_loss(x: Tensor, recon: Tensor) -> Tensor:
    """L_AE = ||x - G(E(x))||^2, averaged over elements (MSE)."""
    return F.mse_loss(recon, x)


@fp32_loss
def dz_loss(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """L_dz of Eq. 3 as binary cross-entropy: Dz(z, z) -> 1, Dz(z, E(x)) -> 0."""
    return (F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
            + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake)))


@fp32_loss
def encoder_adv_loss(logits_fake: Tensor) -> Tensor:
    """The encoder's side of Eq. 3 (non-saturating): make Dz(z, E(x)) look like a real pair."""
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def per_sample_l1(a: Tensor, b: Tensor) -> Tensor:
    """Mean |a - b| over every axis but the first: (N, ...) x2 -> (N,) (LGR, LGD and LFE of Eq. 4).

    Reduces the difference where it lies: a channels-last map is not copied into NCHW order first
    (at 32x32 the critic's (512, 2048, 6, 6) local map took 63 ms that way, 25 ms this way).
    """
    return (a - b).abs_().mean(dim=tuple(range(1, a.dim())))


def normality_score(lgr: Tensor, lgd: Tensor, lfe: Tensor, lfl: Tensor, lam: float = 0.1,
                    rho: float = 0.5) -> Tensor:
    """NS = LGr + LFr (Eq. 4): lam * LGD + (1 - lam) * LGR + rho * LFE + (1 - rho) * LFL."""
    return lam * lgd + (1.0 - lam) * lgr + rho * lfe + (1.0 - rho) * lfl


def ablation_scores(c: dict[str, Tensor], lam: float = 0.1, rho: float = 0.5) -> dict[str, Tensor]:
    """Table 4 variants (:data:`ABLATIONS`) from the four components: LG, LG+LFE, LG+LFL, GF (full)."""
    lg = lam * c["LGD"] + (1.0 - lam) * c["LGR"]
    return {"LG": lg, "LG+LFE": lg + c["LFE"], "LG+LFL": lg + c["LFL"],
            "GF": normality_score(c["LGR"], c["LGD"], c["LFE"], c["LFL"], lam, rho)}
