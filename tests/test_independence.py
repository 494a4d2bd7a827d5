"""Distance correlation, Hoeffding's D and their shared machinery."""

import math

import numpy as np
import pytest

from nhtad.stats import DistanceCorrelationTest, HoeffdingDTest
from nhtad.stats._pair_sums import dominance_sums, random_ranks
from nhtad.stats.blum_kiefer_rosenblatt import (
    _ASYMPTOTIC_FROM,
    BKR_MEAN,
    BKR_VARIANCE,
    _log_sf_asymptotic,
    bkr_log_sf,
)
from nhtad.stats.distance_correlation import distance_covariance_u
from nhtad.stats.hoeffding import hoeffding_d


def _brute_dcov_u(x, y):
    n = x.size

    def u_centre(a):
        rows = a.sum(axis=1)
        out = a - rows[:, None] / (n - 2) - rows[None, :] / (n - 2) + a.sum() / ((n - 1) * (n - 2))
        np.fill_diagonal(out, 0.0)
        return out

    a = u_centre(np.abs(x[:, None] - x[None, :]))
    b = u_centre(np.abs(y[:, None] - y[None, :]))
    return float((a * b).sum() / (n * (n - 3)))


def _brute_hoeffding(x, y):
    n = x.size
    r = np.argsort(np.argsort(x)) + 1.0
    s = np.argsort(np.argsort(y)) + 1.0
    q = 1.0 + np.array([np.sum((x < x[i]) & (y < y[i])) for i in range(n)])
    d1 = np.sum((q - 1) * (q - 2))
    d2 = np.sum((r - 1) * (r - 2) * (s - 1) * (s - 2))
    d3 = np.sum((r - 2) * (s - 2) * (q - 1))
    return (
        30
        * ((n - 2) * (n - 3) * d1 + d2 - 2 * (n - 2) * d3)
        / (n * (n - 1) * (n - 2) * (n - 3) * (n - 4))
    )


@pytest.mark.parametrize("n", [1, 2, 5, 33, 500])
def test_dominance_sums_match_brute_force(n):
    rng = np.random.default_rng(n)
    rank = rng.integers(0, max(n // 3, 1), n)  # with ties
    w = rng.normal(size=(n, 3))
    expected = np.array([[w[:i][rank[:i] < rank[i], c].sum() for c in range(3)] for i in range(n)])
    np.testing.assert_allclose(dominance_sums(rank, w), expected.reshape(n, 3), atol=1e-12)


def test_random_ranks_break_ties_reproducibly():
    x = np.array([1.0, 0.0, 1.0, 1.0, 2.0])
    a = random_ranks(x, np.random.default_rng(0))
    b = random_ranks(x, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert sorted(a.tolist()) == [0, 1, 2, 3, 4]
    assert a[1] == 0 and a[4] == 4 and set(a[[0, 2, 3]]) == {1, 2, 3}


@pytest.mark.parametrize("n, ties", [(5, False), (40, False), (800, False), (800, True)])
def test_fast_distance_covariance_matches_the_pairwise_matrix(n, ties):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = x**2 + rng.normal(size=n)
    if ties:
        x, y = np.round(x, 1), np.round(y, 0)
    assert distance_covariance_u(x, y) == pytest.approx(_brute_dcov_u(x, y), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("n", [5, 60, 700])
def test_fast_hoeffding_matches_the_textbook_formula(n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = x + rng.normal(size=n)
    assert hoeffding_d(x, y) == pytest.approx(_brute_hoeffding(x, y), rel=1e-10)


def test_bkr_law_matches_monte_carlo():
    rng = np.random.default_rng(0)
    j = np.arange(1, 61)
    w = (1.0 / np.outer(j, j) ** 2 / math.pi**4).ravel()
    w = np.sort(w)[::-1][:400]
    draws = np.zeros(200_000)
    for start in range(0, w.size, 100):
        draws += rng.standard_normal((draws.size, 100)) ** 2 @ w[start : start + 100]
    draws += BKR_MEAN - w.sum()  # the neglected terms by their mean
    assert draws.mean() == pytest.approx(BKR_MEAN, rel=0.01)
    assert draws.var() == pytest.approx(BKR_VARIANCE, rel=0.03)
    for b in (0.012, 0.02, 0.03, 0.05, 0.08):
        p_mc = np.mean(draws >= b)
        se = math.sqrt(p_mc * (1 - p_mc) / draws.size)
        assert math.exp(bkr_log_sf(b)) == pytest.approx(p_mc, abs=5 * se)


def test_bkr_tail_expansion_joins_the_inversion():
    below = bkr_log_sf(np.nextafter(_ASYMPTOTIC_FROM, 0))
    assert below == pytest.approx(_log_sf_asymptotic(_ASYMPTOTIC_FROM), abs=1e-3)
    values = [bkr_log_sf(b) for b in (0.05, 0.1, 0.15, 0.19, 0.2, 0.3, 1.0, 10.0, 1e4)]
    assert all(np.isfinite(values)) and all(b < a for a, b in zip(values, values[1:]))
    assert bkr_log_sf(0.0) == 0.0 and bkr_log_sf(-1.0) == 0.0
    assert bkr_log_sf(1e-4) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("Test", [DistanceCorrelationTest, HoeffdingDTest])
def test_detects_dependence_and_z_is_finite_far_in_the_tail(Test):
    rng = np.random.default_rng(3)
    n = 250_000
    y = rng.uniform(3100, 3900, n)
    noise = rng.normal(size=n)
    zs = []
    for strength in (0.02, 0.5, 2.0):
        test = Test(random_state=0).fit(strength * (y - 3500) / 230 + noise, y)
        assert np.isfinite(test.significance_)
        zs.append(test.significance_)
    assert zs[0] > 3 and zs[1] > 38 and zs[2] > zs[1]


@pytest.mark.parametrize("Test", [DistanceCorrelationTest, HoeffdingDTest])
def test_rank_tests_are_invariant_under_monotone_maps(Test):
    rng = np.random.default_rng(4)
    s, y = rng.random(3000), rng.random(3000)
    y = y + 0.2 * s
    a = Test(random_state=1).fit(s, y)
    b = Test(random_state=1).fit(np.exp(5 * s), y**3)
    assert a.statistic_ == pytest.approx(b.statistic_, rel=1e-12)


@pytest.mark.parametrize("Test", [DistanceCorrelationTest, HoeffdingDTest])
def test_permutation_null_reproducible_for_any_n_jobs(Test):
    rng = np.random.default_rng(5)
    s, y = rng.random(400), rng.random(400)
    runs = [
        Test(method="permutation", n_resamples=40, n_jobs=k, random_state=3).fit(s, y)
        for k in (1, 2)
    ]
    np.testing.assert_array_equal(runs[0].null_distribution_, runs[1].null_distribution_)
    assert runs[0].result_.method == "resampled"
    assert runs[0].pvalue_ == pytest.approx(
        (1 + np.sum(runs[0].null_distribution_ >= runs[0].statistic_ - 1e-15)) / 41
    )


def test_raw_distance_correlation_needs_permutations():
    rng = np.random.default_rng(6)
    s, y = rng.random(200), rng.random(200)
    with pytest.raises(ValueError, match="use rank=True .* or method='permutation'"):
        DistanceCorrelationTest(rank=False).fit(s, y)
    test = DistanceCorrelationTest(
        rank=False, method="permutation", n_resamples=30, random_state=0
    ).fit(s, y)
    assert test.statistic_ == pytest.approx(
        distance_covariance_u(s, y)
        / math.sqrt(distance_covariance_u(s, s) * distance_covariance_u(y, y)),
        rel=1e-9,
    )


@pytest.mark.parametrize("Test", [DistanceCorrelationTest, HoeffdingDTest])
def test_tied_scores_keep_the_asymptotic_null(Test):
    # A point mass in s: ties broken at random keep p-values valid.
    rng = np.random.default_rng(7)
    s = np.where(rng.random(5000) < 0.7, 0.5, rng.random(5000))
    test = Test(random_state=0).fit(s, rng.random(5000))
    assert 0.0 < test.pvalue_ <= 1.0


@pytest.mark.parametrize("Test", [DistanceCorrelationTest, HoeffdingDTest])
def test_bad_input_is_refused(Test):
    rng = np.random.default_rng(8)
    s, y = rng.random(100), rng.random(100)
    with pytest.raises(ValueError, match="NaN"):
        Test().fit(np.where(np.arange(100) == 3, np.nan, s), y)
    with pytest.raises(ValueError, match="len"):
        Test().fit(s, y[:-1])
    with pytest.raises(ValueError, match="1-D"):
        Test().fit(np.column_stack([s, s]), y)
    with pytest.raises(ValueError, match="s is constant"):
        Test().fit(np.ones(100), y)
    with pytest.raises(ValueError, match="at least 5 events"):
        Test().fit(s[:4], y[:4])
    with pytest.raises(ValueError, match="method must be one of"):
        Test(method="bootstrap").fit(s, y)
    with pytest.raises(ValueError, match="n_resamples"):
        Test(method="permutation", n_resamples=0).fit(s, y)
