"""adcgan+ (variant plus): its parts against hand values, a training step, calibration, rescoring."""
import json
import math

import numpy as np
import pytest
import torch

from adcgan import ADCGAN, load_detector
from adcgan.cli import main
from adcgan.detectors.adcgan import plus_parts as P
from adcgan.detectors.adcgan import ADCGANConfig
from adcgan.evaluation.rescore import load_run, rescore_run
from test_adcgan import blobs


def test_rotation_score_by_hand():
    uniform = [torch.zeros(2, 4) for _ in range(4)]
    assert torch.allclose(P.rotation_nll_from_logits(uniform), torch.full((2,), math.log(4)))
    # a perfect, confident predictor of rotation r for image 0, a wrong one for image 1
    logits = []
    for r in range(4):
        lg = torch.full((2, 4), -20.0)
        lg[0, r] = 20.0
        lg[1, (r + 1) % 4] = 20.0
        logits.append(lg)
    nll = P.rotation_nll_from_logits(logits)
    assert nll[0] < 1e-6 and nll[1] == pytest.approx(40.0, abs=1e-3)


def test_rotate_and_knn_by_hand():
    x = torch.arange(4.0).view(1, 1, 2, 2)            # [[0, 1], [2, 3]]
    assert torch.equal(P.rotate(x, 1)[0, 0], torch.tensor([[1.0, 3.0], [0.0, 2.0]]))
    assert torch.equal(P.rotate(x, 4), x)
    bank = torch.tensor([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]])
    q = torch.tensor([[0.0, 0.0]])
    assert P.knn_distance(q, bank, 1).item() == 0.0
    assert P.knn_distance(q, bank, 2).item() == pytest.approx(2.5)   # (0 + 5) / 2
    assert P.knn_distance(q, bank, 9).item() == pytest.approx(5.0)   # k clipped to the bank: (0 + 5 + 10) / 3


def test_variant_defaults_and_explicit_settings():
    paper, plus = ADCGANConfig(), ADCGANConfig(variant="plus")
    assert (paper.combine, paper.lfl_draws, paper.knn_k, paper.rotation_weight) == ("raw", 8, 0, 0.0)
    assert (plus.combine, plus.lfl_draws, plus.dz_pairs, plus.lfl_form) == ("mixed", 64, "cycle", "cycle")
    assert plus.knn_k > 0 and plus.rotation_weight > 0 and plus.flip_average is False
    with pytest.raises(ValueError, match="flip_average"):
        ADCGANConfig(flip_average="maybe").validate()
    assert ADCGANConfig(variant="plus", knn_k=0).knn_k == 0                 # an ablation is one setting
    assert ADCGANConfig.from_dict(plus.to_dict()) == plus
    with pytest.raises(ValueError, match="per-code Dz"):
        ADCGANConfig(variant="official", dz_pairs="cycle").validate()


def test_plus_train_step_updates_the_rotation_head():
    det = ADCGAN(variant="plus", batch_size=8, epochs=1, warmup_epochs=0)
    det.build((28, 28, 1))
    det.set_train(True)
    rot_before = det.nets["D"].rot.weight.detach().clone()
    losses = det.train_step(torch.rand(8, 1, 28, 28), epoch=0)
    assert all(np.isfinite(v) for v in losses.values())
    assert not torch.equal(rot_before, det.nets["D"].rot.weight)


class _ConstantRotationCritic(torch.nn.Module):
    """A critic stub whose rotation logits are a fixed vector for every input."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.rot = torch.nn.Linear(1, 4)
        with torch.no_grad():
            self.rot.weight.zero_()
            self.rot.bias.copy_(torch.tensor(logits))

    def forward(self, x):
        return type("Out", (), {"glob": torch.zeros(len(x), 1)})()


def test_rotation_views_and_loss_by_hand():
    x = torch.arange(8.0).view(2, 1, 2, 2)
    views, labels = P.rotation_views(x, "all")
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and torch.equal(views[3], P.rotate(x, 1)[1])
    one, k = P.rotation_views(x, "one")
    assert len(one) == 2 and all(torch.equal(one[i], P.rotate(x[i:i + 1], int(k[i]))[0]) for i in range(2))
    # logits (ln 4, 0, 0, 0) -> p = (4/7, 1/7, 1/7, 1/7); all four rotations equally often:
    # mean of -ln p(r) = (ln 7 - ln 4 + 3 ln 7) / 4 = ln 7 - ln(4) / 4
    critic = _ConstantRotationCritic([math.log(4.0), 0.0, 0.0, 0.0])
    assert P.rotation_loss(critic, x, "all").item() == pytest.approx(math.log(7) - math.log(4) / 4, rel=1e-5)


def test_rotated_negatives_are_turned_and_take_the_fake_role(monkeypatch):
    x = torch.rand(16, 1, 5, 5)
    neg = P.rotated_negatives(x)
    for i in range(16):  # every negative is its image turned by 90, 180 or 270 degrees, never the image itself
        turned = [k for k in range(1, 4) if torch.equal(neg[i], P.rotate(x[i:i + 1], k)[0])]
        assert len(turned) == 1
    from adcgan.detectors.adcgan import detector as D

    calls = []
    real_loss = D.L.relativistic_d_loss
    monkeypatch.setattr(D.L, "relativistic_d_loss", lambda r, f: calls.append((r, f)) or real_loss(r, f))
    det = ADCGAN(variant="plus", batch_size=8, epochs=1, warmup_epochs=0, critic_steps=1, rotated_negatives=0.5,
                 rotation_views="all")
    det.build((28, 28, 1))
    det.set_train(True)
    losses = det.train_step(torch.rand(8, 1, 28, 28), epoch=0)
    assert all(np.isfinite(v) for v in losses.values())
    # the critic step: (real, G(z)), then (real, rotated real): the same real logits, rotations as fakes
    assert len(calls) >= 2 and calls[1][0] is calls[0][0] and calls[1][1] is not calls[0][1]
    with pytest.raises(ValueError, match="rotation_views"):
        ADCGANConfig(variant="plus", rotation_views="some").validate()


@pytest.fixture(scope="module")
def plus_fitted():
    det = ADCGAN(variant="plus", epochs=1, warmup_epochs=1, batch_size=8, seed=0, flip_average=True)
    det.fit(blobs(60), progress=False)
    return det


def test_plus_scores_are_calibrated_on_validation(plus_fitted):
    det = plus_fitted
    assert det.active_components() == ("LGR", "LGD", "LFE", "LFL", "KNN", "ROT")
    assert set(det.calibration) == set(det.active_components())
    val = det.val_components
    assert len(val["LGR"]) == 6   # 10 % of 60 held out
    comps = det.score_components(blobs(12, seed=3))
    z = [(comps[n] - det.calibration[n]["loc"]) / det.calibration[n]["scale"] for n in det.active_components()]
    z[3] = np.abs(z[3])           # LFL is two-sided under "mixed"
    np.testing.assert_allclose(comps["score"], np.mean(z, axis=0), rtol=1e-9)
    assert det.threshold == pytest.approx(np.quantile(det.combine_components(val)["score"], 0.95))


def test_plus_save_load_keeps_bank_calibration_and_scores(plus_fitted, tmp_path):
    plus_fitted.save(tmp_path / "m")
    det = load_detector(tmp_path / "m", device="cpu")
    assert det.calibration == plus_fitted.calibration
    assert torch.equal(det.scoring_state["bank"], plus_fitted.scoring_state["bank"])
    x = blobs(9, seed=4)
    np.testing.assert_allclose(det.score_samples(x), plus_fitted.score_samples(x), rtol=1e-6, atol=1e-7)


def test_rescore_reproduces_the_stored_auroc(bar_folder, tmp_path):
    run = tmp_path / "run"
    code = main(["train", "--dataset", "folder", "--data-dir", str(bar_folder), "--class", "horizontal",
                 "--variant", "plus", "--epochs", "1", "--warmup-epochs", "1", "--batch-size", "8",
                 "--device", "cpu", "--quiet", "--out", str(run)])
    assert code == 0
    stored = json.loads((run / "metrics.json").read_text())
    assert stored["combine"]["mode"] == "mixed"
    m_raw = rescore_run(run, tmp_path / "raw", "raw")
    assert m_raw["roc_auc"] == stored["raw_roc_auc"]
    m_mixed = rescore_run(run, tmp_path / "mixed", "mixed")
    assert m_mixed["roc_auc"] == pytest.approx(stored["roc_auc"], abs=1e-6)
    assert m_mixed["threshold"] == pytest.approx(stored["threshold"], rel=1e-6)
    assert len(load_run(run).val["LGR"]) == stored["budget"]["val_images"]
    with pytest.raises(FileExistsError):
        rescore_run(run, tmp_path / "mixed", "mixed")
    assert main(["rescore", "--run", str(run), "--components=-LFL,-ROT", "--out", str(tmp_path / "drop")]) == 0
    dropped = json.loads((tmp_path / "drop" / "metrics.json").read_text())
    assert dropped["combine"]["components"] == ["LGR", "LGD", "LFE", "KNN"]
    assert main(["rescore", "--run", str(run), "--components", "NOPE", "--out", str(tmp_path / "bad")]) == 2


def test_evaluate_with_scoring_overrides_recalibrates(bar_folder, tmp_path):
    run = tmp_path / "run"
    base = ["--dataset", "folder", "--data-dir", str(bar_folder), "--class", "horizontal", "--device", "cpu", "--quiet"]
    assert main(["train", *base, "--variant", "plus", "--epochs", "1", "--warmup-epochs", "1", "--batch-size", "8",
                 "--set", "flip_average=true", "--out", str(run)]) == 0
    trained = json.loads((run / "metrics.json").read_text())
    assert main(["evaluate", "--model", str(run), *base, "--set", "flip_average=false", "--out", str(tmp_path / "e")]) == 0
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["recalibrated"] and m["scoring_overrides"] == {"flip_average": False}
    assert m["combine"]["calibration"] != trained["combine"]["calibration"]   # refitted on unflipped scores
    # an evaluate report folder rescores with its own refitted calibration
    assert rescore_run(tmp_path / "e", tmp_path / "e2", "mixed")["roc_auc"] == pytest.approx(m["roc_auc"], abs=1e-6)
    # the same settings as trained: the stored calibration is kept and the AUROC reproduced
    assert main(["evaluate", "--model", str(run), *base, "--set", "combine=mixed", "--out", str(tmp_path / "f")]) == 0
    same = json.loads((tmp_path / "f" / "metrics.json").read_text())
    assert not same["recalibrated"] and same["roc_auc"] == pytest.approx(trained["roc_auc"], abs=1e-9)
    assert main(["evaluate", "--model", str(run), *base, "--set", "lr=0.1", "--out", str(tmp_path / "g")]) == 2
