"""adcgan+'s defaults revision (PLUS_REVISION): a new revision plans its runs anew, refuses the old ones, and
labels them apart; revision 1 keeps every hash of the studies planned before it existed."""
from __future__ import annotations

import json

import pytest

from adcgan.bench import GridSpec, expand, get_budget, spec_hash
from adcgan.bench.provenance import variant_label
from adcgan.detectors.adcgan import config as adcgan_config
from adcgan.evaluation.experiment import checked_config
from adcgan.evaluation.spec import RunSpec
from adcgan.registry import get_detector_class

PLUS = {"variant": "plus"}


def planned(settings: dict) -> list:
    return expand(GridSpec(datasets=["mnist"], classes=[1], budget=get_budget("smoke"), detector_config=settings))


def test_revision_one_leaves_the_spec_and_its_hash_as_before() -> None:
    run = planned(PLUS)[0]
    assert run.spec.defaults_revision is None
    before_the_field = {k: v for k, v in run.spec.to_dict().items() if k != "defaults_revision"}
    assert run.hash == spec_hash(before_the_field)  # (tests/test_study.py: the committed study's hashes hold)


def test_a_new_revision_plans_plus_runs_anew_and_leaves_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    before = {label: planned(s)[0].hash for label, s in (("plus", PLUS), ("paper", {}))}
    monkeypatch.setattr(adcgan_config, "PLUS_REVISION", 2)
    plus, paper = planned(PLUS)[0], planned({})[0]
    assert plus.spec.defaults_revision == 2 and plus.hash != before["plus"]
    assert paper.spec.defaults_revision is None and paper.hash == before["paper"]


def test_a_run_of_another_revision_is_refused_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    cls = get_detector_class("adcgan")
    old = RunSpec(detector="adcgan", dataset="mnist", detector_config=dict(PLUS))
    assert checked_config(old, cls).variant == "plus"  # revision 1 asks for revision 1
    monkeypatch.setattr(adcgan_config, "PLUS_REVISION", 2)
    with pytest.raises(ValueError, match="asks for adcgan\\+ defaults revision 1, and this code has revision 2"):
        checked_config(old, cls)
    checked_config(RunSpec(detector="adcgan", dataset="mnist", detector_config={}), cls)  # paper: no revision
    new = RunSpec(detector="adcgan", dataset="mnist", detector_config=dict(PLUS), defaults_revision=2)
    assert checked_config(new, cls).variant == "plus"


def test_runs_of_earlier_defaults_are_labelled_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    def row(**spec) -> dict:
        return {"detector": "adcgan", "config_json": json.dumps({"detector_config": dict(PLUS), **spec})}

    assert variant_label(row()) == "adcgan+"
    monkeypatch.setattr(adcgan_config, "PLUS_REVISION", 2)
    assert variant_label(row()) == "adcgan+ (defaults r1)" and variant_label(row(defaults_revision=2)) == "adcgan+"
    assert variant_label({"detector": "ocsvm", "config_json": "{}"}) == "ocsvm"
