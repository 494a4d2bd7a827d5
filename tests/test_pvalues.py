import math

import numpy as np
import pytest
from scipy import special, stats

from nhtad.stats import ToyFloorWarning
from nhtad.stats.pvalues import (
    _log_q_continued_fraction,
    chi2_log_sf,
    empirical_log_pvalue,
    empirical_pvalue,
    log_gamma_sf,
    log_pvalue_to_significance,
    pvalue_to_significance,
    significance_to_log_pvalue,
)


@pytest.mark.parametrize(
    "a, x",
    [(0.5, 0.1), (1.0, 3.0), (5.0, 30.0), (100.0, 130.0), (276.0, 700.0), (3000.0, 3500.0)],
)
def test_log_gamma_sf_matches_scipy_where_scipy_is_finite(a, x):
    assert log_gamma_sf(a, x) == pytest.approx(math.log(special.gammaincc(a, x)), rel=1e-12)


@pytest.mark.parametrize("a, x", [(3.0, 40.0), (50.0, 200.0), (264.5, 1200.0), (1.0, 600.0)])
def test_continued_fraction_agrees_with_gammaincc_in_the_overlap(a, x):
    assert _log_q_continued_fraction(a, x) == pytest.approx(
        math.log(special.gammaincc(a, x)), rel=1e-12
    )


def test_log_gamma_sf_is_finite_where_scipy_underflows():
    a, x = 264.5, 5000.0
    assert special.gammaincc(a, x) == 0.0
    assert stats.gamma(a).logsf(x) == -np.inf  # the reference's trap
    value = log_gamma_sf(a, x)
    assert np.isfinite(value)
    # Leading behaviour of the tail: log Q ~ -x + (a - 1) log x - lgamma(a).
    assert value == pytest.approx(-x + (a - 1) * math.log(x) - special.gammaln(a), rel=1e-3)


def test_chi2_log_sf_is_monotone_and_finite_far_in_the_tail():
    stat = np.geomspace(1.0, 1e7, 300)
    values = chi2_log_sf(stat, 529)
    assert np.isfinite(values).all()
    assert (np.diff(values) <= 0).all()
    assert (np.diff(values[stat > 529]) < 0).all()
    assert chi2_log_sf(0.0, 3) == 0.0


def test_significance_round_trip_and_monotone_beyond_z_100():
    z = np.linspace(-5.0, 150.0, 2000)
    log_p = significance_to_log_pvalue(z)
    back = log_pvalue_to_significance(log_p)
    np.testing.assert_allclose(back, z, rtol=1e-10, atol=1e-10)
    assert (np.diff(back) > 0).all()
    assert log_pvalue_to_significance(significance_to_log_pvalue(100.0)) == pytest.approx(100.0)


def test_significance_matches_norm_isf_in_the_bulk():
    p = np.array([0.9, 0.5, 0.1, 1e-3, 1e-10, 1e-300])
    np.testing.assert_allclose(pvalue_to_significance(p), stats.norm.isf(p), rtol=1e-10, atol=1e-12)
    assert pvalue_to_significance(0.0) == np.inf


@pytest.mark.parametrize("bad", [0.1, np.nan])
def test_log_pvalue_to_significance_rejects_invalid(bad):
    with pytest.raises(ValueError, match="log p-values"):
        log_pvalue_to_significance(bad)


def test_pvalue_to_significance_rejects_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pvalue_to_significance(1.5)


def test_empirical_pvalue_counts_observed_as_a_draw():
    null = np.array([1.0, 2.0, 3.0, 4.0])
    assert empirical_pvalue(null, 2.5) == pytest.approx(3 / 5)
    with pytest.warns(ToyFloorWarning, match="beyond all n = 4 null draws"):
        assert empirical_pvalue(null, 10.0) == pytest.approx(1 / 5)
    assert empirical_pvalue(null, 0.0) == pytest.approx(1.0)
    # A null value equal to the observed one up to round-off counts as at least as extreme.
    assert empirical_pvalue(null, 4.0 + 1e-15) == pytest.approx(2 / 5)
    assert empirical_log_pvalue(null, 2.5) == pytest.approx(math.log(3 / 5))


def test_empirical_pvalue_rejects_bad_null():
    with pytest.raises(ValueError, match="non-empty"):
        empirical_pvalue([], 1.0)
    with pytest.raises(ValueError, match="NaN"):
        empirical_pvalue([1.0, np.nan], 1.0)


def test_empirical_pvalue_of_many_values_is_the_scalar_one_bit_for_bit():
    rng = np.random.default_rng(5)
    null = rng.integers(0, 8, size=300).astype(float)
    observed = np.r_[rng.integers(-1, 10, size=40).astype(float), 4.0 * (1 + 1e-13), np.inf]
    for function in (empirical_pvalue, empirical_log_pvalue):
        values = function(null, observed)
        assert values.shape == observed.shape
        assert values.tolist() == [function(null, t, warn_floor=False) for t in observed]
        grid = function(null, observed.reshape(2, -1))
        np.testing.assert_array_equal(grid, values.reshape(2, -1))


def test_empirical_pvalue_per_column_and_leave_one_out_against_brute_force():
    rng = np.random.default_rng(6)
    null = rng.integers(0, 5, size=(50, 3)).astype(float)
    rows = rng.integers(-1, 7, size=(9, 3)).astype(float)
    expected = [[(1 + np.sum(null[:, j] >= rows[i, j])) / 51 for j in range(3)] for i in range(9)]
    np.testing.assert_array_equal(empirical_pvalue(null, rows), expected)
    np.testing.assert_array_equal(empirical_pvalue(null, rows[2]), expected[2])
    # observed=None: each null value against the 49 others, (1 + #{others >= t}) / 50.
    loo = [
        [(1 + np.sum(np.delete(null[:, j], i) >= null[i, j])) / 50 for j in range(3)]
        for i in range(50)
    ]
    np.testing.assert_array_equal(empirical_pvalue(null), loo)
    np.testing.assert_allclose(empirical_log_pvalue(null), np.log(loo), rtol=1e-13)


def test_randomized_ties_rank_the_observed_value_among_the_tied_null_values():
    null = np.array([0.0, 0.0, 0.0, 1.0, 2.0, 2.0 * (1 + 1e-14)])
    u = 1.0 - np.random.default_rng(np.random.SeedSequence(3)).uniform(size=2)
    p = empirical_pvalue(null, [0.0, 2.0], ties="randomized", random_state=3)
    # t = 0: 3 above, 3 tied; t = 2: none above, 2 tied (the second up to round-off).
    np.testing.assert_allclose(p, [(3 + u[0] * 4) / 7, (0 + u[1] * 3) / 7], rtol=1e-15)
    log_p = empirical_log_pvalue(null, [0.0, 2.0], ties="randomized", random_state=3)
    np.testing.assert_allclose(log_p, np.log(p), rtol=1e-13)
    # Without ties only the observed value's own draw is randomised: p in (3/7, 4/7].
    assert 3 / 7 < empirical_pvalue(null, 0.5, ties="randomized", random_state=0) <= 4 / 7
    # A looser tolerance makes near values ties.
    assert empirical_pvalue(null, 0.99, rtol=0.02) == empirical_pvalue(null, 1.0)


def test_empirical_pvalue_rejects_bad_arguments():
    with pytest.raises(ValueError, match="ties must be"):
        empirical_pvalue([1.0, 2.0], 1.0, ties="mid")
    with pytest.raises(ValueError, match="statistic"):
        empirical_pvalue(np.ones((5, 2)), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="leave one out"):
        empirical_pvalue([1.0])
    with pytest.raises(ValueError, match="NaN"):
        empirical_pvalue([1.0, 2.0], [1.0, np.nan])
