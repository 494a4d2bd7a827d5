"""Power at a significance, Clopper-Pearson intervals and the median significance."""

import logging

import numpy as np
import pytest
from _golden import COMBINED_COLUMNS, P90_COLUMN, load_lhco_multiple_testing
from scipy import stats

from nhtad.calibration import (
    clopper_pearson,
    median_significance,
    power_at_significance,
)
from nhtad.stats import MultipleTestCombination
from nhtad.stats.pvalues import empirical_pvalue


@pytest.fixture(scope="module")
def lhco(golden_dir):
    return load_lhco_multiple_testing(golden_dir)


# ---------------------------------------------------------------- Clopper-Pearson


@pytest.mark.parametrize(
    "k, n", [(0, 10), (10, 10), (3, 10), (557, 2000), (1, 1), (0, 1), (9, 2000)]
)
def test_clopper_pearson_matches_scipy_binomtest(k, n):
    expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.6827, method="exact")
    low, high = clopper_pearson(k, n)
    assert low == pytest.approx(expected.low, rel=1e-10, abs=1e-15)
    assert high == pytest.approx(expected.high, rel=1e-10, abs=1e-15)


def test_clopper_pearson_edges_and_vectorisation():
    low, high = clopper_pearson(0, 50)
    assert low == 0.0 and 0 < high < 1
    low, high = clopper_pearson(50, 50)
    assert high == 1.0 and 0 < low < 1
    # With no successes the upper bound solves (1 - p)^n = (1 - confidence) / 2.
    assert clopper_pearson(0, 50, confidence=0.9).high == pytest.approx(1 - 0.05 ** (1 / 50))
    k = np.array([0, 7, 50])
    bounds = clopper_pearson(k, 50)
    for i, ki in enumerate(k):
        assert bounds.low[i] == clopper_pearson(int(ki), 50).low
        assert bounds.high[i] == clopper_pearson(int(ki), 50).high


@pytest.mark.parametrize(
    "k, n, confidence, match",
    [
        (11, 10, 0.68, "0 <= k <= n"),
        (-1, 10, 0.68, "0 <= k <= n"),
        (3, 0, 0.68, "n >= 1"),
        (2.5, 10, 0.68, "must be integers"),
        (3, 10, 1.0, "confidence must be a number in the open interval"),
    ],
)
def test_clopper_pearson_rejects_bad_input(k, n, confidence, match):
    with pytest.raises(ValueError, match=match):
        clopper_pearson(k, n, confidence)


# ---------------------------------------------------------------- power at Z


def test_power_at_significance_follows_its_definition():
    rng = np.random.default_rng(0)
    null, alt = rng.normal(size=1000), rng.normal(1.0, 1.0, size=700)
    result = power_at_significance(null, alt, 2.0)
    alpha = 1 - stats.norm.cdf(2.0)
    assert result.alpha == pytest.approx(alpha, rel=1e-12)
    assert result.threshold == np.quantile(null, 1 - alpha, method="higher")
    assert result.threshold in null
    assert result.n_passed == np.count_nonzero(alt >= result.threshold)
    assert isinstance(result.n_passed, int) and result.n_toys == 700
    assert result.power == result.n_passed / 700
    assert (result.low, result.high) == clopper_pearson(result.n_passed, 700)
    assert result.low < result.power < result.high


def test_power_at_significance_is_vectorised_over_z():
    rng = np.random.default_rng(1)
    null, alt = rng.normal(size=3000), rng.normal(1.5, 1.0, size=500)
    z = np.array([0.5, 1.0, 2.0, 3.0])
    result = power_at_significance(null, alt, z)
    for i, zi in enumerate(z):
        single = power_at_significance(null, alt, zi)
        assert result.n_passed[i] == single.n_passed
        assert result.threshold[i] == single.threshold
        assert result.high[i] == single.high
    assert (np.diff(result.power) <= 0).all()


def test_power_warns_when_the_null_cannot_reach_the_level(caplog):
    rng = np.random.default_rng(2)
    null, alt = rng.normal(size=200), rng.normal(size=50)
    with caplog.at_level(logging.WARNING, logger="nhtad.calibration.power"):
        result = power_at_significance(null, alt, [2.0, 3.0])
    assert "200 null toys cannot calibrate Z = [3.0]" in caplog.text
    assert result.threshold[1] == null.max()


@pytest.mark.parametrize("n_null", [8, 40, 100])
def test_the_last_calibrated_z_does_not_warn(caplog, n_null):
    # Z = Phi^-1(1 - 1/n_null) is calibrated (alpha * n_null = 1), whatever sf(isf(.)) rounds to.
    from scipy.stats import norm

    null = np.random.default_rng(4).normal(size=n_null)
    with caplog.at_level(logging.WARNING, logger="nhtad.calibration.power"):
        result = power_at_significance(null, null, norm.isf(1.0 / n_null))
    assert "cannot calibrate" not in caplog.text
    assert result.threshold == null.max()


def test_power_rejects_bad_input():
    rng = np.random.default_rng(3)
    null, alt = rng.normal(size=100), rng.normal(size=100)
    with pytest.raises(ValueError, match="significance must be finite"):
        power_at_significance(null, alt, [2.0, np.nan])
    with pytest.raises(ValueError, match="null_statistic contains 1 NaN"):
        power_at_significance(np.r_[null, np.nan], alt, 2.0)
    with pytest.raises(ValueError, match="alt_statistic must be 1-D"):
        power_at_significance(null, np.ones((10, 2)), 2.0)


# ---------------------------------------------------------------- median significance


def test_median_significance_definition():
    rng = np.random.default_rng(4)
    null, alt = rng.normal(size=1000), rng.normal(1.0, 1.0, size=301)
    result = median_significance(null, alt)
    p = empirical_pvalue(null, np.median(alt))
    assert result.significance == pytest.approx(stats.norm.isf(p))
    assert result.log_pvalue == pytest.approx(np.log(p))
    assert result.low <= result.significance <= result.high
    ranks = stats.binom(301, 0.5)
    # Coverage F(rank_high) - F(rank_low) of the order-statistic interval.
    assert ranks.cdf(result.rank_high) - ranks.cdf(result.rank_low) >= 0.6827
    assert result.rank_low < 150 < result.rank_high


def test_median_order_statistic_interval_covers_the_population_median():
    # 4000 repetitions of 101 draws from N(0, 1): how often [x_(low), x_(high)] contains 0.
    n = 101
    ranks = median_significance(np.arange(10.0), np.arange(float(n)))
    draws = np.sort(np.random.default_rng(5).normal(size=(4000, n)), axis=1)
    covered = (draws[:, ranks.rank_low] < 0) & (draws[:, ranks.rank_high] >= 0)
    nominal = stats.binom(n, 0.5).cdf(ranks.rank_high) - stats.binom(n, 0.5).cdf(ranks.rank_low)
    assert nominal >= 0.6827
    assert covered.mean() == pytest.approx(nominal, abs=3 * np.sqrt(nominal * (1 - nominal) / 4000))


# Median Z of the LHCO 6D toys, nplm_falkon.md section 9 (2 decimals).
PUBLISHED_MEDIAN_Z = [1.31, 1.46, 1.45, 1.40, 1.35, 1.28, 1.26, 1.23, 1.03]
PUBLISHED_COMBINED_MEDIAN_Z = {"min-p": 1.44, "fisher": 1.65, "average-p": 1.63, "softmax-t": 1.31}


def test_median_significance_reproduces_the_lhco_table(lhco):
    for j, expected in enumerate(PUBLISHED_MEDIAN_Z):
        result = median_significance(lhco.null[:, j], lhco.signal[:, j])
        assert round(result.significance, 2) == expected, j
        assert result.low <= result.significance <= result.high
    for method, expected in PUBLISHED_COMBINED_MEDIAN_Z.items():
        combination = MultipleTestCombination(combine=method, columns=COMBINED_COLUMNS)
        combination.fit(lhco.null)
        result = median_significance(
            combination.null_combined_, combination.combined_statistic(lhco.signal)
        )
        assert round(result.significance, 2) == expected, method


def test_published_errors_are_beta_k_n_minus_k_plus_1_quantiles(lhco):
    # The published (power, err_low, err_up) take both ends from Beta(k, n - k + 1) at 0.16 and
    # 0.84: the lower end is Clopper-Pearson's at 68%, the upper one is narrower than it.
    published = lhco.powers["published_power_errlow_errup"][f"p-90_col{P90_COLUMN}_sigma4.6"]
    result = power_at_significance(lhco.null[:, P90_COLUMN], lhco.signal[:, P90_COLUMN], [2, 3])
    at_68 = clopper_pearson(result.n_passed, 2000, confidence=0.68)
    for i, (power, err_low, err_up) in enumerate(published):
        k = int(result.n_passed[i])
        assert round(power - at_68.low[i], 5) == err_low
        assert round(stats.beta.ppf(0.84, k, 2000 - k + 1) - power, 5) == err_up
        assert at_68.high[i] - power > err_up
