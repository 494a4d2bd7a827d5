"""Toy-calibrated p-values at their floor 1/(n + 1): the warning, the chi2 extrapolation, the plot."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator

from nhtad.calibration import ToyCalibrator
from nhtad.stats import (
    MultipleTestCombination,
    TestResult,
    ToyFloorWarning,
    chi2_extrapolation,
    empirical_log_pvalue,
    empirical_pvalue,
    fit_chi2_dof,
    leave_one_out_pvalues,
    toys_needed,
)
from nhtad.stats.base import EXTRAPOLATED, METHODS

DOF = 120


class SumOfSquares(BaseEstimator):
    """t = sum of x^2: exactly chi2(len(x)) on standard normal toys."""

    def fit(self, x):
        self.statistic_ = float(np.sum(np.square(x)))
        return self


class TwoStatistics(BaseEstimator):
    """Two statistics per toy: a chi2(DOF) and a uniform on (0, 400), which no chi2 describes."""

    def fit(self, x):
        self.statistic_ = np.array([np.sum(np.square(x[:-1])), 400.0 * stats.norm.cdf(x[-1])])
        return self


class NormalToys:
    """DOF standard normals per toy (one more for TwoStatistics; picklable for loky)."""

    def __init__(self, size=DOF):
        self.size = size

    def __call__(self, random_state):
        return (np.random.default_rng(random_state).normal(size=self.size),)


@pytest.fixture(scope="module")
def calibrator():
    return ToyCalibrator(SumOfSquares(), NormalToys(), n_toys=200, random_state=0).fit()


@pytest.fixture(scope="module")
def chi2_null():
    return np.random.default_rng(1).chisquare(DOF, size=400)


# -- how many toys a significance needs ------------------------------------------------------
@pytest.mark.parametrize("z, expected", [(3.0, 740), (5.0, 3_488_555)])
def test_toys_needed_is_one_over_p_minus_one(z, expected):
    # The floor 1/(n + 1) reaches p(Z) = Phi(-Z) first at n = ceil(1/p(Z) - 1).
    assert toys_needed(z) == expected == math.ceil(1.0 / stats.norm.sf(z) - 1.0)
    # One toy fewer and a value beyond all of them stays short of Z.
    floor_z = stats.norm.isf(1.0 / (expected + 1))
    short_z = stats.norm.isf(1.0 / expected)
    assert short_z < z <= floor_z


def test_toys_needed_is_finite_far_out_and_vectorised():
    needed = toys_needed([0.0, 20.9, 40.0])
    assert needed[0] == 1.0  # p = 1/2: one toy, floor 1/2
    assert 1e96 < needed[1] < 1e97  # the extrapolated Z of the motivating NPLM run
    assert needed[2] == np.inf  # 1/p overflows a double, not a NaN or a warning
    with pytest.raises(ValueError, match="NaN"):
        toys_needed(np.nan)


# -- the warning at the floor ----------------------------------------------------------------
def test_floor_warning_names_draws_floor_cap_and_toys_for_z5():
    null = np.arange(1.0, 41.0)  # 40 draws, largest 40
    with pytest.warns(ToyFloorWarning) as record:
        p = empirical_pvalue(null, 779.0)
    assert p == pytest.approx(1 / 41)
    (w,) = record
    warning = w.message
    assert warning.n_null == 40 and warning.floor_pvalue == pytest.approx(1 / 41)
    assert warning.floor_significance == pytest.approx(stats.norm.isf(1 / 41))
    assert warning.toys_needed == toys_needed(5.0)
    text = str(warning)
    assert "n = 40" in text and "0.0244" in text and "Z = 1.97" in text
    assert "Z = 5" in text and "3,488,555" in text
    assert "extrapolate='chi2'" in text and "chi2_extrapolation" in text
    # Attributed to the caller's line, not to nhtad's internals.
    assert w.filename == __file__


def test_floor_warning_for_a_requested_target_counts_its_toys():
    warning = ToyFloorWarning.at_floor(40, target_significance=3.0)
    assert warning.toys_needed == 740 and "Z = 3 " in str(warning) and "740" in str(warning)


def test_no_warning_below_the_floor_or_for_leave_one_out():
    null = np.arange(1.0, 41.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Ties with the largest draw count as reached: one draw is >= t, p = 2/41.
        assert empirical_pvalue(null, 40.0) == pytest.approx(2 / 41)
        assert empirical_log_pvalue(null, [0.5, 39.5]) == pytest.approx(
            np.log([41, 2]) - np.log(41)
        )
        # The largest null draw is at the floor of its leave-one-out p-value by construction.
        assert leave_one_out_pvalues(null).min() == pytest.approx(1 / 40)
        assert empirical_pvalue(null).min() == pytest.approx(1 / 40)
        # An internal step where the floor is expected asks for silence.
        assert empirical_pvalue(null, 99.0, warn_floor=False) == pytest.approx(1 / 41)
        MultipleTestCombination().fit(np.c_[null, null[::-1]])


def test_arrays_of_observed_values_warn_only_when_asked():
    null = np.arange(1.0, 41.0)
    observed = [10.0, 50.0, 60.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # A bulk evaluation (signal toys of a power curve) expects values at the floor.
        bulk = empirical_pvalue(null, observed, ties="randomized", random_state=0)
    with pytest.warns(ToyFloorWarning, match="2 of 3 observed statistics") as record:
        asked = empirical_pvalue(null, observed, ties="randomized", random_state=0, warn_floor=True)
    np.testing.assert_array_equal(asked, bulk)
    assert (bulk[1:] <= 1 / 41).all() and bulk[0] > 1 / 41
    assert record[0].message.n_at_floor == 2 and record[0].message.n_observed == 3


def test_calibrator_warns_at_the_floor_and_quotes_the_chi2_extrapolation(calibrator):
    null = calibrator.null_distribution_
    t = 779.0
    for method in ("pvalue", "log_pvalue", "significance"):
        with pytest.warns(ToyFloorWarning) as record:
            getattr(calibrator, method)(t)
        assert len(record) == 1 and record[0].filename == __file__
    warning = record[0].message
    assert warning.n_null == 200 and "n = 200 toys" in str(warning)
    # The quoted extrapolation is that of the chi2 fitted to these toys, and its toy count.
    (z,) = warning.extrapolated_significance
    assert z == pytest.approx(fit_chi2_dof(null).significance(t).significance)
    assert z > 15 and f"{toys_needed(z):.2g}" in str(warning)
    assert calibrator.significance(t, extrapolate="chi2") == pytest.approx(z)
    # Within the toys: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calibrator.pvalue(float(np.median(null))) > 0.3


@pytest.fixture(scope="module")
def two_columns():
    return ToyCalibrator(TwoStatistics(), NormalToys(DOF + 1), n_toys=200, random_state=0).fit()


def test_floor_warning_says_when_the_chi2_fit_is_poor(two_columns):
    # The uniform column is no chi-square: the warning quotes the good column's extrapolation
    # only, and says not to use the other.
    with pytest.warns(ToyFloorWarning, match="is poor") as record:
        z = two_columns.significance([779.0, 1000.0])
    warning = record[0].message
    assert warning.n_at_floor == 2 and len(warning.extrapolated_significance) == 1
    assert warning.extrapolated_significance[0] > 15 > z[0] == z[1]
    with pytest.raises(ValueError, match=r"KS p = .* < min_ks_pvalue = 0.05"):
        two_columns.significance([779.0, 1000.0], extrapolate="chi2")


# -- the chi2 extrapolation ------------------------------------------------------------------
def test_chi2_extrapolation_matches_scipy_far_beyond_the_toys(chi2_null):
    t = stats.chi2.isf(stats.norm.sf(20.0), DOF)  # Z = 20 under the true law, far past the toys
    assert t > 4 * chi2_null.max()
    result = chi2_extrapolation(chi2_null, t)
    # The dof fitted to 400 toys is within a few units of 120: a few % in log p at Z ~ 20.
    assert result.log_pvalue == pytest.approx(stats.chi2.logsf(t, DOF), rel=0.08)
    assert result.significance == pytest.approx(20.0, abs=1.0)
    # ... and exactly the chi2 of the fitted dof, with the floored empirical p beside it.
    assert result.log_pvalue == pytest.approx(stats.chi2.logsf(t, result.fit.dof), rel=1e-9)
    assert result.empirical_log_pvalue == pytest.approx(-math.log(401))
    assert result.empirical_significance < 3.0 and result.acceptable


def test_calibrator_extrapolates_each_column_with_its_own_fit(two_columns):
    null = two_columns.null_distribution_
    t = np.array([600.0, 300.0])
    with pytest.raises(ValueError, match="extrapolate must be None"):
        two_columns.log_pvalue(t, extrapolate="gamma")
    # Accepting the poor fit knowingly: each column gets the law fitted to its own toys.
    log_p = two_columns.log_pvalue(t, extrapolate="chi2", min_ks_pvalue=0.0)
    for j in range(2):
        fit = fit_chi2_dof(null[:, j])
        assert log_p[j] == pytest.approx(stats.chi2.logsf(t[j], fit.dof), rel=1e-9)


def test_extrapolated_is_a_method_of_test_results():
    assert EXTRAPOLATED == "extrapolated" and EXTRAPOLATED in METHODS
    result = TestResult(statistic=779.0, pvalue=0.0, significance=20.9, method=EXTRAPOLATED)
    assert result.method == "extrapolated"


def test_nplm_test_extrapolates_one_width_and_labels_it():
    pytest.importorskip("torch")
    from nhtad import NPLMTest
    from nhtad.scoring import NPLMKernelEstimator

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(150, 2)), rng.normal(size=(300, 2))]
    X[:40] = rng.normal(2.0, 0.1, size=(40, 2))  # a strong signal in the data
    y = np.r_[np.ones(150), np.zeros(300)]
    est = NPLMKernelEstimator(sigma=1.0, n_centers=20, random_state=0)
    t = est.fit(X, y).statistic_
    null = np.random.default_rng(2).chisquare(8.0, size=100)  # a chi2-like null far below t
    assert t > 5 * null.max()

    with pytest.warns(ToyFloorWarning, match="extrapolate='chi2' reports it") as record:
        toys = NPLMTest(est, null=null).test(X, y)
    assert toys.method == "toys" and toys.log_pvalue == pytest.approx(-math.log(101))
    assert record[0].filename == __file__

    result = NPLMTest(est, null=null, extrapolate="chi2").test(X, y)
    fit = fit_chi2_dof(null)
    assert result.method == "extrapolated"
    assert result.log_pvalue == pytest.approx(stats.chi2.logsf(t, fit.dof), rel=1e-6)
    assert result.details["chi2_dof"] == pytest.approx(fit.dof)
    assert result.details["ks_pvalue"] == pytest.approx(fit.ks_pvalue)
    assert result.details["empirical_pvalue"] == pytest.approx(1 / 101)
    assert result.significance > toys.significance

    # The same test runs the toys that make its null: without one it is the trivial bound.
    assert NPLMTest(est, extrapolate="chi2").test(X, y).method == "bound"
    with pytest.raises(ValueError, match="one kernel width"):
        NPLMTest(est, null=np.c_[null, null], extrapolate="chi2").fit(X, y)
    with pytest.raises(ValueError, match="KS p"):
        NPLMTest(est, null=np.linspace(1, 30, 100) ** 2, extrapolate="chi2").fit(X, y)


# -- the figure ------------------------------------------------------------------------------
def test_plot_null_fit_draws_toys_fit_and_observed(chi2_null):
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from nhtad.plotting.null_fit import plot_null_fit

    t = 779.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the figure labels the floor, it does not warn
        ax = plot_null_fit(chi2_null, t)
    assert isinstance(ax, Axes) and isinstance(ax.figure, Figure)
    assert ax.get_yscale() == "log"
    observed = [line for line in ax.get_lines() if line.get_label().startswith("observed")]
    assert len(observed) == 1 and np.all(np.asarray(observed[0].get_xdata()) == t)
    z_fit = fit_chi2_dof(chi2_null).significance(t).significance
    label = observed[0].get_label()
    assert f"toys Z >= {stats.norm.isf(1 / 401):.2f} (floor)" in label
    assert f"Z = {z_fit:.2f}" in label
    # The fitted density is scaled to the toys: its integral over the bins is the toy count.
    curve = next(line for line in ax.get_lines() if "fit" in line.get_label())
    x, counts = curve.get_xdata(), curve.get_ydata()
    width = np.diff(np.histogram_bin_edges(chi2_null, bins=20)).mean()
    assert np.trapezoid(counts, x) / width == pytest.approx(chi2_null.size, rel=1e-3)

    with pytest.raises(ValueError, match="fit must be a Chi2Fit"):
        plot_null_fit(chi2_null, t, fit=120.0)
    with pytest.raises(ValueError, match="observed must be finite"):
        plot_null_fit(chi2_null, np.inf)
