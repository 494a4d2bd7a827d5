"""HomogeneousAssociationTest: the [gs][gy][sy] log-linear test of data against simulation.

The background model throughout: a fixed random tanh network scores two features, x1 ~
N(0.35 y_std, 1) (it follows m_jj) and x2 ~ N(0, 1), so the score depends on m_jj in pure
background; data and simulation share that conditional law but have different m_jj spectra
(truncated exponentials in a 3.1-3.9 TeV window), hence also different score marginals.
"""

import math
import pickle

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone

from nhtad.datasets import SignalRegion
from nhtad.stats import MutualInformationIndependenceTest, TestResult, association
from nhtad.stats.association import HomogeneousAssociationTest, fit_no_three_way, g_squared

HAT = HomogeneousAssociationTest
LOW, HIGH = 3100.0, 3900.0

_net = np.random.default_rng(2024)
_W1 = _net.normal(size=(2, 16))
_B1 = 0.5 * _net.normal(size=16)
_W2 = _net.normal(size=16) / 4


def _score(x1, x2):
    return np.tanh(np.column_stack([x1, x2]) @ _W1 + _B1) @ _W2


def _background(rng, n, *, decay, slope=0.35):
    """Score and m_jj of n background events; `decay` sets the spectrum, `slope` the x1-m_jj link."""
    u = rng.random(n)
    y = LOW - decay * np.log1p(-u * (1.0 - np.exp(-(HIGH - LOW) / decay)))
    y_std = (y - 0.5 * (LOW + HIGH)) / ((HIGH - LOW) / math.sqrt(12.0))
    x1 = rng.normal(slope * y_std, 1.0)
    x2 = rng.normal(size=n)
    return _score(x1, x2), y


def _pair(seed, n_data, n_sim, *, sim_slope=0.35):
    rng = np.random.default_rng(seed)
    s, y = _background(rng, n_data, decay=300.0)
    s_sim, y_sim = _background(rng, n_sim, decay=600.0, slope=sim_slope)
    return s, y, s_sim, y_sim


def _fit(test, s, y, s_sim, y_sim):
    return test.fit(s, y, s_simulation=s_sim, y_simulation=y_sim)


@pytest.fixture(scope="module")
def null_pair():
    return _pair(11, 50_000, 50_000)


@pytest.fixture(scope="module")
def small_pair():
    return _pair(12, 4_000, 6_000)


# -- the fit ---------------------------------------------------------------------------------
def _design_2x3x4():
    # Reference-coded design of log mu_gij = lambda + a_gi + b_gj + c_ij.
    g, i, j = (a.ravel() for a in np.indices((2, 3, 4)))
    cols = [np.ones(24)]
    cols += [g == 1]
    cols += [i == k for k in (1, 2)] + [j == k for k in (1, 2, 3)]
    cols += [(g == 1) & (i == k) for k in (1, 2)]
    cols += [(g == 1) & (j == k) for k in (1, 2, 3)]
    cols += [(i == a) & (j == b) for a in (1, 2) for b in (1, 2, 3)]
    return np.column_stack(cols).astype(float)


def _poisson_glm_newton(counts):
    """Independent fit: Newton-Raphson on the Poisson log-likelihood of the log-linear design."""
    X, n = _design_2x3x4(), counts.ravel().astype(float)
    beta = np.linalg.lstsq(X, np.log(n + 0.5), rcond=None)[0]
    for _ in range(100):
        mu = np.exp(X @ beta)
        step = np.linalg.solve(X.T @ (mu[:, None] * X), X.T @ (n - mu))
        beta += step
        if np.abs(step).max() < 1e-13:
            break
    return np.exp(X @ beta).reshape(counts.shape)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ipf_fit_and_g2_match_an_independent_poisson_glm(seed):
    rng = np.random.default_rng(seed)
    base = rng.uniform(5, 60, size=(3, 4))
    counts = rng.poisson(np.stack([base, base * rng.uniform(0.3, 3.0, (3, 4))]))
    if seed == 2:
        counts[0, 1, 2] = 0  # an empty cell that does not put the fit on the boundary
    mu_glm = _poisson_glm_newton(counts)
    mu, n_iter, converged = fit_no_three_way(counts)
    assert converged and 0 < n_iter < 1000
    np.testing.assert_allclose(mu, mu_glm, rtol=1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        g2_glm = 2.0 * np.sum(np.where(counts > 0, counts * np.log(counts / mu_glm), 0.0))
    assert g_squared(counts, mu) == pytest.approx(g2_glm, rel=1e-6, abs=1e-9)
    # Birch: the fit reproduces the three two-way margins.
    for axis in range(3):
        np.testing.assert_allclose(mu.sum(axis=axis), counts.sum(axis=axis), rtol=1e-9)


def test_ipf_is_vectorised_over_a_batch_and_exact_for_tables_of_the_model():
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(2, 5, 1)), rng.normal(size=(2, 1, 6)), rng.normal(size=(1, 5, 6))
    model = 50.0 * np.exp(a + b + c)  # already of the [gs][gy][sy] form
    mu, _, converged = fit_no_three_way(model)
    assert converged
    np.testing.assert_allclose(mu, model, rtol=1e-7)
    assert g_squared(model, mu) == pytest.approx(0.0, abs=1e-8)
    tables = rng.poisson(model, size=(7, 2, 5, 6))
    batch, n_iter, conv = fit_no_three_way(tables)
    assert batch.shape == tables.shape and n_iter.shape == conv.shape == (7,)
    for k in range(7):
        np.testing.assert_allclose(batch[k], fit_no_three_way(tables[k])[0], rtol=1e-12)


def test_ipf_reports_non_convergence_and_empty_cells_count_zero():
    counts = np.array([[[10, 0, 4], [3, 7, 2]], [[4, 6, 5], [5, 9, 1]]])
    _, n_iter, converged = fit_no_three_way(counts, max_iter=1)
    assert not converged and n_iter == 1
    mu, _, _ = fit_no_three_way(counts)
    # 0 log 0 = 0: empty cells contribute only their fitted mean to the deviance form.
    direct = 2.0 * sum(n * math.log(n / m) for n, m in zip(counts.ravel(), mu.ravel()) if n > 0)
    assert np.isfinite(g_squared(counts, mu))
    assert g_squared(counts, mu) == pytest.approx(direct, rel=1e-8)


# -- calibration and power -----------------------------------------------------------------
def test_type1_same_association_different_spectra():
    # 300 null sets: same conditional law of the features given m_jj, different m_jj spectra
    # and sample sizes (so different s and y marginals, as the model allows).
    pvalues = []
    test = HAT(rel_uncertainty=0.04)
    for child in np.random.SeedSequence(7).spawn(300):
        pvalues.append(_fit(test, *_pair(child, 4_000, 6_000)).pvalue_)
    pvalues = np.asarray(pvalues)
    assert test.n_bins_ == (6, 6)
    ks = stats.kstest(pvalues, "uniform")
    assert ks.pvalue > 0.01, f"p-values not uniform: KS p = {ks.pvalue:.3g}"
    rate = np.mean(pvalues < 0.05)
    half = 3.0 * math.sqrt(0.05 * 0.95 / pvalues.size)
    assert abs(rate - 0.05) < half, f"rejection rate {rate:.3f} at alpha = 0.05"


def test_background_dependence_cancels_where_plain_independence_rejects(null_pair):
    s, y, s_sim, y_sim = null_pair
    # The score depends on m_jj in pure background: the plain independence test rejects ...
    assert MutualInformationIndependenceTest(rel_uncertainty=0.02).fit(s, y).significance_ > 5
    # ... while the association is the same in the simulation.
    test = _fit(HAT(rel_uncertainty=0.015), s, y, s_sim, y_sim)
    assert test.significance_ < 3
    assert test.n_bins_ == (11, 11) and test.dof_ == 100


def test_a_different_association_in_the_simulation_is_rejected(null_pair):
    s, y, _, _ = null_pair
    _, _, s_sim, y_sim = _pair(13, 50_000, 50_000, sim_slope=0.0)
    test = _fit(HAT(rel_uncertainty=0.015), s, y, s_sim, y_sim)
    assert test.significance_ > 5


def _with_signal(s, y, s_sim, n_signal, seed):
    rng = np.random.default_rng(seed)
    lo, hi = np.quantile(s_sim, [0.9, 0.999])
    return (
        np.concatenate([s, rng.uniform(lo, hi, n_signal)]),
        np.concatenate([y, rng.normal(3500.0, 40.0, n_signal)]),
    )


def test_resonant_signal_is_found_where_it_is(null_pair):
    s, y, s_sim, y_sim = null_pair
    s_sig, y_sig = _with_signal(s, y, s_sim, 1_000, seed=1)
    test = _fit(HAT(rel_uncertainty=0.015), s_sig, y_sig, s_sim, y_sim)
    assert math.isfinite(test.significance_) and test.significance_ > 8
    assert test.significance_ == pytest.approx(-stats.norm.ppf(test.pvalue_), rel=1e-6)
    # The largest data excess sits at high s, in the y bins of the resonance.
    i, j = np.unravel_index(np.argmax(test.pearson_residuals_), test.pearson_residuals_.shape)
    assert i >= test.n_bins_[0] - 3
    assert test.y_edges_[j] < 3560.0 and test.y_edges_[j + 1] > 3440.0


def test_extreme_signal_gives_a_finite_huge_z(null_pair):
    s, y, s_sim, y_sim = null_pair
    s_sig, y_sig = _with_signal(s, y, s_sim, 10_000, seed=2)
    test = _fit(HAT(rel_uncertainty=0.015), s_sig, y_sig, s_sim, y_sim)
    assert test.pvalue_ == 0.0  # underflows; log p and Z do not
    assert math.isfinite(test.log_pvalue_) and test.log_pvalue_ < -1000
    assert math.isfinite(test.significance_) and test.significance_ > 40
    # Z in log space agrees with the chi-square law where scipy is still exact.
    assert test.log_pvalue_ == pytest.approx(
        association.chi2_log_sf(test.statistic_, test.dof_), rel=1e-12
    )


def test_fitted_attributes_and_result(small_pair):
    s, y, s_sim, y_sim = small_pair
    test = _fit(HAT(rel_uncertainty=0.04), s, y, s_sim, y_sim)
    d_s, d_y = test.n_bins_
    assert test.contingency_.shape == test.expected_.shape == (2, d_s, d_y)
    assert test.pearson_residuals_.shape == (d_s, d_y)
    assert test.contingency_[0].sum() == test.n_events_ == s.size
    assert test.contingency_[1].sum() == s_sim.size
    assert test.dof_ == (d_s - 1) * (d_y - 1)
    assert test.s_edges_.size == d_s + 1 and test.y_edges_.size == d_y + 1
    assert test.statistic_ == pytest.approx(g_squared(test.contingency_, test.expected_))
    assert test.min_expected_ == pytest.approx(test.expected_.min())
    assert test.n_iter_ >= 1 and test.null_distribution_ is None
    # Marginal bins of the smaller (data) sample meet the 4% rule: >= 625 events.
    assert test.contingency_[0].sum(axis=1).min() > 0.8 * 625
    result = test.result_
    assert isinstance(result, TestResult) and result.method == "asymptotic"
    assert result.test == "HomogeneousAssociationTest"
    details = result.details
    assert details["G2"] == test.statistic_ and details["dof"] == test.dof_
    assert details["n_bins"] == (d_s, d_y) and details["null"] == "asymptotic"
    assert (details["n_data"], details["n_simulation"]) == (s.size, s_sim.size)
    np.testing.assert_array_equal(details["s_edges"], test.s_edges_)
    np.testing.assert_array_equal(details["y_edges"], test.y_edges_)
    assert test.pvalue_ == pytest.approx(stats.chi2.sf(test.statistic_, test.dof_), rel=1e-9)


def test_signal_region_boundaries_become_y_edges(null_pair):
    s, y, s_sim, y_sim = null_pair
    region = SignalRegion(3300.0, 3700.0, window=(LOW, HIGH))
    test = _fit(HAT(rel_uncertainty=0.02, y_bins=region), s, y, s_sim, y_sim)
    assert {3300.0, 3700.0} <= set(test.y_edges_.tolist())
    assert test.g2_bias_ <= association.MAX_G2_BIAS


# -- resampled nulls -------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["bootstrap", "permutation"])
def test_resampled_nulls_are_seeded_and_agree_with_chi2(method):
    # Identically distributed data and simulation, so that the permutation null holds too.
    rng = np.random.default_rng(21)
    s, y = _background(rng, 6_000, decay=400.0)
    s_sim, y_sim = _background(rng, 6_000, decay=400.0)
    kwargs = dict(rel_uncertainty=0.035, method=method, n_resamples=400, random_state=5)
    one = _fit(HAT(n_jobs=1, **kwargs), s, y, s_sim, y_sim)
    two = _fit(HAT(n_jobs=2, **kwargs), s, y, s_sim, y_sim)
    np.testing.assert_array_equal(one.null_distribution_, two.null_distribution_)
    assert one.pvalue_ == two.pvalue_ and one.result_.method == "resampled"
    null = one.null_distribution_
    assert null.shape == (400,) and np.isfinite(null).all()
    # The resampled null is the chi-square law of the asymptotic method.
    assert abs(null.mean() - one.dof_) < 4 * math.sqrt(2 * one.dof_ / null.size)
    assert stats.kstest(null, stats.chi2(one.dof_).cdf).pvalue > 1e-3
    asymptotic = _fit(HAT(rel_uncertainty=0.035), s, y, s_sim, y_sim)
    assert asymptotic.statistic_ == one.statistic_
    assert abs(one.pvalue_ - asymptotic.pvalue_) < 0.08
    other_seed = _fit(HAT(**{**kwargs, "random_state": 6}), s, y, s_sim, y_sim)
    assert not np.array_equal(other_seed.null_distribution_, null)


def test_bootstrap_runs_where_the_asymptotic_law_is_refused(small_pair):
    s, y, s_sim, y_sim = small_pair
    allowed = f"{association.MAX_G2_BIAS:g}"
    with pytest.raises(
        ValueError,
        match=rf"fitted expected counts are too small \(estimated small-count bias of G\^2 = [\d.]+ null standard deviations, allowed {allowed}; .*method='bootstrap'",
    ):
        _fit(HAT(rel_uncertainty=0.08), s, y, s_sim, y_sim)
    test = _fit(
        HAT(rel_uncertainty=0.08, method="bootstrap", n_resamples=200, random_state=0),
        s,
        y,
        s_sim,
        y_sim,
    )
    assert 0 < test.pvalue_ <= 1 and test.null_distribution_.size == 200


# -- sklearn conventions and bad input -------------------------------------------------------
def test_small_count_bias_criterion():
    # sum(1/mu) / (6 sqrt(2 dof)): 2 x 3 x 3 cells of 5 give 18 / 5 / (6 * sqrt(8)).
    mu = np.full((2, 3, 3), 5.0)
    assert association.g_squared_bias(mu, 4) == pytest.approx(18 / 5 / (6 * math.sqrt(8)))
    mu[1, 2, 0] = 0.0
    assert association.g_squared_bias(mu, 4) == math.inf


def test_tables_at_the_refusal_threshold_are_still_calibrated():
    # Null tables scaled so that the criterion sits exactly at MAX_G2_BIAS: the chi-square law
    # must still hold there (raising the threshold much would fail this test).
    d, ratio = 16, 4
    u = np.linspace(-1.0, 1.0, d)
    shape = np.stack([np.ones((d, d)), np.exp(0.4 * u)[:, None] * np.exp(-0.8 * u)[None, :]])
    shape /= shape.sum(axis=(1, 2), keepdims=True)
    dof = (d - 1) ** 2
    n_data = d * d * association.g_squared_bias(shape * [[[d * d]], [[ratio * d * d]]], dof)
    n_data = round(n_data / association.MAX_G2_BIAS)
    totals = np.array([n_data, ratio * n_data])
    rng = np.random.default_rng(17)
    toys = rng.multinomial(totals, shape.reshape(2, -1), size=(3000, 2)).reshape(-1, 2, d, d)
    expected, _, converged = fit_no_three_way(toys)
    assert converged.all()
    biases = [association.g_squared_bias(mu, dof) for mu in expected[:50]]
    assert np.median(biases) == pytest.approx(association.MAX_G2_BIAS, rel=0.1)
    pvalues = stats.chi2.sf(g_squared(toys, expected), dof)
    for alpha in (0.05, 0.01):
        rate = np.mean(pvalues < alpha)
        assert abs(rate - alpha) < 3.3 * math.sqrt(alpha * (1 - alpha) / pvalues.size), (
            alpha,
            rate,
        )


def test_a_sample_that_misses_a_score_bin_is_refused_by_name(small_pair):
    s, y, s_sim, y_sim = small_pair
    # Data far beyond every simulated score: the top pooled bins hold no simulation.
    s = np.concatenate([s, np.full(2_000, s_sim.max() + 1.0) + np.arange(2_000) * 1e-3])
    y = np.concatenate([y, np.linspace(LOW, HIGH - 1, 2_000)])
    with pytest.raises(
        ValueError, match=r"the simulation sample has no events in s bin \d+ .*common range"
    ):
        _fit(HAT(rel_uncertainty=0.04), s, y, s_sim, y_sim)


def test_sklearn_conventions(small_pair):
    s, y, s_sim, y_sim = small_pair
    test = HAT(rel_uncertainty=0.04, method="bootstrap", n_resamples=50, random_state=3)
    params = test.get_params()
    assert params["rel_uncertainty"] == 0.04 and params["n_resamples"] == 50
    assert HAT().set_params(**params).get_params() == params
    cloned = clone(test)
    assert cloned is not test and cloned.get_params() == params
    z = test.score(s, y, s_simulation=s_sim, y_simulation=y_sim)
    assert not hasattr(test, "result_"), "score must not fit self"
    assert test.fit(s, y, s_simulation=s_sim, y_simulation=y_sim) is test
    assert z == pytest.approx(test.significance_)
    restored = pickle.loads(pickle.dumps(test))
    assert restored.result_.statistic == test.statistic_


def test_bad_input_is_refused_with_what_to_do(small_pair):
    s, y, s_sim, y_sim = small_pair
    test = HAT(rel_uncertainty=0.04)
    with pytest.raises(ValueError, match=r"pass fit\(s, y, s_simulation=\.\.\., y_simulation"):
        test.fit(s, y)
    with pytest.raises(ValueError, match=r"len\(s_simulation\)=6000 and len\(y_simulation\)=5999"):
        _fit(test, s, y, s_sim, y_sim[:-1])
    with pytest.raises(ValueError, match=r"len\(s\)=4000 and len\(y\)=3999"):
        _fit(test, s, y[:-1], s_sim, y_sim)
    bad = s_sim.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match=r"s_simulation contains 1 NaN .*first at indices \[5\]"):
        _fit(test, s, y, bad, y_sim)
    with pytest.raises(ValueError, match="method must be one of"):
        _fit(HAT(method="simulation"), s, y, s_sim, y_sim)
    with pytest.raises(ValueError, match="rel_uncertainty must be a number in the open interval"):
        _fit(HAT(rel_uncertainty=1.5), s, y, s_sim, y_sim)
    with pytest.raises(ValueError, match=r"the data sample has 4000 events but needs at least"):
        _fit(HAT(rel_uncertainty=0.01), s, y, s_sim, y_sim)
    region = SignalRegion(3300.0, 3700.0, window=(3150.0, HIGH))
    with pytest.raises(ValueError, match=r"y_simulation values lie outside the window.*in_window"):
        _fit(HAT(rel_uncertainty=0.05, y_bins=region), s[y >= 3150], y[y >= 3150], s_sim, y_sim)


def test_non_convergence_is_a_clear_error(small_pair, monkeypatch):
    monkeypatch.setattr(association, "_IPF_MAX_ITER", 1)
    with pytest.raises(RuntimeError, match=r"did not converge in 1 cycles.*fewer, fuller bins"):
        _fit(HAT(rel_uncertainty=0.04), *small_pair)
