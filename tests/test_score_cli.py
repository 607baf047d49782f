"""Partial failures (``adcgan score``, training folders), --strict, CSV on stdout, anomaly maps, progress."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from adcgan import ADCGAN
from adcgan.cli import main
from adcgan.registry import create_detector


def blobs(n: int, seed: int = 0) -> np.ndarray:
    """uint8 (n, 28, 28, 1): dim noise with a mid-grey blob (no bright pixels)."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, 28, 28, 1)) * 30).astype(np.uint8)
    for i in range(n):
        r, c = rng.integers(4, 14, size=2)
        x[i, r:r + 10, c:c + 10] = 90
    return x


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    det = ADCGAN(epochs=2, warmup_epochs=0, batch_size=8, seed=0, device="cpu").fit(blobs(48), progress=False)
    return det, det.save(tmp_path_factory.mktemp("m") / "model")


@pytest.fixture
def mixed(tmp_path):
    """A folder with 3 good PNGs, a non-image and an empty file (sorted: a, b, broken, c, empty)."""
    d = tmp_path / "imgs"
    d.mkdir()
    good = blobs(3, seed=5)
    for name, img in zip("abc", good):
        Image.fromarray(img[..., 0]).save(d / f"{name}.png")
    (d / "broken.png").write_bytes(b"this is not a PNG")
    (d / "empty.png").write_bytes(b"")
    return d, good


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_partial_failures_score_the_rest_and_exit_1(model, mixed, tmp_path, capsys):
    det, path = model
    folder, good = mixed
    out = tmp_path / "s.csv"
    rc = main(["score", "--model", str(path), str(folder), str(tmp_path / "missing.png"), "--csv", str(out),
               "--quiet"])
    std = capsys.readouterr()
    assert rc == 1
    rows = read_csv(out.read_text())
    assert [r["id"].rsplit("/", 1)[-1] for r in rows] == ["a.png", "b.png", "broken.png", "c.png", "empty.png",
                                                          "missing.png"]
    failed = {r["id"].rsplit("/", 1)[-1]: r for r in rows if r["error"]}
    assert set(failed) == {"broken.png", "empty.png", "missing.png"}
    assert all(r["score"] == "" and r["anomaly"] == "" and r["LGR"] == "" for r in failed.values())
    assert "cannot decode image" in failed["broken.png"]["error"] and "no such file" in failed["missing.png"]["error"]
    for name in failed:
        assert name in std.err
    scored = [float(r["score"]) for r in rows if not r["error"]]
    np.testing.assert_allclose(scored, det.score_samples(good), rtol=1e-6)
    summary = json.loads(std.out.strip().splitlines()[-1])
    assert summary["images"] == 3 and summary["failed"] == 3


def test_all_scored_exit_0_and_strict_exit_2_without_csv(model, mixed, tmp_path, capsys):
    _, path = model
    folder, _ = mixed
    assert main(["score", "--model", str(path), str(folder / "a.png"), "--csv", str(tmp_path / "ok.csv")]) == 0
    assert read_csv((tmp_path / "ok.csv").read_text())[0]["error"] == ""
    rc = main(["score", "--model", str(path), str(folder), "--csv", str(tmp_path / "strict.csv"), "--strict"])
    assert rc == 2 and not (tmp_path / "strict.csv").exists()
    assert "broken.png" in capsys.readouterr().err


def test_nothing_to_score_and_bad_model_are_usage_errors(model, tmp_path, capsys):
    _, path = model
    (tmp_path / "empty_dir").mkdir()
    assert main(["score", "--model", str(path), str(tmp_path / "empty_dir"), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "nothing to score" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()
    assert main(["score", "--model", str(tmp_path), str(tmp_path), "--csv", str(tmp_path / "y.csv")]) == 2


@pytest.mark.parametrize("csv_flag", [[], ["--csv", "-"]])
def test_csv_on_stdout_everything_else_on_stderr(model, mixed, capsys, csv_flag):
    _, path = model
    folder, _ = mixed
    rc = main(["score", "--model", str(path), str(folder), *csv_flag])
    std = capsys.readouterr()
    rows = read_csv(std.out)
    assert rc == 1 and len(rows) == 5 and sum(1 for r in rows if r["error"]) == 2
    assert {"id", "score", "LGR", "LGD", "LFE", "LFL", "anomaly", "error"} <= set(rows[0])
    assert json.loads(std.err.strip().splitlines()[-1])["images"] == 3 and "broken.png" in std.err


def test_maps_pngs_have_the_image_shape_and_are_never_overwritten(model, mixed, tmp_path, capsys):
    _, path = model
    folder, good = mixed
    maps = tmp_path / "maps"
    argv = ["score", "--model", str(path), str(folder), "--maps", str(maps), "--quiet"]
    assert main(argv + ["--csv", str(tmp_path / "a.csv")]) == 1
    files = sorted(p.name for p in maps.iterdir())
    assert files == ["00000_a.png", "00001_b.png", "00002_c.png"]
    with Image.open(maps / files[0]) as im:
        assert im.size == (28, 28) and im.mode == "RGB"
    before = (maps / files[0]).read_bytes()
    assert main(argv + ["--csv", str(tmp_path / "b.csv")]) == 2
    assert "already exists" in capsys.readouterr().err and (maps / files[0]).read_bytes() == before


def test_maps_without_reconstruction_is_a_clear_error(tmp_path, mixed, capsys):
    folder, _ = mixed
    det = create_detector("deepsvdd", device="cpu", epochs=1, warmup_epochs=1, batch_size=8).fit(blobs(24),
                                                                                               progress=False)
    path = det.save(tmp_path / "svdd")
    with pytest.raises(NotImplementedError, match="no reconstruction"):
        det.anomaly_maps(blobs(2))
    rc = main(["score", "--model", str(path), str(folder / "a.png"), "--maps", str(tmp_path / "m"),
               "--csv", str(tmp_path / "s.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "deepsvdd has no reconstruction" in err and "--map-kind occlusion" in err
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "m").exists()
    # occlusion maps need no reconstruction: one PNG of the image's size per scored image
    rc = main(["score", "--model", str(path), str(folder / "a.png"), "--maps", str(tmp_path / "m"),
               "--map-kind", "occlusion", "--csv", str(tmp_path / "s.csv"), "--quiet"])
    assert rc == 0 and [p.name for p in (tmp_path / "m").iterdir()] == ["00000_a.png"]
    with Image.open(tmp_path / "m" / "00000_a.png") as im:
        assert im.size == (28, 28) and im.mode == "RGB"


def test_anomaly_maps_are_larger_on_a_painted_defect(model):
    """An autoencoder that has learnt the dim training images cannot reproduce a bright square."""
    det = create_detector("aegan", width=8, latent_dim=16, epochs=1, warmup_epochs=30, lr=2e-3, batch_size=8,
                          seed=0, device="cpu").fit(blobs(48), progress=False)
    clean = blobs(6, seed=9)
    defect = clean.copy()
    defect[:, 18:25, 3:10] = 255  # where the training images are never bright
    m_clean, m_defect = det.anomaly_maps(clean), det.anomaly_maps(defect)
    assert m_clean.shape == (6, 28, 28) and m_clean.dtype == np.float32
    assert ((m_clean >= 0) & (m_clean <= 1)).all()
    inside = m_defect[:, 18:25, 3:10].mean(axis=(1, 2))
    assert (inside > m_clean[:, 18:25, 3:10].mean(axis=(1, 2)) + 0.3).all()
    outside = np.ones((28, 28), bool)
    outside[18:25, 3:10] = False
    assert (inside > m_defect[:, outside].mean(axis=1) + 0.3).all()


def test_adcgan_maps_are_the_mean_channel_residual(model):
    det, _ = model
    x = blobs(3, seed=2)
    t = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        expected = (t - det.reconstruct(t)).abs().mean(1).numpy()
    np.testing.assert_allclose(det.anomaly_maps(x, batch_size=2), expected, atol=1e-5)


def test_corrupt_training_file_is_skipped_named_and_counted(tmp_path, bar_folder, capsys):
    train = tmp_path / "train"
    train.mkdir()
    for p in sorted((bar_folder / "train" / "horizontal").iterdir())[:20]:
        (train / p.name).write_bytes(p.read_bytes())
    (train / "zz_corrupt.png").write_bytes(b"\x89PNG truncated")
    argv = ["train", "--dataset", "user", "--train-dir", str(train),
            "--test-normal-dir", str(bar_folder / "test" / "horizontal"),
            "--test-anomalous-dir", str(bar_folder / "test" / "vertical"), "--geometry", "28x28x1",
            "--epochs", "1", "--warmup-epochs", "0", "--batch-size", "8", "--quiet"]
    with pytest.warns(UserWarning, match="zz_corrupt.png"):
        assert main(argv + ["--out", str(tmp_path / "r1")]) == 0
    metrics = json.loads((tmp_path / "r1" / "metrics.json").read_text())
    assert metrics["skipped_files"] == 1 and metrics["skipped_file_names"][0].endswith("zz_corrupt.png")
    assert metrics["budget"]["train_images"] + metrics["budget"]["val_images"] == 20
    with pytest.warns(UserWarning, match="zz_corrupt.png"):  # read from the array cache: still warned
        assert main(argv + ["--out", str(tmp_path / "r2")]) == 0
    assert json.loads((tmp_path / "r2" / "metrics.json").read_text())["skipped_files"] == 1


def test_progress_without_a_terminal_is_one_line_per_pass(model, capsys):
    det, _ = model
    det.score_components(blobs(20), batch_size=4, progress=True)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\r" not in err and "adcgan scoring: 5 batches" in err
    fitted = ADCGAN(epochs=2, warmup_epochs=1, batch_size=8, seed=0, device="cpu", val_fraction=0.0)
    fitted.fit(blobs(24), progress=True)
    out = capsys.readouterr()
    assert out.err == ""  # no bars; no validation split, so no scoring pass either
    assert [ln.split()[:3] for ln in out.out.splitlines()] == [["[adcgan]", "epoch", f"{e}/3"] for e in (1, 2, 3)]
