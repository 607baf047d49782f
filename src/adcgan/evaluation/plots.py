"""Report figures (matplotlib, Agg backend): ROC curve, score histogram, reconstructions."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402


CHARS_PER_INCH = 13
"""Title characters that fit one inch of figure width at the titles' font sizes (8-10 pt)."""


def wrap_title(title: str, width_inches: float) -> str:
    """``title`` with every line wrapped to the figure's width (a long protocol line would be cut off)."""
    width = max(30, int(width_inches * CHARS_PER_INCH))
    return "\n".join(textwrap.fill(line, width) if line else line for line in title.split("\n"))


def plot_roc(y: np.ndarray, comps: dict[str, np.ndarray], path: Path, title: str) -> None:
    """ROC of the score (bold) and of each component (thin)."""
    fig, ax = plt.subplots(figsize=(5, 5))
    if len(np.unique(y)) == 2:
        for k, s in comps.items():
            fpr, tpr, _ = roc_curve(y, s)
            ax.plot(fpr, tpr, lw=2.5 if k == "score" else 1, label=k, alpha=1 if k == "score" else 0.7)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=wrap_title(title, 5))
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
    ax.set(xlabel="anomaly score", ylabel="density", title=wrap_title(title, 6))
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
    fig.suptitle(wrap_title(title, 1.2 * n), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_study_chart(path: Path, t3: list[dict[str, Any]], title: str) -> None:
    """Grouped bars per class of a study (rows of Table 3: ``class``, ``class_name``, ``detector``, ``mean``,
    ``sd_seeds``, ``paper_mean``): ours (mean ± sd over seeds) beside the paper, for each detector."""
    classes = sorted({r["class"] for r in t3})
    dets = list(dict.fromkeys(r["detector"] for r in t3))
    width = 0.8 / (2 * len(dets))
    fig, ax = plt.subplots(figsize=(max(6.5, 0.9 * len(classes) + 2), 4.6))
    nan = float("nan")
    for i, det in enumerate(dets):
        cell = {r["class"]: r for r in t3 if r["detector"] == det}
        get = lambda c, k: nan if c not in cell or cell[c][k] is None else cell[c][k]  # noqa: E731
        xs = [c + (2 * i - len(dets) + 0.5) * width for c in range(len(classes))]
        err = [0.0 if math.isnan(get(c, "sd_seeds")) else get(c, "sd_seeds") for c in classes]
        bar = ax.bar(xs, [get(c, "mean") for c in classes], width, yerr=err, capsize=2, label=f"{det} (ours)")
        ax.bar([x + width for x in xs], [get(c, "paper_mean") for c in classes], width, alpha=0.35, hatch="//",
               color=bar.patches[0].get_facecolor(), edgecolor="black", linewidth=0.3, label=f"{det} (paper)")
    names = {r["class"]: r["class_name"] for r in t3}
    ax.set_xticks(range(len(classes)), [f"{c}\n{str(names[c])[:10]}" for c in classes], fontsize=7)
    ax.set_ylim(0, 100)
    ax.axhline(50, color="grey", linewidth=0.5, linestyle=":")
    ax.set_ylabel("ROC-AUC (%)")
    ax.set_title(title, fontsize=8)
    ax.legend(fontsize=7, ncol=min(4, 2 * len(dets)), loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_grouped_bars(path: Path, groups: list[str], series: list[tuple[str, list[Any], list[Any]]],
                      title: str) -> None:
    """One group of bars per entry of ``groups``; per series (label, ours, paper): ours solid, the paper's
    hatched beside it in the same colour (``None`` = no bar)."""
    width = 0.8 / (2 * max(1, len(series)))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.6 * len(groups) + 2), 4.8))
    nan = float("nan")
    for i, (label, ours, paper) in enumerate(series):
        xs = [g + (2 * i - len(series) + 0.5) * width for g in range(len(groups))]
        bar = ax.bar(xs, [nan if v is None else v for v in ours], width, label=f"{label} (ours)")
        if any(v is not None for v in paper):
            ax.bar([x + width for x in xs], [nan if v is None else v for v in paper], width, alpha=0.35, hatch="//",
                   color=bar.patches[0].get_facecolor(), edgecolor="black", linewidth=0.3, label=f"{label} (paper)")
    ax.set_xticks(range(len(groups)), groups, fontsize=7)
    ax.set_ylim(0, 100)
    ax.axhline(50, color="grey", linewidth=0.5, linestyle=":")
    ax.set_ylabel("ROC-AUC (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_paired_deltas(path: Path, panels: list[tuple[str, dict[str, list[float]], list[tuple[float, str]]]],
                       title: str) -> None:
    """One panel per (name, {row label: per-class Δ in points}, [(x, label) of reference lines]): each
    class's Δ as a dot, the mean as a bar, the same row labels on every panel (empty where not run)."""
    labels = list(dict.fromkeys(k for _, rows, _ in panels for k in rows))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels) + 1.5, 0.45 * len(labels) + 1.6),
                             sharey=True, squeeze=False)
    for ax, (name, rows, refs) in zip(axes[0], panels):
        for y, lab in enumerate(labels):
            vals = rows.get(lab) or []
            if vals:
                ax.barh(y, float(np.mean(vals)), height=0.6, color="tab:blue", alpha=0.3)
                ax.plot(vals, [y] * len(vals), "o", color="tab:blue", markersize=3)
            else:
                ax.text(0, y, " not run", fontsize=6, color="grey", va="center")
        ax.axvline(0, color="grey", linewidth=0.6)
        for x, ref in refs:
            ax.axvline(x, color="tab:red", linewidth=0.8, linestyle="--")
            ax.text(x, 0.99, ref, fontsize=6, color="tab:red", ha="center", va="top",
                    transform=ax.get_xaxis_transform())
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("Δ ROC-AUC vs base (points; dots: classes, bar: mean)", fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0][0].set_yticks(range(len(labels)), labels)
    axes[0][0].set_ylim(-1.0, len(labels) - 0.4)
    axes[0][0].invert_yaxis()
    fig.suptitle(wrap_title(title, 4.2 * len(panels) + 1.5), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
