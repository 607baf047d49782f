"""Report figures (matplotlib, Agg backend): ROC curve, score histogram, reconstructions."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402


def plot_roc(y: np.ndarray, comps: dict[str, np.ndarray], path: Path, title: str) -> None:
    """ROC of the score (bold) and of each component (thin)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    if len(np.unique(y)) == 2:
        for k, s in comps.items():
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, lw=2.5 if k == "score" else 1, label=k, alpha=1 if k == "score" else 0.7)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_score_hist(y: np.ndarray, s: np.ndarray, threshold: float | None, path: Path, title: str) -> None:
    """Histogram of normal vs anomalous scores with the validation threshold."""
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.histogram_bin_edges(s, bins=60)
    for lab, name, col in ((0, "normal", "tab:blue"), (1, "anomalous", "tab:red")):
        if np.any(y == lab):
            ax.hist(s[y == lab], bins=bins, alpha=0.55, density=True, label=f"{name} (n={np.sum(y == lab)})",
                    color=col)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", label=f"threshold {threshold:.4g}")
    ax.set(xlabel="anomaly score", ylabel="density", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_image_rows(rows: list[tuple[str, np.ndarray]], path: Path, title: str) -> None:
    """One row per (label, images) pair; images float NCHW in [0, 1]."""
    n = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.2 * n, 1.3 * len(rows)), squeeze=False)
    for r, (label, imgs) in enumerate(rows):
        for c in range(n):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(imgs):
                im = np.clip(np.transpose(imgs[c], (1, 2, 0)), 0, 1)
                ax.imshow(im[..., 0] if im.shape[2] == 1 else im, cmap="gray", vmin=0, vmax=1)
        axes[r][0].set_title(label, fontsize=8, loc="left")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
