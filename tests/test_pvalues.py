import math

import numpy as np
import pytest
from scipy import special, stats

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
