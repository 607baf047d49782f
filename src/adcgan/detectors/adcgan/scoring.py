"""AD-CGAN scoring (Eq. 4-5) and adcgan+'s score parts: the four components, KNN, ROT, TRN, and the
label-free held-out figures of the self-supervised heads.

A mixin of :class:`adcgan.detectors.adcgan.detector.ADCGAN`: it reads ``self.nets`` (E, G, D, Dz),
``self.config`` (:class:`ADCGANConfig`) and keeps its fixed draws and KNN bank in ``self.scoring_state``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn.utils import parametrize

from adcgan.detectors.adcgan import losses as L
from adcgan.detectors.adcgan import plus_parts as P
from adcgan.io.tensors import as_image_tensor, to_float

LABEL_FREE_IMAGES = 2000  # held-out normal images the label-free figures use at most


class ADCGANScoring:
    """Normality score NS (Eq. 4) with LFL (Eq. 5), and adcgan+'s KNN, ROT and TRN components."""

    def refit_bank(self, data: Tensor) -> None:
        """Fill the KNN bank from the normal training images ``data`` (NCHW) with the current settings
        (``knn_bank_size``, ``knn_rotations``): after training, or when a saved model is evaluated under
        other bank settings (``adcgan evaluate --set knn_rotations=true``)."""
        self.scoring_state["bank"] = self._feature_bank(data)
        self.train_info["knn_bank_images"] = int(self.scoring_state["bank"].shape[-2])

    def _feature_bank(self, data: Tensor) -> Tensor:
        """Unit-norm critic global features of up to ``knn_bank_size`` training images (seeded): (M, F),
        or (4, M, F) over the four rotations with ``knn_rotations``."""
        c = self.config
        idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(c.seed + 2))[:c.knn_bank_size]
        self.set_train(False)
        feats = []
        with torch.no_grad(), parametrize.cached():
            for i in range(0, len(idx), c.score_batch_size):
                x = to_float(data[idx[i:i + c.score_batch_size].sort().values].to(self.device), c.channels_last)
                feats.append(P.feature_bank_views(self.nets["D"], x, c.knn_rotations))
        return torch.cat(feats, dim=-2)

    def extra_state(self) -> dict[str, Tensor]:
        """The KNN bank, when there is one."""
        bank = self.scoring_state.get("bank")
        return {"knn_bank": bank} if bank is not None else {}

    def load_extra_state(self, state: dict[str, Tensor]) -> None:
        """Restore the KNN bank."""
        if "knn_bank" in state:
            self.scoring_state["bank"] = state["knn_bank"]

    def prepare_scoring(self) -> None:
        """Draw the K fixed z of LFL from ``score_seed`` and encode G(z) once."""
        gen = torch.Generator().manual_seed(self.config.score_seed)
        z = torch.randn(self.config.lfl_draws, self.config.z_dim, 1, 1, generator=gen).to(self.device)
        with torch.no_grad():
            ez = self.nets["E"](self.generate(z))
            self.scoring_state.update(z=z, ez=ez)
            if self.config.lfl_form == "cycle":
                self.scoring_state["cycle_ref"] = self.nets["Dz"](z, ez).mean()

    def score_batch(self, x: Tensor) -> dict[str, Tensor]:
        """Components and NS (Eq. 4) per image (N,); averaged over x and its mirror with ``flip_average``."""
        if self.config.flip_average is not True:  # "auto" is resolved by the experiment from the data set
            return self._score_view(x)
        a, b = self._score_view(x), self._score_view(x.flip(3))
        return {k: (a[k] + b[k]) * 0.5 for k in a}

    def _score_view(self, x: Tensor) -> dict[str, Tensor]:
        """Four components (notes section 9 reductions), KNN and ROT when on, and NS (Eq. 4)."""
        n, c = self.nets, self.config
        e = n["E"](x)
        rec = self.generate(e)
        e_rec = n["E"](rec)
        if c.knn_k > 0:
            out = n["D"](torch.cat([x, rec]))
            loc, glob = out.local, out.glob[:len(x)]
        else:
            loc = n["D"].local_features(torch.cat([x, rec]))
        comps = {"LGR": L.per_sample_l1(x, rec), "LGD": L.per_sample_l1(loc[:len(x)], loc[len(x):]),
                 "LFE": L.per_sample_l1(e, e_rec), "LFL": self._lfl_any(e, e_rec)}
        comps["score"] = L.normality_score(comps["LGR"], comps["LGD"], comps["LFE"], comps["LFL"], c.lam, c.rho)
        globs = P.rotation_globs(n["D"], x) if c.rotation_weight > 0 else None  # shared by ROT and KNN
        if c.knn_k > 0:
            comps["KNN"] = P.knn_score(n["D"], x, self.scoring_state["bank"], c.knn_k, glob, globs)
        if c.rotation_weight > 0:
            comps["ROT"] = P.rotation_nll(n["D"], x, globs)
        if c.translation_weight > 0:
            comps["TRN"] = P.translation_nll(n["D"], x)
        return comps

    def _lfl_any(self, e: Tensor, e_rec: Tensor) -> Tensor:
        if self.config.official:
            return self._lfl_official(e, e_rec)
        if self.config.lfl_form == "cycle":  # x's latent cycle pair against the fixed draws' mean
            return (self.scoring_state["cycle_ref"] - self.nets["Dz"](e, e_rec)).abs()
        return self._lfl(e)

    def _lfl(self, e: Tensor) -> Tensor:
        """LFL(z) = |Dz(E(G(z)), z) - Dz(E(x), E(G(z)))| (Eq. 5), mean over the K fixed draws."""
        dz, z, ez = self.nets["Dz"], self.scoring_state["z"], self.scoring_state["ez"]
        k, n = len(z), len(e)
        ref = dz(ez, z)                                                      # (K,)
        pairs = dz(e.repeat_interleave(k, 0), ez.repeat(n, 1, 1, 1)).view(n, k)
        return (ref[None, :] - pairs).abs().mean(1)

    def _lfl_official(self, e: Tensor, e_rec: Tensor) -> Tensor:
        """Released code: |Dz(E(G(E(x)))) - Dz(E(x))| + |Dz(z) - Dz(E(G(E(x))))|, mean over K draws."""
        dz = self.nets["Dz"]
        d_rec, d_e, d_z = dz.single(e_rec), dz.single(e), dz.single(self.scoring_state["z"])
        return (d_rec - d_e).abs() + (d_z[None, :] - d_rec[:, None]).abs().mean(1)

    def calibrate(self, X_val: Any) -> dict[str, dict[str, float]]:
        """:meth:`BaseDetector.calibrate`, with :meth:`label_free_metrics` of ``X_val`` in ``train_info``."""
        self.train_info.update(self.label_free_metrics(X_val))
        return super().calibrate(X_val)  # type: ignore[misc]

    def label_free_metrics(self, X: Any) -> dict[str, float]:
        """Held-out accuracy of the critic's rotation and translation heads on normal images ``X``
        (up to ``LABEL_FREE_IMAGES``): figures for choosing settings without any anomaly label."""
        c = self.config
        if c.rotation_weight == 0 and c.translation_weight == 0:
            return {}
        t = as_image_tensor(X)[:LABEL_FREE_IMAGES]
        self.set_train(False)
        sums: dict[str, float] = {}
        with torch.no_grad(), parametrize.cached():
            for i in range(0, len(t), c.score_batch_size):
                x = to_float(t[i:i + c.score_batch_size].to(self.device), c.channels_last)
                for k, v in P.heldout_accuracy(self.nets["D"], x).items():
                    sums[k] = sums.get(k, 0.0) + v * len(x)
        return {k: round(v / max(len(t), 1), 4) for k, v in sums.items()}
