"""adcgan+ settings for issues 23 and 24, off by default: the translation head (TRN), the KNN rotation
ensemble, edge padding, and the label-free held-out accuracies. Hand values, then a fitted tiny model."""
import csv
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from adcgan import ADCGAN, load_detector
from adcgan.cli import main
from adcgan.detectors.adcgan import ADCGANConfig
from adcgan.detectors.adcgan import plus_parts as P
from adcgan.detectors.adcgan.networks import Critic, Encoder
from test_adcgan import blobs


def test_translate_by_hand():
    x = torch.arange(16.0).view(1, 1, 4, 4)   # rows [0..3], [4..7], [8..11], [12..15]; shift = 4 // 4 = 1
    assert P.shift_pixels(32) == 8 and P.shift_pixels(28) == 7 and P.shift_pixels(64) == 16
    assert torch.equal(P.translate(x, 0, 0), x)
    right = P.translate(x, 1, 0)[0, 0]            # content moves right; column 0 reflects column 1
    assert right[0].tolist() == [1.0, 0.0, 1.0, 2.0]
    left = P.translate(x, 2, 0)[0, 0]             # moves left; the last column reflects column 2
    assert left[0].tolist() == [1.0, 2.0, 3.0, 2.0]
    up = P.translate(x, 0, 2)[0, 0]               # moves up; the last row reflects row 2
    assert up[:, 0].tolist() == [4.0, 8.0, 12.0, 8.0]
    down_right = P.translate(x, 1, 1)[0, 0]
    assert down_right[0].tolist() == [5.0, 4.0, 5.0, 6.0] and down_right[1].tolist() == [1.0, 0.0, 1.0, 2.0]


def test_translation_views_carry_their_labels():
    torch.manual_seed(0)
    x = torch.rand(24, 1, 8, 8)
    views, h, v = P.translation_views(x)
    assert views.shape == x.shape and h.dtype == torch.int64 and set(h.tolist()) <= {0, 1, 2}
    assert len({(a, b) for a, b in zip(h.tolist(), v.tolist())}) > 3          # several pairs drawn
    for i in range(len(x)):
        assert torch.equal(views[i:i + 1], P.translate(x[i:i + 1], int(h[i]), int(v[i])))


def test_translation_score_by_hand():
    uniform = [torch.zeros(2, 6) for _ in range(9)]
    assert torch.allclose(P.translation_nll_from_logits(uniform), torch.full((2,), 2 * math.log(3)))
    logits = []
    for a, b in P.translation_combos():   # image 0: sure and right on both axes; image 1: sure and wrong
        lg = torch.full((2, 6), -30.0)
        lg[0, a], lg[0, 3 + b] = 30.0, 30.0
        lg[1, (a + 1) % 3], lg[1, 3 + b] = 30.0, 30.0
        logits.append(lg)
    nll = P.translation_nll_from_logits(logits)
    assert nll[0] < 1e-6 and nll[1] == pytest.approx(60.0, abs=1e-3)


class _PixelCritic(nn.Module):
    """A stand-in critic whose global features are the image's pixels (2x2 images: 4 features)."""

    def __init__(self, rot_rows: list[int] | None = None) -> None:
        super().__init__()
        self.rot = nn.Linear(4, 4, bias=False) if rot_rows is not None else None
        self.trans = None
        if rot_rows is not None:
            with torch.no_grad():
                self.rot.weight.copy_(torch.eye(4)[rot_rows])

    def forward(self, x: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(glob=x.flatten(1))


def test_heldout_rotation_accuracy_by_hand():
    x = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])   # rot90 by r moves the 1 to pixel 0, 2, 3, 1
    exact = _PixelCritic(rot_rows=[0, 2, 3, 1])       # rotation r's logit reads that pixel: all four right
    assert P.heldout_accuracy(exact, x) == {"heldout_rotation_accuracy": 1.0}
    swapped = _PixelCritic(rot_rows=[0, 2, 1, 3])     # rotations 2 and 3 confused: 2 of 4 right
    assert P.heldout_accuracy(swapped, x) == {"heldout_rotation_accuracy": 0.5}
    assert P.heldout_accuracy(_PixelCritic(), x) == {}


def test_knn_rotation_ensemble_by_hand():
    critic = _PixelCritic()
    x = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    flat = P.feature_bank_views(critic, x, rotations=False)
    assert torch.equal(flat, torch.tensor([[1.0, 0.0, 0.0, 0.0]]))
    bank = P.feature_bank_views(critic, x, rotations=True)            # (4, 1, 4): one unit vector per rotation
    assert bank.shape == (4, 1, 4) and bank[:, 0].argmax(1).tolist() == [0, 2, 3, 1]
    assert P.knn_score(critic, x, bank, k=1).item() == pytest.approx(0.0)       # each rotation meets its own
    other = torch.tensor([[[[0.0, 0.0], [0.0, 1.0]]]])                         # the 180-degree turn of x
    # every rotation of `other` lands on another one of x's: distance sqrt(2) in each of the 4 banks
    assert P.knn_score(critic, other, bank, k=1).item() == pytest.approx(math.sqrt(2))
    assert P.knn_score(critic, other, flat, k=1).item() == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize("geometry", [(28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_see_edges_leaves_no_pixel_unseen(geometry):
    """With ``see_edges`` every input pixel reaches E's code and the critic's logit (nonzero gradient)."""
    torch.manual_seed(0)
    enc, critic = Encoder(geometry, 16, see_edges=True).eval(), Critic(geometry, see_edges=True).eval()
    x = torch.rand(2, geometry[2], geometry[0], geometry[1], requires_grad=True)
    code = enc(x)
    assert code.shape == (2, 16, 1, 1)
    (code.flatten(1) * torch.randn(2, 16)).sum().backward()
    assert bool((x.grad.abs().sum(dim=(0, 1)) > 0).all())
    x.grad = None
    (critic(x).logits * torch.randn(2)).sum().backward()
    assert bool((x.grad.abs().sum(dim=(0, 1)) > 0).all())


def test_half_width_critic_channels_by_hand():
    """32x32 Table 2 critic: trunk 64/128/256/512, local 2048, global 1024/2048, hidden 2048; width 0.5 halves all."""
    c = Critic((32, 32, 3), rotation_head=True, width=0.5)
    convs = [m for m in c.trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [32, 64, 128, 256] and convs[0].in_channels == 3
    assert c.local.out_channels == 1024 and [m.out_channels for m in c.glob.modules()
                                             if isinstance(m, torch.nn.Conv2d)] == [512, 1024]
    assert c.head[0].in_features == 1024 and c.head[0].out_features == 1024 and c.rot.in_features == 1024
    out = c.eval()(torch.rand(2, 3, 32, 32))
    assert out.local.shape == (2, 1024, 6, 6) and out.glob.shape == (2, 1024) and out.logits.shape == (2,)
    full = sum(p.numel() for p in Critic((32, 32, 3)).parameters())
    assert sum(p.numel() for p in c.parameters()) < full / 3.5        # weights scale with width squared
    det = ADCGAN(variant="plus", batch_size=4, epochs=1, warmup_epochs=0, critic_width=0.5)
    det.build((32, 32, 3))
    det.set_train(True)
    assert all(np.isfinite(v) for v in det.train_step(torch.rand(4, 3, 32, 32), epoch=0).values())


def test_new_settings_are_validated():
    for bad in ({"see_edges": "yes"}, {"knn_rotations": 1.5}, {"translation_weight": -1.0}, {"critic_width": 0.0}):
        with pytest.raises(ValueError):
            ADCGANConfig(variant="plus", **bad).validate()
    plus = ADCGANConfig(variant="plus")
    assert (plus.translation_weight, plus.knn_rotations, plus.see_edges, plus.critic_width) == (0.0, False, False, 1.0)


@pytest.fixture(scope="module")
def heads_fitted():
    det = ADCGAN(variant="plus", epochs=1, warmup_epochs=1, batch_size=8, seed=0, translation_weight=1.0,
                 knn_rotations=True, see_edges=True)
    det.fit(blobs(60), progress=False)
    return det


def test_translation_head_trains_and_scores(heads_fitted):
    det = heads_fitted
    assert det.active_components() == ("LGR", "LGD", "LFE", "LFL", "KNN", "ROT", "TRN")
    assert set(det.calibration) == set(det.active_components())
    assert det.scoring_state["bank"].shape[0] == 4 and det.scoring_state["bank"].dim() == 3
    info = det.train_info
    assert 0.0 <= info["heldout_rotation_accuracy"] <= 1.0 and 0.0 <= info["heldout_translation_accuracy"] <= 1.0
    comps = det.score_components(blobs(5, seed=2))
    assert comps["TRN"].shape == (5,) and np.all(comps["TRN"] > 0) and np.all(np.isfinite(comps["score"]))


def test_the_critic_step_trains_the_translation_head():
    det = ADCGAN(variant="plus", batch_size=8, epochs=1, warmup_epochs=0, translation_weight=1.0)
    det.build((28, 28, 1))
    det.set_train(True)
    before = det.nets["D"].trans.weight.detach().clone()
    losses = det.train_step(torch.rand(8, 1, 28, 28), epoch=0)
    assert np.isfinite(losses["loss_D"]) and not torch.equal(before, det.nets["D"].trans.weight)


def test_heads_survive_save_and_load(heads_fitted, tmp_path):
    heads_fitted.save(tmp_path / "m")
    det = load_detector(tmp_path / "m", device="cpu")
    assert det.config.see_edges and det.config.knn_rotations and det.config.translation_weight == 1.0
    assert torch.equal(det.scoring_state["bank"], heads_fitted.scoring_state["bank"])
    x = blobs(7, seed=5)
    np.testing.assert_allclose(det.score_samples(x), heads_fitted.score_samples(x), rtol=1e-6, atol=1e-7)



def test_a_saved_model_evaluates_with_the_knn_rotation_ensemble(bar_folder, tmp_path, monkeypatch):
    """``knn_rotations`` is a scoring setting: the bank is refilled from the very images the model was
    trained on (its rotation-0 slice equals the trained bank), and the calibration is refitted."""
    run = tmp_path / "run"
    base = ["--dataset", "folder", "--data-dir", str(bar_folder), "--class", "horizontal", "--device", "cpu", "--quiet"]
    assert main(["train", *base, "--variant", "plus", "--epochs", "1", "--warmup-epochs", "1", "--batch-size", "8",
                 "--max-train-images", "30", "--out", str(run)]) == 0
    info = json.loads((run / "metrics.json").read_text(encoding="utf-8"))["train_info"]   # also in a study's DB
    assert 0.0 <= info["heldout_rotation_accuracy"] <= 1.0 and info["knn_bank_images"] == 30
    banks = []
    real_refit = ADCGAN.refit_bank
    monkeypatch.setattr(ADCGAN, "refit_bank", lambda self, data: real_refit(self, data) or banks.append(
        self.scoring_state["bank"]))
    assert main(["evaluate", "--model", str(run), *base, "--set", "knn_rotations=true", "--out", str(tmp_path / "e")]) == 0
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["recalibrated"] and m["scoring_overrides"] == {"knn_rotations": True}
    assert m["train_info"]["knn_bank_images"] == 30
    trained = load_detector(run / "model", device="cpu").scoring_state["bank"]
    assert len(banks) == 1 and banks[0].shape == (4, *trained.shape)
    torch.testing.assert_close(banks[0][0], trained)
    assert main(["train", *base, "--epochs", "1", "--warmup-epochs", "0", "--out", str(tmp_path / "p")]) == 0
    assert main(["evaluate", "--model", str(tmp_path / "p"), *base, "--set", "knn_rotations=true",
                 "--out", str(tmp_path / "pe")]) == 2    # the paper variant has no KNN bank


def test_the_fast_scoring_copies_score_the_heads_as_the_plain_networks_do(heads_fitted):
    x = blobs(9, seed=3)
    fast = heads_fitted.score_components(x)
    try:
        heads_fitted.config.fast_scoring, heads_fitted._scorer_cache = False, None
        plain = heads_fitted.score_components(x)
    finally:
        heads_fitted.config.fast_scoring, heads_fitted._scorer_cache = True, None
    for k in ("TRN", "KNN", "ROT", "LGR", "score"):
        np.testing.assert_allclose(fast[k], plain[k], rtol=1e-5, atol=1e-5 * float(np.abs(plain[k]).max()), err_msg=k)


def test_a_study_is_rescored_through_its_models_under_a_scoring_setting(bar_folder, tmp_path):
    """``rescore --db --set knn_rotations=true``: every finished run's model is evaluated again (as `evaluate
    --set` would), a run whose detector cannot take the setting gets an error row, and a second pass reads
    the reports back instead of scoring again."""
    db = tmp_path / "s.db"
    grid = ["bench", "--datasets", "folder", "--data-dir", str(bar_folder), "--classes", "horizontal", "--db", str(db),
            "--preset", "smoke", "--num-threads", "1", "--quiet", "--out-root", str(tmp_path / "runs")]
    assert main([*grid, "--set", "variant=plus"]) == 0 and main(grid) == 0     # adcgan+ and AD-CGAN (paper)
    assert main(["rescore", "--db", str(db), "--set", "knn_rotations=true", "--out", str(tmp_path / "a.csv")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "a.csv", encoding="utf-8")))
    by = {r["detector"]: r for r in rows}
    assert set(by) == {"adcgan", "adcgan+"} and by["adcgan+"]["combine"] == "set knn_rotations=True"
    assert "KNN bank" in by["adcgan"]["error"] and by["adcgan+"]["error"] == ""
    [folder] = list((tmp_path / "a_runs").iterdir())                             # the adcgan+ run's report
    m = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    assert m["scoring_overrides"] == {"knn_rotations": True} and m["train_info"]["knn_bank_images"] > 0
    assert float(by["adcgan+"]["roc_auc"]) == pytest.approx(m["roc_auc"])
    before = (folder / "metrics.json").stat().st_mtime_ns
    assert main(["rescore", "--db", str(db), "--set", "knn_rotations=true", "--out", str(tmp_path / "a.csv")]) == 2
    (tmp_path / "a.csv").rename(tmp_path / "old.csv")
    assert main(["rescore", "--db", str(db), "--set", "knn_rotations=true", "--out", str(tmp_path / "a.csv")]) == 0
    assert (folder / "metrics.json").stat().st_mtime_ns == before                # read back, not scored again
    assert main(["rescore", "--db", str(db), "--set", "knn_rotations=true", "--combine", "raw",
                 "--out", str(tmp_path / "b.csv")]) == 2
