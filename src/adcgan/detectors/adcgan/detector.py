"""AD-CGAN detector (Sevyeri & Fevens, 2021): networks and training step (Eq. 1-3, 6); the score
(Eq. 4-5) is in :mod:`adcgan.detectors.adcgan.scoring`.

``variant="paper"`` (default) follows the paper; ``variant="official"`` switches on
the released code's behaviours that can change results (docs/faithfulness.md):
per-code Dz with a leaky logit, the encoder descending the Dz loss (not adversarial),
LFL computed from E(G(E(x))) instead of E(G(z)), critic gradients accumulated over the
two critic steps, the residual block's BN eps 0.8 and 2h + F(h), and -10 masking in InfoNCE.
``variant="plus"`` (adcgan+) keeps the paper's networks and changes defaults only, each its
own setting (docs/results.md, "adcgan+"): calibrated ``mixed`` combination, Dz on latent-cycle
pairs with the matching LFL, 64 z draws, a k-NN component on the critic's global features, a
rotation-prediction head on the critic (flip averaging, tried and measured no gain, is off), and
precise BN over the scoring passes only. Settings off in ``plus`` until measured (docs/plus.md): all four
rotations in the loss, rotated real images as negatives, a translation head, the KNN rotation ensemble,
``see_edges`` and a narrower critic (``critic_width``).
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from adcgan.config import DetectorConfig
from adcgan.detectors.adcgan import losses as L
from adcgan.detectors.adcgan import plus_parts as P
from adcgan.detectors.adcgan.config import ADCGANConfig
from adcgan.detectors.adcgan.networks import Critic, Encoder, Generator, LatentDiscriminator
from adcgan.detectors.adcgan.precise_bn import recalibrate_batchnorm
from adcgan.detectors.adcgan.scoring import ADCGANScoring
from adcgan.detectors.base import BaseDetector
from adcgan.detectors.helpers import optimizer_options
from adcgan.registry import register_detector
from adcgan.training.optim import Adam, AdamW

@register_detector
class ADCGAN(ADCGANScoring, BaseDetector):
    """AD-CGAN: encoder E, generator/decoder G, contrastive critic D, latent discriminator Dz.

    Example:
        >>> det = ADCGAN(epochs=15, warmup_epochs=5).fit(train_images)   # uint8 (N, 28, 28, 1)
        >>> scores = det.score_samples(test_images)                      # higher = more anomalous
    """

    name: ClassVar[str] = "adcgan"
    Config: ClassVar[type[DetectorConfig]] = ADCGANConfig
    component_names: ClassVar[tuple[str, ...]] = ("LGR", "LGD", "LFE", "LFL")
    ablation_names: ClassVar[tuple[str, ...]] = L.ABLATIONS  # Table 4: metrics.json "ablation_auroc" keys
    two_sided_components: ClassVar[tuple[str, ...]] = ("LFL",)  # a Dz-logit difference: sign not known
    inference_scoring: ClassVar[bool] = True
    config: ADCGANConfig

    def build_nets(self) -> dict[str, nn.Module]:
        """E, G, critic and Dz for the configured geometry."""
        c, g = self.config, self.config.geometry
        return {"E": Encoder(g, c.z_dim, c.dropout, see_edges=c.see_edges),
                "G": Generator(g, c.z_dim, official=c.official),
                "D": Critic(g, c.dropout, rotation_head=c.rotation_weight > 0,
                            translation_head=c.translation_weight > 0, see_edges=c.see_edges, width=c.critic_width),
                "Dz": LatentDiscriminator(c.z_dim, pair=not c.official)}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """AdamW (betas 0.5, 0.999) for D, G, E; Adam with L2 decay for Dz (released code)."""
        c, n = self.config, self.nets
        betas, fused = (c.adam_beta1, 0.999), optimizer_options(c.fast_training, self.device, c.cuda_graphs)
        return {"D": AdamW(n["D"].parameters(), c.lr, betas, weight_decay=c.wd_critic, **fused),
                "G": AdamW(n["G"].parameters(), c.lr, betas, weight_decay=c.wd_gen, **fused),
                "E": AdamW(n["E"].parameters(), c.lr_ae, betas, weight_decay=c.wd_enc, **fused),
                "Dz": Adam(n["Dz"].parameters(), c.lr, betas, weight_decay=c.wd_dz, **fused)}

    def active_components(self) -> tuple[str, ...]:
        """The four paper components, plus KNN (``knn_k > 0``), ROT (``rotation_weight > 0``) and TRN
        (``translation_weight > 0``)."""
        c = self.config
        extra = (("KNN", c.knn_k > 0), ("ROT", c.rotation_weight > 0), ("TRN", c.translation_weight > 0))
        return self.component_names + tuple(name for name, on in extra if on)

    @property
    def _mask(self) -> float | None:
        return -10.0 if self.config.official else None

    def generate(self, z: Tensor) -> Tensor:
        """G(z) mapped to [0, 1] with (g + 1) / 2 (released code's convention)."""
        return (self.nets["G"](z) + 1.0) * 0.5

    def _z(self, n: int) -> Tensor:
        return torch.randn(n, self.config.z_dim, 1, 1, device=self.device)

    # ---- training ----------------------------------------------------------------------------
    def train_step(self, x: Tensor, epoch: int) -> dict[str, float]:
        """Warm-up: AE only. Then: critic x2, generator, then AE + Dz (one iteration). Losses as floats."""
        return {k: float(v) for k, v in self.train_step_async(x, epoch).items()}

    def train_step_async(self, x: Tensor, epoch: int) -> dict[str, Tensor]:
        """:meth:`train_step` without waiting for the device: the losses as detached 0-d tensors. The fit
        loop calls this one; with no host synchronisation inside, it can be captured as a CUDA graph."""
        if epoch < self.config.warmup_epochs:
            return self._ae_dz_step(x, with_dz=False)
        z = self._z(len(x))
        out = {"loss_D": self._critic_steps(x, z), "loss_G": self._generator_step(x, z)}
        out.update(self._ae_dz_step(x, with_dz=True))
        return out

    def _critic_steps(self, x: Tensor, z: Tensor) -> Tensor:
        c, D, opt = self.config, self.nets["D"], self.optimizers["D"]
        with torch.no_grad():
            fake = self.generate(z)  # G is unchanged between critic steps: generate once
        opt.zero_grad(set_to_none=True)
        for k in range(c.critic_steps):
            if k > 0 and not c.official:  # released code accumulates gradients across steps
                opt.zero_grad(set_to_none=True)
            with parametrize.cached():  # one spectral-norm computation for both forwards
                real_out, fake_out = D(x), D(fake)
                loss = L.critic_loss(real_out.logits, fake_out.logits, real_out.local, real_out.glob, c.beta,
                                     self._mask)
                loss = loss + self._self_supervised_loss(D, x, real_out.logits)
            loss.backward()
            opt.step()
        return loss.detach()

    def _self_supervised_loss(self, D: nn.Module, x: Tensor, real_logits: Tensor) -> Tensor | float:
        """adcgan+'s critic terms on real images: rotation and translation prediction, rotated negatives."""
        c, loss = self.config, 0.0
        if c.rotation_weight > 0:
            loss = loss + c.rotation_weight * P.rotation_loss(D, x, c.rotation_views)
        if c.translation_weight > 0:
            loss = loss + c.translation_weight * P.translation_loss(D, x)
        if c.rotated_negatives > 0:  # rotated real images in the fake role
            loss = loss + c.rotated_negatives * L.relativistic_d_loss(real_logits, D(P.rotated_negatives(x)).logits)
        return loss

    def _generator_step(self, x: Tensor, z: Tensor) -> Tensor:
        c, D, opt = self.config, self.nets["D"], self.optimizers["G"]
        D.requires_grad_(False)
        try:
            fake = self.generate(z)  # G once, outside D's cache (its fast layers skip cached blocks)
            with parametrize.cached():
                fake_out = D(fake)
                with torch.no_grad():
                    c_real = D(x).logits
            loss = L.generator_loss(c_real, fake_out.logits, fake_out.local, fake_out.glob, c.alpha, self._mask)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        finally:
            D.requires_grad_(True)
        return loss.detach()

    def _ae_dz_step(self, x: Tensor, with_dz: bool) -> dict[str, Tensor]:
        """L_AE on E and G; with Dz: update Dz (Eq. 3) and train E against it (paper) or with it (official)."""
        n, o = self.nets, self.optimizers
        e = n["E"](x)
        loss = L.ae_loss(x, self.generate(e))
        out = {"loss_AE": loss.detach()}
        if with_dz:
            z = self._z(len(x))
            if self.config.official:
                logits = n["Dz"](z, e)            # per-code: [Dz(z); Dz(E(x))], targets 0
                l_dz = L.dz_loss(n["Dz"](z, z), logits)
                loss = loss + l_dz               # E descends the Dz loss (same sign), Dz steps too
                o["Dz"].zero_grad(set_to_none=True)
            else:  # fake pair (z, E(x)) as Eq. 3, or the latent cycle (z, E(G(z))) (adcgan+, ALAD's D_zz)
                fake = n["E"](self.generate(z)) if self.config.dz_pairs == "cycle" else e
                l_dz = self._dz_step(z, fake.detach())
                n["Dz"].requires_grad_(False)
                loss = loss + L.encoder_adv_loss(n["Dz"](z, fake))
            out["loss_Dz"] = l_dz.detach()
        o["E"].zero_grad(set_to_none=True)
        o["G"].zero_grad(set_to_none=True)
        loss.backward()
        n["Dz"].requires_grad_(True)
        o["E"].step()
        o["G"].step()
        if with_dz and self.config.official:
            o["Dz"].step()
        return out

    def _dz_step(self, z: Tensor, e: Tensor) -> Tensor:
        dz, opt = self.nets["Dz"], self.optimizers["Dz"]
        loss = L.dz_loss(dz(z, z), dz(z, e))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    def reconstruct(self, x: Tensor) -> Tensor:
        """G(E(x)) in [0, 1]."""
        return self.generate(self.nets["E"](x))

    def sample(self, n: int, seed: int = 0) -> Tensor:
        """G(z) in [0, 1] for n seeded draws of z."""
        z = torch.randn(n, self.config.z_dim, 1, 1, generator=torch.Generator().manual_seed(seed))
        return self.generate(z.to(self.device))

    def after_fit(self, data: Tensor) -> None:
        """Re-estimate BatchNorm statistics with the final weights (see :mod:`adcgan.detectors.adcgan.precise_bn`),
        then fill the KNN feature bank (``knn_k > 0``)."""
        c = self.config
        if c.bn_recalibration_batches > 0:
            used = recalibrate_batchnorm(self.nets, data, self._bn_forward, c.bn_recalibration_batches,
                                         c.batch_size, c.seed, self.device, c.channels_last)
            self.train_info["bn_recalibration_batches"] = used
        if c.knn_k > 0:
            self.refit_bank(data)

    def _bn_forward(self, x: Tensor) -> None:
        """The training-time forward passes: E, G(E(x)), critic on real/recon, G(z), critic on G(z);
        with ``bn_scoring_inputs`` only those scoring makes (no G(z); rotated x with a rotation head)."""
        n = self.nets
        rec = self.generate(n["E"](x))
        n["D"](x), n["D"](rec)
        if self.config.rotation_weight > 0:
            n["D"](P.rotate(x, int(torch.randint(1, P.N_ROTATIONS, ()))))
        if self.config.translation_weight > 0:
            n["D"](P.translation_views(x)[0])
        if not self.config.bn_scoring_inputs:
            n["D"](self.generate(self._z(len(x))))
