"""AD-CGAN settings (Appendix A.3; optimiser details from official-code-notes.md section 8).

``variant`` picks the defaults of the settings in :data:`VARIANT_DEFAULTS`; every one of them
can still be set on its own (an ablation of adcgan+ is one ``--set``).
"""
from __future__ import annotations

from dataclasses import dataclass

from adcgan.config import DetectorConfig

VARIANTS = ("paper", "official", "plus")
ROTATION_VIEWS = ("one", "all")
# Settings whose default depends on the variant: (paper and official, plus). None = variant default.
VARIANT_DEFAULTS: dict[str, tuple[object, object]] = {
    "combine": ("raw", "mixed"), "lfl_draws": (8, 64), "dz_pairs": ("data", "cycle"),
    "lfl_form": ("paper", "cycle"), "knn_k": (0, 5), "rotation_weight": (0.0, 1.0),
    "bn_scoring_inputs": (False, True),
}

PLUS_REVISION = 1
"""Revision of adcgan+'s defaults (the plus column above and every default ``plus`` relies on). Bump it when
one changes: a study then plans its adcgan+ runs anew (their spec carries the revision; issue 22's rule that
``plus`` rows are re-run with new defaults), a run of another revision is refused, and reports label the
older runs apart instead of averaging them in."""


def plus_revision(detector: str, settings: dict[str, object]) -> int | None:
    """The defaults revision a run of ``detector`` with ``settings`` carries in its spec: ``PLUS_REVISION``
    for an adcgan+ run once it is above 1, None otherwise (so studies planned at revision 1 keep their
    hashes)."""
    plus = detector == "adcgan" and settings.get("variant") == "plus"
    return PLUS_REVISION if plus and PLUS_REVISION > 1 else None


@dataclass
class ADCGANConfig(DetectorConfig):
    """AD-CGAN hyper-parameters (Appendix A.3; optimiser details from notes section 8)."""

    lr: float = 3e-4             # CGAN (G, critic) and Dz learning rate
    lr_ae: float = 2e-4          # encoder (autoencoder) learning rate
    alpha: float = 0.3           # contrastive weight in L_G
    beta: float = 0.3            # contrastive weight in L_D
    lam: float = 0.1             # lambda of Eq. 4
    rho: float = 0.5             # rho of Eq. 4
    critic_steps: int = 2        # critic updates per generator update
    adam_beta1: float = 0.5
    wd_critic: float = 0.01
    wd_gen: float = 0.05
    wd_enc: float = 0.05
    wd_dz: float = 0.05
    dropout: float = 0.2
    variant: str = "paper"
    combine: str | None = None          # see DetectorConfig; None = raw (paper) / mixed (plus)
    lfl_draws: int | None = None        # K draws of z averaged in LFL: 8 (paper) / 64 (plus)
    dz_pairs: str | None = None         # Dz's fake pair: "data" (z, E(x)) (Eq. 3) / "cycle" (z, E(G(z)))
    lfl_form: str | None = None         # "paper" (Eq. 5) / "cycle": |mean_K Dz(z, E(G(z))) - Dz(E(x), E(G(E(x))))|
    knn_k: int | None = None            # k of the KNN component (critic global features); 0 = off
    knn_bank_size: int = 10000          # normal training images in the KNN bank (seeded subset)
    rotation_weight: float | None = None  # weight of the critic's rotation loss; 0 = no head, no ROT
    rotation_views: str = "one"         # rotations per real image in that loss: "one" (random) / "all" four
    rotated_negatives: float = 0.0      # weight of rotated real images as fakes in the critic's loss; 0 = off
    translation_weight: float = 0.0     # weight of the critic's translation loss; 0 = no head, no TRN
    knn_rotations: bool = False         # KNN over the 4 rotations of x, each against its own bank
    see_edges: bool = False             # replicate-pad E's and the critic's input so they see every pixel
    critic_width: float = 1.0           # scale of every channel count of the critic (1 = Table 2's critic)
    flip_average: bool | str = False    # average scores over x and its mirror; "auto" = as the data set allows
    bn_scoring_inputs: bool | None = None  # precise BN over the scoring passes only (no G(z))
    bn_recalibration_batches: int = 100   # precise-BN pass after training (0 = off, as released)
    score_seed: int = 0          # seed of the fixed z draws used by LFL

    def __post_init__(self) -> None:
        plus = self.variant == "plus"
        for key, (base, improved) in VARIANT_DEFAULTS.items():
            if getattr(self, key) is None:
                setattr(self, key, improved if plus else base)

    def validate(self) -> None:
        """Check AD-CGAN settings on top of the shared ones."""
        super().validate()
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}")
        if self.critic_steps < 1 or self.lfl_draws < 1:
            raise ValueError("critic_steps and lfl_draws must be >= 1")
        if self.dz_pairs not in ("data", "cycle") or self.lfl_form not in ("paper", "cycle"):
            raise ValueError("dz_pairs must be 'data' or 'cycle' and lfl_form 'paper' or 'cycle'")
        if self.flip_average not in (True, False, "auto"):
            raise ValueError(f"flip_average must be true, false or 'auto', got {self.flip_average!r}")
        if min(self.knn_k, self.rotation_weight, self.rotated_negatives, self.translation_weight) < 0 \
                or self.knn_bank_size < 1:
            raise ValueError("knn_k, rotation_weight, rotated_negatives and translation_weight must be >= 0, "
                             "knn_bank_size >= 1")
        if not 0 < self.critic_width <= 4:
            raise ValueError(f"critic_width must be in (0, 4], got {self.critic_width}")
        for key in ("knn_rotations", "see_edges"):
            if getattr(self, key) not in (True, False):
                raise ValueError(f"{key} must be true or false, got {getattr(self, key)!r}")
        if self.rotation_views not in ROTATION_VIEWS:
            raise ValueError(f"rotation_views must be 'one' or 'all', got {self.rotation_views!r}")
        if self.official and (self.dz_pairs == "cycle" or self.lfl_form == "cycle"):
            raise ValueError("variant=official uses the released per-code Dz: dz_pairs/lfl_form 'cycle' need a pair Dz")

    @property
    def official(self) -> bool:
        """True for the released-code variant."""
        return self.variant == "official"
