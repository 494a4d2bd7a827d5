"""Multiple testing over NPLM widths (arXiv:2408.12296) and the chi2 fit of a null sample.

The golden checks reproduce the published LHCO 6D pass counts exactly (golden README, section 2).
"""

import logging
import pickle

import numpy as np
import pytest
from _api import API_CHECKS
from _golden import COMBINED_COLUMNS, P90_COLUMN, load_lhco_multiple_testing
from scipy import special, stats
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from nhtad.calibration import power_at_significance
from nhtad.stats import (
    COMBINATION_METHODS,
    MultipleTestCombination,
    calibrated_pvalues,
    chi2_significance,
    combine,
    combined_statistic,
    fit_chi2_dof,
    holm_bonferroni,
    leave_one_out_pvalues,
)
from nhtad.stats.chi2_fit import _ks_distances
from nhtad.stats.pvalues import empirical_pvalue

Z_LEVELS = [2.0, 3.0]
# lhco_powers.json key of each combination.
PUBLISHED_KEY = {"min-p": "p-min", "fisher": "p-prod", "average-p": "p-avg", "softmax-t": "t-smax"}


@pytest.fixture(scope="module")
def lhco(golden_dir):
    return load_lhco_multiple_testing(golden_dir)


def correlated_gaussian_toys(rng, n_toys, m=4, rho=0.7):
    cov = np.full((m, m), rho) + (1.0 - rho) * np.eye(m)
    return rng.multivariate_normal(np.zeros(m), cov, size=n_toys)


# ---------------------------------------------------------------- per-column p-values


def test_leave_one_out_pvalues_equal_a_brute_force_loop_with_ties():
    null = np.random.default_rng(0).integers(0, 6, size=(40, 3)).astype(float)
    n = null.shape[0]
    expected = np.empty_like(null)
    for i in range(n):
        for j in range(null.shape[1]):
            others = np.delete(null[:, j], i)
            expected[i, j] = (1 + np.count_nonzero(others >= null[i, j])) / n
    np.testing.assert_array_equal(leave_one_out_pvalues(null), expected)


def test_calibrated_pvalues_equal_a_brute_force_loop_with_ties():
    rng = np.random.default_rng(1)
    null = rng.integers(0, 6, size=(30, 3)).astype(float)
    rows = rng.integers(-1, 8, size=(25, 3)).astype(float)
    expected = np.array(
        [
            [empirical_pvalue(null[:, j], rows[i, j], warn_floor=False) for j in range(3)]
            for i in range(25)
        ]
    )
    np.testing.assert_array_equal(calibrated_pvalues(null, rows), expected)
    np.testing.assert_array_equal(calibrated_pvalues(null, rows[3]), expected[3])


def test_one_test_accepts_1d_arrays():
    rng = np.random.default_rng(2)
    null, rows = rng.normal(size=50), rng.normal(size=7)
    assert leave_one_out_pvalues(null).shape == (50, 1)
    np.testing.assert_array_equal(
        calibrated_pvalues(null, rows), calibrated_pvalues(null[:, None], rows[:, None])[:, 0]
    )


def test_leave_one_out_pvalues_of_a_continuous_null_are_exactly_the_uniform_grid():
    null = np.random.default_rng(3).normal(size=(500, 2))
    pvalues = leave_one_out_pvalues(null)
    for j in range(2):
        np.testing.assert_allclose(np.sort(pvalues[:, j]), np.arange(1, 501) / 500)


# ---------------------------------------------------------------- combined statistics


def test_combine_formulas_on_one_row():
    p = np.array([0.1, 0.5, 0.2])
    t = np.array([3.0, 1.0, 2.0])
    assert combined_statistic(p, combine="min-p") == pytest.approx(-0.1)
    assert combined_statistic(p, combine="fisher") == pytest.approx(-np.log(0.01))
    assert combined_statistic(p, combine="average-p") == pytest.approx(-np.log(0.8 / 3))
    assert combined_statistic(statistics=t, combine="softmax-t") == pytest.approx(
        np.log(np.exp(t).mean())
    )
    tau = 0.5
    assert combined_statistic(statistics=t, combine="softmax-t", temperature=tau) == pytest.approx(
        tau * np.log(np.exp(t / tau).mean())
    )
    # A cold softmax is the maximum less tau log m.
    assert combined_statistic(statistics=t, combine="softmax-t", temperature=1e-3) == pytest.approx(
        3.0 - 1e-3 * np.log(3), rel=1e-9
    )


def test_softmax_t_does_not_overflow_at_nplm_scales():
    t = np.array([[943.4, 325.1, 45.0], [1007.3, 365.9, 56.4]])
    combined = combined_statistic(statistics=t, combine="softmax-t")
    np.testing.assert_allclose(combined, t[:, 0] - np.log(3), rtol=1e-14)


def test_methods_tuple_lists_every_combination():
    assert COMBINATION_METHODS == ("min-p", "fisher", "average-p", "softmax-t")


@pytest.mark.parametrize("method", ["min-p", "fisher"])
def test_combined_pvalues_of_independent_null_draws_are_uniform(method):
    rng = np.random.default_rng(4)
    null = correlated_gaussian_toys(rng, 5000)
    fresh = correlated_gaussian_toys(rng, 1000)
    combination = MultipleTestCombination(combine=method).fit(null)
    pvalues = combination.pvalue(fresh)
    assert stats.kstest(pvalues, "uniform").pvalue > 0.01
    # Fisher's chi2_{2m} formula, which assumes independent tests, is far off for these
    # correlated columns: the reason the combination is calibrated on toys.
    if method == "fisher":
        naive = stats.chi2.sf(2 * combination.combined_statistic(fresh), df=2 * 4)
        assert stats.kstest(naive, "uniform").pvalue < 1e-6


def test_pvalue_log_pvalue_and_significance_agree_with_the_scalar_convention():
    rng = np.random.default_rng(5)
    null = correlated_gaussian_toys(rng, 300, m=3)
    rows = correlated_gaussian_toys(rng, 20, m=3) + 1.0
    combination = MultipleTestCombination(combine="average-p").fit(null)
    combined = combination.combined_statistic(rows)
    expected = np.array([empirical_pvalue(combination.null_combined_, c) for c in combined])
    np.testing.assert_allclose(combination.pvalue(rows), expected, rtol=1e-14)
    np.testing.assert_allclose(np.exp(combination.log_pvalue(rows)), expected, rtol=1e-12)
    np.testing.assert_allclose(combination.significance(rows), stats.norm.isf(expected))
    assert isinstance(combination.pvalue(rows[0]), float)
    assert combination.pvalue(rows[0]) == expected[0]


def test_columns_select_a_subset_and_new_rows_keep_every_column():
    rng = np.random.default_rng(6)
    null = correlated_gaussian_toys(rng, 200, m=5)
    rows = correlated_gaussian_toys(rng, 10, m=5)
    subset = MultipleTestCombination(combine="fisher", columns=[0, 2, 4]).fit(null)
    direct = MultipleTestCombination(combine="fisher").fit(null[:, [0, 2, 4]])
    np.testing.assert_array_equal(subset.null_combined_, direct.null_combined_)
    np.testing.assert_array_equal(subset.pvalue(rows), direct.pvalue(rows[:, [0, 2, 4]]))
    assert subset.n_features_in_ == 5
    np.testing.assert_array_equal(subset.columns_, [0, 2, 4])


def test_fit_sets_the_documented_attributes():
    null = correlated_gaussian_toys(np.random.default_rng(7), 100, m=3)
    combination = MultipleTestCombination()
    with pytest.raises(NotFittedError):
        combination.pvalue(null[0])
    assert combination.fit(null) is combination
    check_is_fitted(combination)
    np.testing.assert_array_equal(combination.null_statistics_, null)
    np.testing.assert_array_equal(combination.null_pvalues_, leave_one_out_pvalues(null))
    np.testing.assert_array_equal(
        combination.null_combined_, -leave_one_out_pvalues(null).min(axis=1)
    )
    restored = pickle.loads(pickle.dumps(combination))
    np.testing.assert_array_equal(restored.pvalue(null[:5]), combination.pvalue(null[:5]))


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_api_checks(check):
    check("MultipleTestCombination", MultipleTestCombination(combine="fisher", columns=[0, 1]))


def test_the_old_names_work_for_one_release_with_a_future_warning():
    p = np.array([0.1, 0.5, 0.2])
    with pytest.warns(FutureWarning, match=r"combined_statistic\(\.\.\., combine="):
        old = combine(p, method="fisher")
    assert old == combined_statistic(p, combine="fisher")
    null = correlated_gaussian_toys(np.random.default_rng(9), 200, m=3)
    legacy = MultipleTestCombination(method="average-p", columns=[0, 2])
    assert clone(legacy).get_params()["method"] == "average-p"
    with pytest.warns(FutureWarning, match=r"MultipleTestCombination\(method=\.\.\.\)"):
        legacy.fit(null)
    current = MultipleTestCombination(combine="average-p", columns=[0, 2]).fit(null)
    assert legacy.combine_ == current.combine_ == "average-p"
    np.testing.assert_array_equal(legacy.null_combined_, current.null_combined_)
    np.testing.assert_array_equal(legacy.pvalue(null[:5]), current.pvalue(null[:5]))
    # Both names, disagreeing: refused rather than one silently ignored.
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="give combine only"):
        MultipleTestCombination(combine="fisher", method="average-p").fit(null)


def test_clone_keeps_the_parameters_untouched():
    columns = [1, 2]
    assert clone(MultipleTestCombination(columns=columns)).get_params()["columns"] == columns


# ---------------------------------------------------------------- Holm-Bonferroni


def test_holm_bonferroni_any_rule_and_textbook_holm():
    alpha = 0.05
    # Sorted p: 0.03 > alpha/3, 0.04 > alpha/2 but 0.045 <= alpha/1: only the "any" rule rejects.
    row = np.array([0.045, 0.03, 0.04])
    assert holm_bonferroni(row, alpha) is True
    assert holm_bonferroni(row, alpha, rule="holm") is False
    rows = np.array([[0.01, 0.9, 0.9], [0.2, 0.3, 0.9], [0.045, 0.03, 0.04]])
    np.testing.assert_array_equal(holm_bonferroni(rows, alpha), [True, False, True])
    np.testing.assert_array_equal(holm_bonferroni(rows, alpha, rule="holm"), [True, False, False])


# ---------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    "null, match",
    [
        (np.array([[1.0, np.nan], [2.0, 3.0], [0.5, 1.0]]), "1 NaN"),
        (np.array([[1.0, np.inf], [2.0, 3.0]]), "1 inf"),
        (np.ones((1, 3)), "at least 2 null toys"),
        (np.ones((4, 0)), "at least 2 null toys"),
        (np.ones((4, 2, 2)), r"shape \(n_toys, n_tests\)"),
        ([["a", "b"], ["c", "d"]], "must be numeric"),
    ],
)
def test_bad_null_statistics_raise(null, match):
    with pytest.raises(ValueError, match=match):
        leave_one_out_pvalues(null)
    with pytest.raises(ValueError, match=match):
        MultipleTestCombination().fit(null)


def test_bad_rows_and_parameters_raise():
    null = np.random.default_rng(8).normal(size=(20, 3))
    with pytest.raises(ValueError, match=r"shape \(n_obs, 3\) or \(3,\)"):
        calibrated_pvalues(null, np.ones((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        calibrated_pvalues(null, [1.0, np.nan, 2.0])
    fitted = MultipleTestCombination().fit(null)
    with pytest.raises(ValueError, match=r"shape \(n_obs, 3\)"):
        fitted.pvalue(np.ones(4))
    with pytest.raises(ValueError, match="combine must be one of"):
        combined_statistic([0.5, 0.1], combine="harmonic")
    with pytest.raises(ValueError, match="combine must be one of"):
        MultipleTestCombination(combine="p-min").fit(null)
    with pytest.raises(ValueError, match=r"pass statistics="):
        combined_statistic(pvalues=[0.5, 0.1], combine="softmax-t")
    with pytest.raises(ValueError, match=r"pass pvalues="):
        combined_statistic(statistics=[0.5, 0.1], combine="fisher")
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\]"):
        combined_statistic([0.0, 0.1], combine="fisher")
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\]"):
        holm_bonferroni([np.nan, 0.1], 0.05)
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        combined_statistic(statistics=[1.0, 2.0], combine="softmax-t", temperature=0.0)
    with pytest.raises(ValueError, match="columns must be"):
        MultipleTestCombination(columns=[0, 3]).fit(null)
    with pytest.raises(ValueError, match="columns must not repeat"):
        MultipleTestCombination(columns=[0, -3]).fit(null)
    with pytest.raises(ValueError, match="rule must be one of"):
        holm_bonferroni([0.5, 0.1], 0.05, rule="hochberg")
    with pytest.raises(ValueError, match=r"alpha must be a number in the open interval"):
        holm_bonferroni([0.5, 0.1], 1.5)


# ---------------------------------------------------------------- published LHCO 6D powers


def test_every_single_sigma_pass_count_is_reproduced(lhco):
    counts = lhco.powers["single_sigma_pass_counts_all_columns_computed_here"]
    thresholds = lhco.powers["null_thresholds_all_columns_computed_here"]
    for j, sigma in enumerate(lhco.powers["columns_sigma"]):
        result = power_at_significance(lhco.null[:, j], lhco.signal[:, j], Z_LEVELS)
        assert result.n_passed.tolist() == counts[f"col{j}_sigma{sigma}"], sigma
        np.testing.assert_array_equal(result.threshold, thresholds[f"col{j}_sigma{sigma}"])


@pytest.mark.parametrize("column", [*COMBINED_COLUMNS, P90_COLUMN])
def test_single_sigma_powers_match_the_published_table(lhco, column):
    sigma = lhco.powers["columns_sigma"][column]
    key = f"p-90_col5_sigma{sigma}" if column == P90_COLUMN else f"single_col{column}_sigma{sigma}"
    result = power_at_significance(lhco.null[:, column], lhco.signal[:, column], Z_LEVELS)
    published = lhco.powers["published_power_errlow_errup"][key]
    for power, (pub_power, err_low, err_up) in zip(result.power, published):
        assert power == pub_power
        assert pub_power - err_low <= power <= pub_power + err_up


@pytest.mark.parametrize("method", COMBINATION_METHODS)
def test_combined_pass_counts_are_reproduced(lhco, method):
    combination = MultipleTestCombination(combine=method, columns=COMBINED_COLUMNS).fit(lhco.null)
    result = power_at_significance(
        combination.null_combined_, combination.combined_statistic(lhco.signal), Z_LEVELS
    )
    key = PUBLISHED_KEY[method]
    assert result.n_passed.tolist() == lhco.powers["pass_counts_recomputed_here"][key]
    for power, (pub_power, err_low, err_up) in zip(
        result.power, lhco.powers["published_power_errlow_errup"][key]
    ):
        assert power == pub_power
        assert pub_power - err_low <= power <= pub_power + err_up


def test_softmax_t_is_column_0_at_nplm_scales(lhco):
    combination = MultipleTestCombination(combine="softmax-t", columns=COMBINED_COLUMNS)
    combined = combination.fit(lhco.null).combined_statistic(lhco.signal)
    np.testing.assert_allclose(combined, lhco.signal[:, 0] - np.log(6), rtol=1e-12)


def test_holm_bonferroni_pass_counts_are_reproduced(lhco):
    pvalues = calibrated_pvalues(lhco.null[:, COMBINED_COLUMNS], lhco.signal[:, COMBINED_COLUMNS])
    counts = [int(holm_bonferroni(pvalues, stats.norm.sf(z)).sum()) for z in Z_LEVELS]
    assert counts == lhco.powers["pass_counts_recomputed_here"]["HB"]
    published = lhco.powers["published_power_errlow_errup"]["HB"]
    assert [c / 2000 for c in counts] == [row[0] for row in published]


def _strict_pvalues(null, signal):
    # The paper's convention, written out by brute force: p = (1 + #{ref > t}) / (|ref| + 1).
    n = null.shape[0]
    null_p = ((null[np.newaxis, :, :] > null[:, np.newaxis, :]).sum(axis=1) + 1) / n
    signal_p = ((null[np.newaxis, :, :] > signal[:, np.newaxis, :]).sum(axis=1) + 1) / (n + 1)
    return null_p, signal_p


def test_tie_convention_changes_no_published_pass_count(lhco):
    null = lhco.null[:, COMBINED_COLUMNS]
    signal = lhco.signal[:, COMBINED_COLUMNS]
    # The only ties are two null toys stored twice (rows 779 = 1360 and 1204 = 1879), whose
    # leave-one-out p differs by 1/2000 between ">=" and ">"; no signal value equals a null one.
    assert all(np.intersect1d(null[:, j], signal[:, j]).size == 0 for j in range(6))
    strict_null_p, strict_signal_p = _strict_pvalues(null, signal)
    changed = np.flatnonzero((strict_null_p != leave_one_out_pvalues(null)).any(axis=1))
    assert changed.tolist() == [779, 1204, 1360, 1879]
    np.testing.assert_array_equal(strict_signal_p, calibrated_pvalues(null, signal))
    for method in ("min-p", "fisher", "average-p"):
        strict = power_at_significance(
            combined_statistic(strict_null_p, combine=method),
            combined_statistic(strict_signal_p, combine=method),
            Z_LEVELS,
        )
        assert (
            strict.n_passed.tolist()
            == lhco.powers["pass_counts_recomputed_here"][PUBLISHED_KEY[method]]
        )


# ---------------------------------------------------------------- chi2 fit of the null


def test_chi2_fit_reproduces_the_published_lhco_anchor(lhco):
    t = lhco.null[:, P90_COLUMN]
    fit = fit_chi2_dof(t)
    assert fit.dof == pytest.approx(120.4, abs=0.1)
    assert fit.ks_statistic == pytest.approx(0.019, abs=5e-4)
    assert fit.n_toys == 2000
    # The reference's own grid, median +- 10 in steps of 0.1, lands on the same minimum.
    median = np.median(t)
    on_reference_grid = fit_chi2_dof(t, dof_grid=np.arange(median - 10, median + 10, 0.1))
    assert on_reference_grid.dof == pytest.approx(fit.dof, abs=0.05)


def test_vectorised_ks_distance_equals_scipy_kstest():
    t = np.random.default_rng(9).chisquare(30, size=700)
    dofs = np.array([25.0, 29.3, 30.0, 34.5])
    expected = [stats.kstest(t, stats.chi2(d).cdf).statistic for d in dofs]
    np.testing.assert_allclose(_ks_distances(np.sort(t), dofs), expected, rtol=1e-12)


def test_chi2_fit_recovers_the_dof_of_chi2_samples():
    t = np.random.default_rng(10).chisquare(50, size=2000)
    fit = fit_chi2_dof(t)
    assert fit.dof == pytest.approx(50, rel=0.03)
    assert fit.ks_statistic == stats.kstest(t, stats.chi2(fit.dof).cdf).statistic
    assert fit.ks_pvalue > 0.05


def test_chi2_fit_warns_when_the_minimum_is_on_the_grid_edge(caplog):
    t = np.random.default_rng(11).chisquare(50, size=300)
    with caplog.at_level(logging.WARNING, logger="nhtad.stats.chi2_fit"):
        fit = fit_chi2_dof(t, dof_grid=np.linspace(20, 30, 11))
    assert fit.dof <= 30.0 + 1e-9
    assert "edge of the scanned grid" in caplog.text


def test_chi2_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="must be > 0"):
        fit_chi2_dof([1.0, -2.0, 3.0])
    with pytest.raises(ValueError, match="NaN"):
        fit_chi2_dof([1.0, np.nan, 3.0])
    with pytest.raises(ValueError, match="at least 2"):
        fit_chi2_dof([1.0])
    with pytest.raises(ValueError, match="dof_grid must be"):
        fit_chi2_dof([1.0, 2.0, 3.0], dof_grid=[0.0, 1.0])


def test_chi2_significance_is_finite_in_log_space():
    t = np.array([100.0, 150.0, 200.0])
    log_p, z = chi2_significance(t, 120.4)
    np.testing.assert_allclose(log_p, stats.chi2.logsf(t, 120.4), rtol=1e-10)
    np.testing.assert_allclose(z, stats.norm.isf(stats.chi2.sf(t, 120.4)), rtol=1e-9)
    far_log_p, far_z = chi2_significance(20_000.0, 120.4)
    assert np.isfinite(far_log_p) and far_log_p < -7000
    assert far_z == pytest.approx(-special.ndtri_exp(far_log_p))
    fit = fit_chi2_dof(np.random.default_rng(12).chisquare(20, size=500))
    assert fit.significance(40.0).significance == chi2_significance(40.0, fit.dof).significance
