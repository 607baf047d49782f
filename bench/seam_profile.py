"""The 28x28 edge seam in numbers: mean |x - G(E(x))| per pixel column and row of held-out normal images.

The paper's unpadded critic and encoder never see the last rows and columns (docs/faithfulness.md), so G's
reconstruction is left noisy there. For each run folder given (``adcgan train`` with ``--test-set holdout``),
this prints the mean residual of the interior columns 4-23, of the last column and row (and their ratio to
the interior), and of columns 24-27, over up to 1,000 held-out normal TRAINING images of the run's protocol
(the test split is not read).

    python bench/seam_profile.py runs/see-edges-off runs/see-edges-on
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from adcgan import load_detector
from adcgan.evaluation.experiment import RunSpec, load_data, protocol_split
from adcgan.io.tensors import as_image_tensor, to_float


def residual_map(run: str, n: int = 1000) -> tuple[torch.Tensor, int]:
    """Mean |x - G(E(x))| (H, W) over up to ``n`` held-out normal images of the run's holdout protocol."""
    det = load_detector(f"{run}/model", device="cpu")
    spec = RunSpec.from_dict(json.load(open(f"{run}/config.json", encoding="utf-8"))["run"])
    if spec.test_set != "holdout":
        raise SystemExit(f"{run}: trained with --test-set {spec.test_set}; this check reads held-out training images")
    ds = load_data(spec)
    split = protocol_split(spec, ds, det.config.val_fraction)
    normal = split.test_from_train_idx[np.asarray(split.y_test)[len(split.test_idx):] == 0][:n]
    x = to_float(as_image_tensor(ds.train.images[normal]), False)
    det.set_train(False)
    with torch.no_grad():
        return (x - det.reconstruct(x)).abs().mean(dim=(0, 1)), len(normal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders of adcgan train --test-set holdout (28x28)")
    torch.set_num_threads(1)
    for run in parser.parse_args().runs:
        r, n = residual_map(run)
        col, row = r.mean(0).numpy(), r.mean(1).numpy()
        inner_c, inner_r = col[4:24].mean(), row[4:24].mean()
        print(f"{run}: {n} held-out normal images; mean |x - G(E(x))|: interior columns {inner_c:.4f}, "
              f"last column {col[-1]:.4f} ({col[-1] / inner_c:.2f}x), last row {row[-1]:.4f} "
              f"({row[-1] / inner_r:.2f}x); columns 24-27: {', '.join(f'{v:.4f}' for v in col[24:])}")


if __name__ == "__main__":
    main()
