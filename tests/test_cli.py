"""CLI end to end on a tiny generated folder data set: train, evaluate, score, info, errors."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from adcgan.cli import main

TINY = ["--epochs", "1", "--warmup-epochs", "1", "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def trained(bar_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    args = ["train", "--detector", "adcgan", "--dataset", "folder", "--data-dir", str(bar_folder),
            "--class", "horizontal", "--seed", "0", *TINY, "--out", str(out)]
    return out, main(args)


def last_json_line(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def test_train_writes_complete_report(trained, capsys):
    out, rc = trained
    assert rc == 0
    for name in ("metrics.json", "scores.csv", "roc.png", "score_hist.png", "reconstructions.png",
                 "anomaly_maps.png", "config.json", "history.jsonl", "model/config.json", "model/weights.pt", "checkpoint.pt"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_test"] == 24 and m["n_anomalous"] == 12
    assert 0.0 <= m["roc_auc"] <= 1.0 and set(m["component_auroc"]) == {"LGR", "LGD", "LFE", "LFL"}
    assert set(m["ablation_auroc"]) == {"LG", "LG+LFE", "LG+LFL", "GF"} and m["ablation_auroc"]["GF"] == m["roc_auc"]
    assert m["budget"]["epochs_done"] == 2 and m["budget"]["train_images"] == 43  # 48 normal - 5 validation
    with open(out / "scores.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 24 and {"id", "label", "score", "LGR", "anomaly"} <= set(rows[0])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["run"]["cls"] == "horizontal" and cfg["detector_config"]["epochs"] == 1
    # the metrics (and so a study database) record the resolved settings, as config.json does: the paper
    # variant's defaults here (provenance.default_drift compares them with today's)
    assert m["detector_config"] == cfg["detector_config"] and m["detector_config"]["combine"] == "raw"
    assert "normal = 0 (horizontal)" in m["protocol"]


def test_train_last_stdout_line_is_metrics_json(bar_folder, tmp_path, capsys):
    rc = main(["train", "--dataset", "folder", "--data-dir", str(bar_folder), "--class", "1", *TINY,
               "--max-train-images", "16", "--max-test-images", "10", "--out", str(tmp_path / "r")])
    out = capsys.readouterr()
    assert rc == 0
    metrics = last_json_line(out.out)
    assert metrics["budget"]["max_train_images"] == 16 and metrics["budget"]["test_images"] == 10
    assert "BUDGET CUT" not in out.out  # --quiet silences the notes; the budget is in metrics.json
    saved = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert saved["roc_auc"] == metrics["roc_auc"]


def test_refuses_to_overwrite_a_run(trained, bar_folder, capsys):
    out, _ = trained
    before = (out / "metrics.json").read_bytes()
    rc = main(["train", "--dataset", "folder", "--data-dir", str(bar_folder), *TINY, "--out", str(out)])
    assert rc == 2
    assert "already holds a finished run" in capsys.readouterr().err
    assert (out / "metrics.json").read_bytes() == before


def test_evaluate_reproduces_training_report(trained, bar_folder, tmp_path, capsys):
    out, _ = trained
    rc = main(["evaluate", "--model", str(out), "--dataset", "folder", "--data-dir", str(bar_folder),
               "--class", "horizontal", "--quiet", "--batch-size", "5", "--out", str(tmp_path / "ev")])
    assert rc == 0
    ev = last_json_line(capsys.readouterr().out)
    assert ev["roc_auc"] == pytest.approx(json.loads((out / "metrics.json").read_text())["roc_auc"], abs=1e-9)


def test_score_images_and_odd_files(trained, bar_folder, tmp_path, capsys):
    out, _ = trained
    odd = tmp_path / "odd"
    odd.mkdir()
    rgba = np.zeros((40, 30, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(odd / "rgba.png")
    Image.fromarray((np.arange(28 * 28).reshape(28, 28) * 80).astype(np.uint16)).save(odd / "deep.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).convert("P").save(odd / "pal.png")
    test_dir = bar_folder / "test" / "vertical"
    rc = main(["score", "--model", str(out), str(test_dir), str(odd), "--csv", str(tmp_path / "s.csv"), "--quiet"])
    assert rc == 0
    summary = last_json_line(capsys.readouterr().out)
    with open(tmp_path / "s.csv") as f:
        rows = list(csv.DictReader(f))
    assert summary["images"] == len(rows) == 15
    assert {"id", "score", "anomaly"} <= set(rows[0]) and all(r["anomaly"] in ("0", "1") for r in rows)
    assert main(["score", "--model", str(out), str(odd), "--csv", str(tmp_path / "s.csv")]) == 2
    assert "already exists" in capsys.readouterr().err
    (odd / "broken.png").write_bytes(b"not an image at all")
    assert main(["score", "--model", str(out), str(odd), "--csv", str(tmp_path / "t.csv"), "--strict"]) == 2
    assert "broken.png" in capsys.readouterr().err and not (tmp_path / "t.csv").exists()


@pytest.mark.parametrize("argv, message", [
    (["--class", "diagonal"], "diagonal"),
    (["--set", "nonsense=1"], "unknown setting(s) for adcgan: nonsense"),
    (["--epochs", "-1"], "epochs must be >= 0"),
    (["--scheme", "all-vs-one", "--class", "7"], "7"),
])
def test_bad_inputs_give_one_clear_error(bar_folder, tmp_path, capsys, argv, message):
    rc = main(["train", "--dataset", "folder", "--data-dir", str(bar_folder), *TINY, *argv, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err


def test_bf16_on_a_device_without_it_is_one_error_and_leaves_no_folder(bar_folder, tmp_path, capsys, monkeypatch):
    from adcgan.training import precision
    monkeypatch.setattr(precision, "bf16_support", lambda device: "this CPU has no bfloat16 kernels")
    out = tmp_path / "x"
    rc = main(["train", "--dataset", "folder", "--data-dir", str(bar_folder), *TINY, "--precision", "bf16",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "precision=bf16 cannot train here: this CPU has no bfloat16 kernels" in err
    assert "Traceback" not in err and not out.exists()


def test_missing_data_and_model_errors(tmp_path, capsys):
    assert main(["train", "--dataset", "folder", "--data-dir", str(tmp_path / "nope"), *TINY,
                 "--out", str(tmp_path / "x")]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["score", "--model", str(tmp_path), str(tmp_path), "--csv", str(tmp_path / "a.csv")]) == 2
    assert "not a model folder" in capsys.readouterr().err


def test_config_file_and_flag_override(bar_folder, tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('dataset = "folder"\nclass = "vertical"\nepochs = 3\nwarmup-epochs = 0\nbatch-size = 8\n'
                   f'data-dir = "{bar_folder}"\nmax-test-images = 8\n[set]\nlam = 0.2\n')
    rc = main(["train", "--config", str(cfg), "--epochs", "1", "--quiet", "--out", str(tmp_path / "r")])
    assert rc == 0
    resolved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert resolved["detector_config"]["epochs"] == 1 and resolved["detector_config"]["lam"] == 0.2
    assert resolved["run"]["cls"] == "vertical"
    yml = tmp_path / "run.yaml"
    yml.write_text("dataset: folder\nepochs: [1, 2]\n")
    assert main(["train", "--config", str(yml), "--out", str(tmp_path / "y")]) == 2


def test_user_folders(tmp_path, bar_folder, capsys):
    rc = main(["train", "--dataset", "user", "--train-dir", str(bar_folder / "train" / "horizontal"),
               "--test-normal-dir", str(bar_folder / "test" / "horizontal"),
               "--test-anomalous-dir", str(bar_folder / "test" / "vertical"), "--geometry", "28x28x1",
               *TINY, "--out", str(tmp_path / "u")])
    assert rc == 0
    m = last_json_line(capsys.readouterr().out)
    assert m["budget"]["test_images"] == 24
    assert json.loads((tmp_path / "u" / "model" / "config.json").read_text())["config"]["geometry"] == [28, 28, 1]


def test_info_and_console_script(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "adcgan" in out and "fashion-mnist" in out
    res = subprocess.run([sys.executable, "-m", "adcgan", "train", "--dataset", "nowhere", "--out", "/tmp/x-never"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "nowhere" in res.stderr and "Traceback" not in res.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`adcgan bench status | head -1`: a closed pipe stops the command with 141 (as Unix tools), no traceback."""
    code = ("import sys\nfrom adcgan.cli.commands import run_guarded\n"
            "def handler(args):\n    for _ in range(200000):\n        print('x' * 60)\n    return 0\n"
            "sys.exit(run_guarded(handler, None))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"x" * 60 + b"\n"
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait() == 141 and err == b""


def test_plot_titles_are_wrapped_to_the_figure_width():
    """A holdout run's protocol line is ~120 characters: it is wrapped, not cut off at the figure's edges."""
    from adcgan.evaluation.plots import wrap_title

    title = "Fashion-MNIST | " + "one-vs-all: normal = 1 (Trouser); test set = holdout; evaluated on held-out " \
            "training images (test split not read)" + "\nanomaly maps of the scored images"
    lines = wrap_title(title, 7.2).split("\n")        # 6 images x 1.2 inches: 93 characters a line
    assert all(len(line) <= 93 for line in lines) and len(lines) == 3
    assert " ".join(lines[:2]) == title.split("\n")[0] and lines[2] == "anomaly maps of the scored images"
    assert wrap_title("short\n\nkept", 1) == "short\n\nkept"   # at least 30 characters; blank lines stay
