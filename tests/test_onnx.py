"""ONNX export: onnxruntime's scores equal PyTorch's ``score_components`` on real Fashion-MNIST images."""
from __future__ import annotations

import json

import numpy as np
import pytest

from adcgan.cli import main
from adcgan.data.readers import read_idx
from adcgan.scoring.onnx_export import ExportError, export_onnx
from adcgan.registry import create_detector
from conftest import real_data

import onnxruntime as ort  # noqa: E402  (the onnx extra, installed by make test)
import onnxscript  # noqa: E402,F401

COMMON = {"device": "cpu", "epochs": 1, "batch_size": 8, "seed": 0}
EXPORTABLE = {
    "adcgan": {"warmup_epochs": 1, "bn_recalibration_batches": 2},
    "adcgan-official": {"warmup_epochs": 0, "variant": "official"},
    # adcgan+: KNN bank, rotation head, flip averaging and the calibrated "mixed" total in the graph
    "adcgan-plus": {"warmup_epochs": 1, "variant": "plus", "flip_average": True, "bn_recalibration_batches": 2},
    # adcgan+ with the issue 23/24 candidates: translation head (TRN), rotation-ensemble KNN bank, edge padding
    "adcgan-plusheads": {"warmup_epochs": 1, "variant": "plus", "translation_weight": 1.0, "knn_rotations": True,
                         "see_edges": True, "critic_width": 0.5, "bn_recalibration_batches": 2},
    "aegan": {"width": 8, "latent_dim": 8, "warmup_epochs": 1},
    "alad": {"width": 8, "latent_dim": 8},
    "deepsvdd": {"warmup_epochs": 1},
}


@pytest.fixture(scope="module")
def fmnist() -> tuple[np.ndarray, np.ndarray]:
    """48 training Trousers and 37 test images of every class (uint8 NHWC, real Fashion-MNIST)."""
    folder = real_data("fashion-mnist")
    train = read_idx(folder / "train-images-idx3-ubyte.gz")
    labels = read_idx(folder / "train-labels-idx1-ubyte.gz")
    test = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    return train[labels == 1][:48, ..., None], test[:37, ..., None]


def run_onnx(path, images: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"images": images})))


@pytest.mark.parametrize("name", sorted(EXPORTABLE))
def test_onnx_scores_equal_pytorch(name, fmnist, tmp_path):
    train, test = fmnist
    det = create_detector(name.split("-")[0], **{**COMMON, **EXPORTABLE[name]}).fit(train, progress=False)
    names = export_onnx(det, tmp_path / "m.onnx")
    ref = det.score_components(test)
    assert set(names) == set(ref) and "score" in names
    for n in (37, 1, 5):  # the batch is dynamic
        got = run_onnx(tmp_path / "m.onnx", test[:n])
        for k, v in ref.items():
            assert got[k].shape == (n,) and got[k].dtype == np.float32
            scale = float(np.abs(v).max())
            np.testing.assert_allclose(got[k], v[:n], rtol=1e-5, atol=1e-5 * scale, err_msg=f"{name} {k}")
    assert np.ptp(ref["score"]) > 0  # the images do get different scores


@pytest.mark.parametrize("name, reason", [("adgan", "test time"), ("ocsvm", "scikit-learn")])
def test_detectors_that_cannot_be_exported_say_why(name, reason, fmnist, tmp_path):
    over = {"width": 8, "latent_dim": 8, "n_seed": 2, "k_steps": 2} if name == "adgan" else {}
    det = create_detector(name, **{**COMMON, **over}).fit(fmnist[0][:24], progress=False)
    with pytest.raises(ExportError, match=reason):
        export_onnx(det, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_export_refuses_to_overwrite(fmnist, tmp_path, capsys):
    det = create_detector("deepsvdd", **{**COMMON, "warmup_epochs": 1}).fit(fmnist[0], progress=False)
    model = det.save(tmp_path / "model")
    out = tmp_path / "svdd.onnx"
    assert main(["export", "--model", str(model), "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["outputs"] == ["score"] and summary["input"] == "uint8 [N, 28, 28, 1]"
    before = out.read_bytes()
    assert main(["export", "--model", str(model), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == before
    np.testing.assert_allclose(run_onnx(out, fmnist[1])["score"], det.score_samples(fmnist[1]), rtol=1e-5)


@pytest.mark.parametrize("name", ["aegan", "deepsvdd"])
def test_colour_geometry_layout(name, tmp_path):
    """3 channels: the in-graph NHWC -> NCHW conversion must be a transpose, not a reshape."""
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    test = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    test[:3, :, :, 0] = 255  # colour structure that a channel mix-up would change
    det = create_detector(name, **{**COMMON, **EXPORTABLE[name]}).fit(train, progress=False)
    export_onnx(det, tmp_path / "c.onnx")
    got, ref = run_onnx(tmp_path / "c.onnx", test)["score"], det.score_samples(test)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * float(np.abs(ref).max()))
