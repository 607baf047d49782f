"""Score calibration (adcgan.scoring.calibration): statistics and combinations against hand-computed values."""
import numpy as np
import pytest

from adcgan.scoring.calibration import MAD_TO_SD, combine, fit_calibration, parse_components


def test_robust_calibration_by_hand():
    # median of [1, 2, 4, 10] = 3; |v - 3| = [2, 1, 1, 7] -> MAD = 1.5
    cal = fit_calibration({"a": np.array([1.0, 2.0, 4.0, 10.0])}, ["a"])
    assert cal["a"]["loc"] == 3.0
    assert cal["a"]["scale"] == pytest.approx(1.5 * MAD_TO_SD)


def test_moment_calibration_by_hand():
    # mean of [1, 3] = 2, population sd = 1
    cal = fit_calibration({"a": np.array([1.0, 3.0])}, ["a"], robust=False)
    assert cal["a"] == {"loc": 2.0, "scale": 1.0}


def test_constant_component_gets_a_floor_not_a_division_by_zero():
    cal = fit_calibration({"a": np.ones(5)}, ["a"])
    assert cal["a"]["scale"] > 0
    assert np.isfinite(combine({"a": np.array([1.0, 2.0])}, cal, "standardized", ["a"])).all()


def test_standardized_is_the_mean_of_z_scores():
    cal = {"a": {"loc": 1.0, "scale": 2.0}, "b": {"loc": 0.0, "scale": 0.5}}
    comps = {"a": np.array([5.0]), "b": np.array([-1.0])}
    # z_a = (5 - 1) / 2 = 2, z_b = (-1 - 0) / 0.5 = -2 -> mean 0
    assert combine(comps, cal, "standardized", ["a", "b"])[0] == pytest.approx(0.0)
    # two-sided: (2 + 2) / 2 = 2
    assert combine(comps, cal, "typicality", ["a", "b"])[0] == pytest.approx(2.0)
    # mixed with b two-sided: (2 + 2) / 2; with a two-sided only: (2 - 2) / 2
    assert combine(comps, cal, "mixed", ["a", "b"], two_sided=["b"])[0] == pytest.approx(2.0)
    assert combine(comps, cal, "mixed", ["a", "b"], two_sided=["a"])[0] == pytest.approx(0.0)


def test_typicality_flags_an_atypically_low_value():
    rng = np.random.default_rng(0)
    val = {"c": rng.normal(10.0, 1.0, 500)}
    cal = fit_calibration(val, ["c"])
    test = {"c": np.array([10.0, 4.0])}  # a typical value and a low outlier
    one_sided = combine(test, cal, "standardized", ["c"])
    two_sided = combine(test, cal, "typicality", ["c"])
    assert one_sided[1] < one_sided[0]          # one-sided: the low outlier looks *more* normal
    assert two_sided[1] > 5 > two_sided[0]       # two-sided: it is ~6 sd away from normal


def test_raw_returns_the_detectors_own_total_and_bad_modes_are_refused():
    comps = {"score": np.array([0.3, 0.1]), "a": np.array([1.0, 2.0])}
    np.testing.assert_array_equal(combine(comps, {}, "raw", ["a"]), comps["score"])
    with pytest.raises(ValueError, match="combine must be one of"):
        combine(comps, {}, "sum", ["a"])
    with pytest.raises(ValueError, match="no calibration"):
        combine(comps, {}, "standardized", ["a"])


def test_parse_components():
    assert parse_components("", ("a", "b")) == ["a", "b"]
    assert parse_components("b, a", ("a", "b")) == ["b", "a"]
    with pytest.raises(ValueError, match="unknown score component"):
        parse_components("c", ("a", "b"))
