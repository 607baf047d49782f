"""Occlusion maps (adcgan.evaluation.maps.occlusion_maps) by hand, and the report's map rows."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from adcgan.evaluation import maps
from adcgan.io.tensors import as_image_tensor, to_float
from adcgan.registry import create_detector


class SquareSum:
    """A stand-in detector whose score is the sum of squared pixel values (float, in [0, 1])."""

    name = "square-sum"

    def score_samples(self, X, batch_size=None):
        t = to_float(as_image_tensor(X))
        return (t ** 2).sum(dim=(1, 2, 3)).double().numpy()


@pytest.mark.parametrize("size, patch, starts", [
    (8, 2, [0, 1, 2, 3, 4, 5, 6]), (28, 7, [0, 3, 6, 9, 12, 15, 18, 21]), (32, 8, [0, 4, 8, 12, 16, 20, 24]),
    (30, 8, [0, 4, 8, 12, 16, 20, 22]),  # the last window made flush with the edge
])
def test_occlusion_windows_cover_every_pixel(size, patch, starts):
    assert maps.occlusion_windows(size) == (patch, starts)


def test_occlusion_map_of_one_bright_pixel_by_hand():
    # 8x8 grey image, one pixel at (1, 1) = 1, the rest 0; patches of 2x2 moved by 1. Flattening a patch that
    # holds the pixel spreads it over 4 pixels of 1/4: the score drops from 1 to 4 / 16 = 0.25, by 0.75;
    # any other patch changes nothing. A pixel's value = 0.75 x (covering patches holding (1, 1)) / (covering
    # patches): (0, 0) 1/1 and (1, 1) 4/4 -> 0.75; (1, 2) 2/4 -> 0.375; (2, 2) 1/4 -> 0.1875; (5, 5) -> 0.
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 1, 1] = 1.0
    m = maps.occlusion_maps(SquareSum(), x)
    assert m.shape == (1, 8, 8) and m.dtype == np.float32
    expected = {(0, 0): 0.75, (1, 1): 0.75, (1, 2): 0.375, (2, 1): 0.375, (2, 2): 0.1875, (3, 3): 0.0, (5, 5): 0.0}
    for (r, c), v in expected.items():
        assert m[0, r, c] == pytest.approx(v), (r, c)


def test_every_detector_gets_occlusion_rows_and_reconstructors_residual_rows():
    rng = np.random.default_rng(0)
    x = (rng.random((16, 28, 28, 1)) * 60).astype(np.uint8)
    svdd = create_detector("deepsvdd", device="cpu", epochs=1, warmup_epochs=1, batch_size=8).fit(x, progress=False)
    scores = svdd.score_samples(x)
    rows = maps.map_rows(svdd, x, scores, n=3)
    assert [label for label, _ in rows] == ["3 most anomalous", maps.OCCLUSION_LABEL,
                                            "3 least anomalous", maps.OCCLUSION_LABEL]
    assert all(imgs.shape == (3, 3, 28, 28) for label, imgs in rows[1::2])  # RGB heat maps
    # the top row is the three highest scores, in order
    top = np.argsort(-scores, kind="stable")[:3]
    np.testing.assert_allclose(rows[0][1], x[top].transpose(0, 3, 1, 2) / 255.0, atol=1e-6)
    aegan = create_detector("aegan", device="cpu", epochs=1, warmup_epochs=1, batch_size=8, width=8,
                            latent_dim=16).fit(x, progress=False)
    labels = [label for label, _ in maps.map_rows(aegan, x, aegan.score_samples(x), n=2)]
    assert labels == ["2 most anomalous", maps.RESIDUAL_LABEL, maps.OCCLUSION_LABEL,
                      "2 least anomalous", maps.RESIDUAL_LABEL, maps.OCCLUSION_LABEL]
