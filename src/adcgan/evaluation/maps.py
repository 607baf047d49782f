"""Anomaly maps: the per-pixel residual |x - G(E(x))| of detectors that reconstruct, and occlusion maps
(what each region adds to the total score) for every detector.

:func:`anomaly_maps` computes the residual maps (``BaseDetector.anomaly_maps`` calls it), :func:`occlusion_maps`
the occlusion maps;
:func:`overlay` paints one as a heat map over its image; :func:`write_map_pngs`
writes one PNG per image (``adcgan score --maps DIR``) and :func:`map_rows` gives
the rows of the report's ``anomaly_maps.png``.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch.nn.utils import parametrize

from adcgan.io.tensors import as_image_tensor, to_float

if TYPE_CHECKING:
    from adcgan.detectors.base import BaseDetector

ALPHA = 0.65  # heat-map opacity where the residual is largest


class NoReconstructionError(NotImplementedError):
    """The detector has no reconstruction G(E(x)), so it has no anomaly maps."""


def has_reconstruction(det: "BaseDetector") -> bool:
    """True when ``det.reconstruct`` returns an image (tried on one blank image)."""
    h, w, c = det.geometry or (0, 0, 0)
    det.set_train(False)
    with torch.no_grad(), parametrize.cached():
        return det.reconstruct(torch.zeros(1, c, h, w, device=det.device)) is not None


def no_maps_error(det: "BaseDetector") -> NoReconstructionError:
    """The error raised for a detector without reconstructions."""
    return NoReconstructionError(f"{det.name} has no reconstruction G(E(x)), so no residual maps "
                                 "(detectors with one: adcgan, aegan, alad); occlusion maps work for every "
                                 "detector (adcgan score --map-kind occlusion)")


def anomaly_maps(det: "BaseDetector", X: Any, batch_size: int | None = None) -> np.ndarray:
    """Residual |x - G(E(x))| averaged over channels, per pixel.

    Args:
        det: A fitted detector.
        X: Images as for ``score_samples`` (NumPy NHWC / torch NCHW, uint8 or float in [0, 1]).
        batch_size: Images per forward pass (default the scoring batch size).

    Returns:
        float32 array (N, H, W), values in [0, 1].

    Raises:
        NoReconstructionError: if the detector has no reconstruction.
    """
    t = as_image_tensor(X)
    det._check_ready(t)
    bs = batch_size or det.config.score_batch_size
    det.set_train(False)
    out = [np.zeros((0, t.shape[2], t.shape[3]), np.float32)]
    with torch.no_grad(), parametrize.cached():
        for i in range(0, len(t), bs):
            x = to_float(t[i:i + bs].to(det.device))
            rec = det.reconstruct(x)
            if rec is None:
                raise no_maps_error(det)
            out.append((x - rec).abs().mean(1).float().cpu().numpy())
    if len(t) == 0 and not has_reconstruction(det):
        raise no_maps_error(det)
    return np.concatenate(out)


OCCLUSION_PATCHES = 4
"""Occluding patches per image side (a patch is 1/4 of the side; they overlap by half a patch)."""
OCCLUSION_VIEWS_PER_CALL = 1024
"""Occluded views scored per ``score_samples`` call (the views of several images share one call, and with
it the detector's per-pass preparation, e.g. AD-CGAN's K encoded G(z) draws)."""


def occlusion_windows(size: int, patches: int = OCCLUSION_PATCHES) -> tuple[int, list[int]]:
    """(patch side, start offsets) along one image side: a patch of ``ceil(size / patches)`` pixels moved
    by half a patch, the last one flush with the edge, so every pixel is covered."""
    p = -(-size // patches)
    step = max(1, p // 2)
    starts = list(range(0, size - p + 1, step))
    return p, starts + ([size - p] if starts[-1] != size - p else [])


def occlusion_maps(det: "BaseDetector", X: Any, patches: int = OCCLUSION_PATCHES,
                   batch_size: int | None = None, progress: bool = False) -> np.ndarray:
    """What each region adds to the anomaly score, for any detector (Zeiler & Fergus 2014's occlusion).

    Every patch of the window grid (:func:`occlusion_windows`) is flattened to its own mean colour, which
    removes its detail and keeps its colour; a pixel's value is the mean, over the patches that cover it,
    of score(x) - score(x with the patch flattened). Positive = the region's detail makes x look
    anomalous; negative = it makes x look normal. Cost: (number of windows)^2 + 1 scorings per image.

    Args:
        det: A fitted detector.
        X: Images as for ``score_samples``.
        patches: Patches per side (the patch side is ``ceil(side / patches)``).
        batch_size: Images per scoring pass (default the scoring batch size).
        progress: Show a progress bar over the images.

    Returns:
        float32 array (N, H, W), in units of the detector's total score.
    """
    from adcgan.io.progress import progress as progress_bar

    t = to_float(as_image_tensor(X))
    h, w = t.shape[2], t.shape[3]
    (ph, rows), (pw, cols) = occlusion_windows(h, patches), occlusion_windows(w, patches)
    out = np.zeros((len(t), h, w), np.float32)
    windows = [(r, c) for r in rows for c in cols]
    per_call = max(1, OCCLUSION_VIEWS_PER_CALL // (len(windows) + 1))  # one scoring pass for several images
    for i0 in progress_bar(range(0, len(t), per_call), desc=f"{det.name} occlusion maps", enabled=progress,
                           unit="chunks"):
        views = t[i0:i0 + per_call].repeat_interleave(len(windows) + 1, dim=0)
        for k, (r, c) in enumerate(windows):  # view 0 of each image is the image itself
            patch = views[k + 1::len(windows) + 1, :, r:r + ph, c:c + pw]
            patch[:] = patch.mean(dim=(2, 3), keepdim=True)
        s = det.score_samples(views, batch_size).reshape(-1, len(windows) + 1)
        for k, (r, c) in enumerate(windows):
            out[i0:i0 + per_call, r:r + ph, c:c + pw] += (s[:, 0] - s[:, k + 1])[:, None, None]
    return out / _coverage((h, w), windows, (ph, pw))


def _coverage(size: tuple[int, int], windows: list[tuple[int, int]], patch: tuple[int, int]) -> np.ndarray:
    """(H, W): how many of the windows (top-left corners, ``patch`` high and wide) cover each pixel."""
    cover = np.zeros(size, np.float32)
    for r, c in windows:
        cover[r:r + patch[0], c:c + patch[1]] += 1
    return cover


def overlay(image: np.ndarray, residual: np.ndarray, vmax: float) -> np.ndarray:
    """The image (H, W, C) float in [0, 1] with ``residual`` (H, W) as a heat map: (H, W, 3) in [0, 1].

    The heat map (matplotlib ``inferno``, 0 .. ``vmax``) is blended in with an opacity that
    grows with the residual, so low-residual pixels show the image itself.
    """
    rgb = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image
    level = np.clip(residual / max(float(vmax), 1e-12), 0.0, 1.0)
    alpha = (ALPHA * level)[..., None]
    return np.clip((1 - alpha) * rgb + alpha * heat(residual, vmax), 0.0, 1.0)


def heat(values: np.ndarray, vmax: float) -> np.ndarray:
    """``values`` (H, W) as an ``inferno`` heat map from 0 (black) to ``vmax`` (pale yellow): (H, W, 3)."""
    from matplotlib import colormaps

    return colormaps["inferno"](np.clip(values / max(float(vmax), 1e-12), 0.0, 1.0))[..., :3]


def _nhwc_float(images: Any) -> np.ndarray:
    return to_float(as_image_tensor(images)).permute(0, 2, 3, 1).numpy()


def map_file_names(entries: Sequence[str]) -> list[str]:
    """``00003_<stem>.png`` per entry: the index keeps names unique, the stem keeps them readable."""
    return [f"{i:05d}_{Path(e).stem[:60] or 'image'}.png" for i, e in enumerate(entries)]


def write_map_pngs(folder: Path, names: Sequence[str], images: Any, maps: np.ndarray) -> float:
    """One overlay PNG per image (the image's own size); refuses to overwrite a file.

    Args:
        folder: Output folder (created).
        names: File names, one per image.
        images: The scored images (as for ``score_samples``).
        maps: Their anomaly maps (N, H, W).

    Returns:
        The residual shown at full heat (the largest one in ``maps``; one scale for all files).

    Raises:
        FileExistsError: if a file to write already exists (nothing is written then).
    """
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    taken = [n for n in names if (folder / n).exists()]
    if taken:
        raise FileExistsError(f"{folder} already holds {taken[0]} (and {len(taken) - 1} more); "
                              "choose another --maps folder")
    vmax = float(maps.max()) if maps.size else 0.0
    for name, img, res in zip(names, _nhwc_float(images), maps):
        pixels = np.rint(overlay(img, res, vmax) * 255).astype(np.uint8)
        with open(folder / name, "xb") as f:
            Image.fromarray(pixels, "RGB").save(f, format="PNG")
    return vmax


OCCLUSION_LABEL = "occlusion: score lost when a region is flattened"
RESIDUAL_LABEL = "residual |x - G(E(x))|"


def map_rows(det: "BaseDetector", images: Any, scores: np.ndarray, n: int = 6) -> list[tuple[str, np.ndarray]]:
    """Rows of the report figure: the ``n`` most and ``n`` least anomalous images, each group followed by
    its residual maps (detectors that reconstruct) and its occlusion maps (every detector; only the parts
    that raise the score are painted), as heat maps under their images. One heat scale per kind of map
    for both groups, so the two groups compare.

    Returns:
        ``(label, float NCHW images)`` rows.
    """
    order = np.argsort(-np.asarray(scores), kind="stable")
    groups = [("most anomalous", order[:n]), ("least anomalous", order[::-1][:n])]
    subs = [as_image_tensor(images)[torch.as_tensor(pick.copy(), dtype=torch.long)] for _, pick in groups]
    kinds = ([(RESIDUAL_LABEL, [anomaly_maps(det, sub) for sub in subs])] if has_reconstruction(det) else [])
    kinds.append((OCCLUSION_LABEL, [np.clip(occlusion_maps(det, sub), 0, None) for sub in subs]))
    vmax = {label: max((float(m.max()) for m in ms if m.size), default=0.0) for label, ms in kinds}
    rows: list[tuple[str, np.ndarray]] = []
    for g, ((label, pick), sub) in enumerate(zip(groups, subs)):
        imgs = _nhwc_float(sub)
        rows.append((f"{len(pick)} {label}", imgs.transpose(0, 3, 1, 2)))
        for kind, ms in kinds:
            maps_g = [heat(m, vmax[kind]) for m in ms[g]]
            rows.append((kind, np.stack(maps_g).transpose(0, 3, 1, 2) if maps_g else imgs.transpose(0, 3, 1, 2)))
    return rows
