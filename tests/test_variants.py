"""Score variants measured with a run (adcgan.evaluation.variants): kept in the run's metrics and a study's DB."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adcgan.bench import Store
from adcgan.cli import main
from adcgan.evaluation.rescore import study_auroc
from adcgan.evaluation.variants import check_score_variants, variant_label

KNN_ROT = {"set": {"knn_rotations": True}}


def test_variants_are_validated_before_anything_runs() -> None:
    assert check_score_variants(None) is None and check_score_variants([]) is None
    assert check_score_variants([KNN_ROT, {"components": "-LFL"}]) == [KNN_ROT, {"components": "-LFL"}]
    for bad, msg in [({"set": {"knn_rotations": True}}, "list of tables"),
                     ([{"colour": 1}], "a table of set, combine, components"),
                     ([{"set": {"knn_rotations": True}, "components": "-LFL"}], "not both"),
                     ([{"set": {}}], "non-empty table"),
                     ([{"set": {"lr": 0.1}}], "lr is not a scoring setting")]:
        with pytest.raises(ValueError, match=msg):
            check_score_variants(bad)
    assert variant_label(KNN_ROT) == "knn_rotations=true"
    assert variant_label({"combine": "raw", "components": "-LFE,-LFL"}) == "combine=raw components=-LFE,-LFL"


def test_a_study_run_records_its_variants_in_the_database(bar_folder: Path, tmp_path: Path) -> None:
    """A study's runs score their variants as they finish: the KNN rotation ensemble is the saved model
    evaluated again (as ``adcgan evaluate --set`` does, into RUN/variants/), a recombination equals
    ``adcgan rescore``'s figure for the run folder; both land in metrics.json and the DB's metrics_json."""
    study = tmp_path / "s.toml"
    study.write_text('score_variants = [{ set = { knn_rotations = true } }, { components = "-LFL" }]\n'
                     '[[grid]]\ndetectors = ["adcgan"]\nset = { variant = "plus" }\n', encoding="utf-8")
    db = tmp_path / "s.db"
    assert main(["bench", "--config", str(study), "--datasets", "folder", "--data-dir", str(bar_folder),
                 "--classes", "horizontal", "--db", str(db), "--preset", "smoke", "--num-threads", "1",
                 "--quiet", "--out-root", str(tmp_path / "runs")]) == 0
    store = Store(db)
    [row] = store.rows("done")
    store.close()
    found = {v["label"]: v for v in json.loads(row["metrics_json"])["score_variants"]}
    assert set(found) == {"knn_rotations=true", "components=-LFL"}
    run = Path(row["run_dir"])
    knn = json.loads((run / "variants" / "knn_rotations=true" / "metrics.json").read_text(encoding="utf-8"))
    assert knn["scoring_overrides"] == {"knn_rotations": True} and knn["recalibrated"]
    assert found["knn_rotations=true"]["roc_auc"] == pytest.approx(knn["roc_auc"])
    assert "KNN" in found["knn_rotations=true"]["component_auroc"]
    own = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert own["score_variants"] == json.loads(row["metrics_json"])["score_variants"]
    [again] = study_auroc(run, [(own["combine"]["mode"], "-LFL")])
    assert found["components=-LFL"]["roc_auc"] == pytest.approx(again["roc_auc"]) and "error" not in again


def test_a_bad_variant_stops_the_study_before_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    study = tmp_path / "s.toml"
    study.write_text('score_variants = [{ set = { epochs = 3 } }]\n', encoding="utf-8")
    assert main(["bench", "--config", str(study), "--db", str(tmp_path / "s.db"), "--dry-run"]) == 2
    assert "epochs is not a scoring setting" in capsys.readouterr().err


def test_rescore_record_adds_a_variant_to_finished_runs_and_marks_lost_folders(bar_folder: Path, tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture) -> None:
    """``adcgan rescore --db --record``: a recombination added to a study after its runs finished lands in
    every run's metrics as if the study had declared it (same figure as ``adcgan rescore``); a run whose folder
    is gone gets it as not measurable; a second call adds nothing."""
    db = tmp_path / "s.db"
    assert main(["bench", "--detectors", "adcgan", "--set", "variant=plus", "--datasets", "folder",
                 "--data-dir", str(bar_folder), "--classes", "horizontal,vertical", "--db", str(db), "--preset",
                 "smoke", "--num-threads", "1", "--quiet", "--out-root", str(tmp_path / "runs")]) == 0
    store = Store(db)
    kept, lost = sorted(store.rows("done"), key=lambda r: r["cls"])
    store.close()
    for f in Path(lost["run_dir"]).iterdir():
        if f.name == "scores.csv":
            f.unlink()
    record = ["rescore", "--db", str(db), "--components=-LFE,-LFL", "--record"]
    assert main([*record, "--out", str(tmp_path / "a.csv")]) == 0
    assert "recorded 1 score variant(s)" in capsys.readouterr().err
    store = Store(db)
    by_cls = {r["cls"]: json.loads(r["metrics_json"])["score_variants"] for r in store.rows("done")}
    store.close()
    [got] = by_cls[kept["cls"]]
    own = json.loads((Path(kept["run_dir"]) / "metrics.json").read_text(encoding="utf-8"))
    [again] = study_auroc(kept["run_dir"], [(own["combine"]["mode"], "-LFE,-LFL")])
    assert got["label"] == "components=-LFE,-LFL" and got["roc_auc"] == pytest.approx(again["roc_auc"])
    assert own["score_variants"] == [got]
    assert by_cls[lost["cls"]] == [{"label": "components=-LFE,-LFL", "components": "-LFE,-LFL", "roc_auc": None,
                                    "error": "no run folder"}]
    assert main([*record, "--out", str(tmp_path / "b.csv")]) == 0
    assert "recorded 0 score variant(s)" in capsys.readouterr().err
    (Path(kept["run_dir"]) / "scores.csv").write_text("id,label\nx,oops\n", encoding="utf-8")  # unreadable now
    assert main(["rescore", "--db", str(db), "--components=-LFL", "--record", "--out", str(tmp_path / "d.csv")]) == 0
    store = Store(db)
    added = {r["cls"]: json.loads(r["metrics_json"])["score_variants"][-1] for r in store.rows("done")}
    store.close()
    assert added[kept["cls"]]["roc_auc"] is None and added[kept["cls"]].get("error") not in (None, "", "no run folder")
    assert added[lost["cls"]]["error"] == "no run folder"
    assert "0 score variant(s) in" in capsys.readouterr().err
    assert main([*record, "--set", "knn_rotations=true", "--out", str(tmp_path / "c.csv")]) == 2
    assert "--record stores --components recombinations" in capsys.readouterr().err
