"""AD-CGAN detector: train step, determinism, batch invariance, checkpoints, resume, NaN guard."""
import json

import numpy as np
import pytest
import torch

from adcgan import ADCGAN, load_detector
from adcgan.detectors.base import CheckpointError
from adcgan.training import TrainingDivergedError


class Smuggled:
    """An arbitrary object that a weights-only load must refuse to unpickle."""


def blobs(n, seed=0, size=28, ch=1):
    """Tiny synthetic 'normal' images: a bright square at a random spot, uint8 NHWC."""
    rng = np.random.default_rng(seed)
    x = (rng.random((n, size, size, ch)) * 40).astype(np.uint8)
    for i in range(n):
        r, c = rng.integers(4, size - 12, 2)
        x[i, r:r + 8, c:c + 8] = 220
    return x


@pytest.fixture(scope="module")
def fitted():
    det = ADCGAN(epochs=1, warmup_epochs=1, batch_size=8, seed=0)
    det.fit(blobs(48), progress=False)
    return det


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_one_train_step_gives_finite_losses(variant):
    det = ADCGAN(variant=variant, batch_size=8, epochs=1, warmup_epochs=0)
    det.build((28, 28, 1))
    det.set_train(True)
    x = torch.rand(8, 1, 28, 28)
    before = [p.detach().clone() for p in det.nets["D"].parameters()]
    losses = det.train_step(x, epoch=0)
    assert set(losses) == {"loss_D", "loss_G", "loss_AE", "loss_Dz"}
    assert all(np.isfinite(v) for v in losses.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, det.nets["D"].parameters()))


def test_warmup_step_trains_autoencoder_only():
    det = ADCGAN(batch_size=8, epochs=1, warmup_epochs=1)
    det.build((28, 28, 1))
    d_before = [p.detach().clone() for p in det.nets["D"].parameters()]
    losses = det.train_step(torch.rand(8, 1, 28, 28), epoch=0)
    assert set(losses) == {"loss_AE"}
    assert all(torch.equal(a, b) for a, b in zip(d_before, det.nets["D"].parameters()))


def test_scores_have_components_and_threshold(fitted):
    comps = fitted.score_components(blobs(10, seed=1))
    assert set(comps) == {"LGR", "LGD", "LFE", "LFL", "score"}
    expected = 0.1 * comps["LGD"] + 0.9 * comps["LGR"] + 0.5 * comps["LFE"] + 0.5 * comps["LFL"]
    np.testing.assert_allclose(comps["score"], expected, rtol=1e-6)
    assert fitted.threshold is not None and fitted.train_info["val_images"] == 5
    assert set(np.unique(fitted.predict(blobs(10, seed=1)))) <= {0, 1}


def test_score_does_not_depend_on_batch_size_or_order(fitted):
    x = blobs(40, seed=2)
    s1 = fitted.score_samples(x, batch_size=1)
    s256 = fitted.score_samples(x, batch_size=256)
    np.testing.assert_allclose(s1, s256, rtol=1e-5, atol=1e-6)
    perm = np.random.default_rng(0).permutation(40)
    np.testing.assert_allclose(fitted.score_samples(x[perm], batch_size=7), s256[perm], rtol=1e-5, atol=1e-6)


def test_same_seed_same_scores():
    x = blobs(40)
    a = ADCGAN(epochs=1, warmup_epochs=0, batch_size=8, seed=3).fit(x, progress=False).score_samples(x[:8])
    b = ADCGAN(epochs=1, warmup_epochs=0, batch_size=8, seed=3).fit(x, progress=False).score_samples(x[:8])
    c = ADCGAN(epochs=1, warmup_epochs=0, batch_size=8, seed=4).fit(x, progress=False).score_samples(x[:8])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_save_load_round_trip_identical_scores(fitted, tmp_path):
    x = blobs(12, seed=5)
    fitted.save(tmp_path / "m")
    loaded = ADCGAN.load(tmp_path / "m")
    np.testing.assert_array_equal(fitted.score_samples(x), loaded.score_samples(x))
    assert loaded.threshold == fitted.threshold
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["detector"] == "adcgan" and meta["config"]["geometry"] == [28, 28, 1]
    with pytest.raises(FileExistsError):
        fitted.save(tmp_path / "m")
    assert isinstance(load_detector(tmp_path / "m"), ADCGAN)


def test_checkpoint_refusals(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    with pytest.raises(ValueError, match="expects 28x28x1"):
        fitted.score_samples(np.zeros((2, 32, 32, 3), np.uint8))
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    meta["config"]["geometry"] = [32, 32, 3]
    (tmp_path / "m" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not match"):
        ADCGAN.load(tmp_path / "m")
    with pytest.raises(CheckpointError, match="not a model folder"):
        ADCGAN.load(tmp_path)
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "config.json").write_text(json.dumps({**meta, "config": {**meta["config"], "geometry": [28, 28, 1]}}))
    torch.save({"nets": {}, "extra": {}, "obj": Smuggled()}, tmp_path / "evil" / "weights.pt")
    with pytest.raises(CheckpointError, match="cannot be read safely"):
        ADCGAN.load(tmp_path / "evil")


def test_resume_equals_uninterrupted_training(tmp_path):
    x = blobs(32)
    full = ADCGAN(epochs=2, warmup_epochs=0, batch_size=8, val_fraction=0.0).fit(x, run_dir=tmp_path / "a", progress=False)
    part = ADCGAN(epochs=1, warmup_epochs=0, batch_size=8, val_fraction=0.0)
    part.fit(x, run_dir=tmp_path / "b", progress=False)
    state = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 1
    # pretend the 2-epoch run was interrupted after epoch 1: same settings, resume
    cfg = json.loads(state["config"])
    cfg["epochs"] = 2
    state["config"] = json.dumps(cfg)
    torch.save(state, tmp_path / "b" / "checkpoint.pt")
    resumed = ADCGAN(epochs=2, warmup_epochs=0, batch_size=8, val_fraction=0.0)
    resumed.fit(x, run_dir=tmp_path / "b", resume=True, progress=False)
    assert resumed.train_info["epochs_done"] == 2
    np.testing.assert_array_equal(full.score_samples(x[:6]), resumed.score_samples(x[:6]))
    lines = (tmp_path / "b" / "history.jsonl").read_text().splitlines()
    assert [json.loads(r)["epoch"] for r in lines] == [1, 2]


def test_resume_from_a_checkpoint_written_before_a_setting_existed(tmp_path):
    x = blobs(32)
    ADCGAN(epochs=1, warmup_epochs=0, batch_size=8, val_fraction=0.0).fit(x, run_dir=tmp_path, progress=False)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    cfg = json.loads(state["config"])
    del cfg["rotated_negatives"]  # as written by a version without that setting
    state["config"] = json.dumps({**cfg, "epochs": 2})
    torch.save(state, tmp_path / "checkpoint.pt")
    resumed = ADCGAN(epochs=2, warmup_epochs=0, batch_size=8, val_fraction=0.0)
    resumed.fit(x, run_dir=tmp_path, resume=True, progress=False)  # the default (0.0) matches the missing key
    assert resumed.train_info["epochs_done"] == 2
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"settings differ \(rotated_negatives\)"):
        ADCGAN(epochs=2, warmup_epochs=0, batch_size=8, val_fraction=0.0, rotated_negatives=0.5).fit(
            x, run_dir=tmp_path, resume=True, progress=False)


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(tmp_path, monkeypatch):
    det = ADCGAN(epochs=2, warmup_epochs=0, batch_size=8, val_fraction=0.0)
    real_step = ADCGAN.train_step_async

    def step(self, x, epoch):
        out = real_step(self, x, epoch)
        return {**out, "loss_D": torch.tensor(float("nan"))} if epoch == 1 else out

    monkeypatch.setattr(ADCGAN, "train_step_async", step)
    with pytest.raises(TrainingDivergedError, match="loss_D is not finite at epoch 2"):
        det.fit(blobs(32), run_dir=tmp_path, progress=False)
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["epoch"] == 1


def test_bad_settings_are_refused():
    with pytest.raises(TypeError, match="valid settings"):
        ADCGAN(epoch=3)
    with pytest.raises(ValueError, match="variant"):
        ADCGAN(variant="nope")
    with pytest.raises(ValueError, match="batch_size"):
        ADCGAN(batch_size=1)
    with pytest.raises(RuntimeError, match="not fitted"):
        ADCGAN().score_samples(np.zeros((2, 28, 28, 1), np.uint8))


def test_loading_another_detectors_model_is_refused(tmp_path):
    from adcgan.registry import create_detector

    other = create_detector("ocsvm").fit(blobs(30), progress=False)
    other.save(tmp_path / "svm")
    with pytest.raises(CheckpointError, match="holds a 'ocsvm' model, not 'adcgan'"):
        ADCGAN.load(tmp_path / "svm")
    assert load_detector(tmp_path / "svm").name == "ocsvm"


def test_compiled_scoring_matches_eager(fitted):
    x = blobs(20, seed=7)
    eager = fitted.score_components(x, batch_size=8)
    fitted.config.compile_scoring = True
    try:
        compiled = fitted.score_components(x, batch_size=8)   # 8 + 8 + 4 (padded) images
    finally:
        fitted.config.compile_scoring = False
        fitted._scorer_cache = None
    for k in eager:
        np.testing.assert_allclose(compiled[k], eager[k], rtol=1e-4, atol=1e-5)
