"""SmoothTrendIndependenceTest: the fit against an independent one, Type-I error on scores that
depend on m_jj, power and tails for a resonance, the degree rule, and bad input."""

import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.base import clone

from nhtad.datasets import SignalRegion
from nhtad.stats import SmoothTrendIndependenceTest
from nhtad.stats.smooth_trend import fit_trend_model, trend_design

REGION = SignalRegion()
# A fixed random smooth function of two features: the kind of score a network is.
_NET = np.random.default_rng(123)
W1, B1, W2 = _NET.normal(size=(2, 16)), _NET.normal(size=16), _NET.normal(size=16)


def score(x):
    return np.tanh(x @ W1 + B1) @ W2


def falling_mjj(rng, n, slope=1 / 300):
    # Exponentially falling m_jj inside the 3.1-3.9 TeV window.
    u = rng.random(n)
    return 3100.0 - np.log1p(-u * (1 - np.exp(-800.0 * slope))) / slope


def background(rng, n, correlation=0.35, curvature=0.0, slope=1 / 300):
    """Scores that are a fixed function of features whose mean moves with m_jj."""
    y = falling_mjj(rng, n, slope)
    t = (y - 3500.0) / 400.0
    x = np.column_stack(
        [rng.normal(size=n) + correlation * t + curvature * t**2, rng.normal(size=n)]
    )
    return score(x), y


def resonance(rng, n, s_value=3.0):
    y = rng.normal(3500.0, 80.0, n)
    y = y[REGION.in_window(y)]
    return rng.normal(s_value, 0.3, y.size), y


# -- the fit ---------------------------------------------------------------------------------
def _poisson_glm_g2(table, design):
    """The Poisson log-linear model with explicit column effects, fitted by scipy."""
    d_s, d_y = table.shape
    n_terms = design.shape[1]

    def unpack(p):
        b = p[:d_y]
        theta = np.vstack([np.zeros(n_terms), p[d_y:].reshape(d_s - 1, n_terms)])
        return b[None, :] + theta @ design.T

    def deviance(p):
        log_mu = unpack(p)
        mu = np.exp(log_mu)
        grad_cells = mu - table
        grad_b = grad_cells.sum(axis=0)
        grad_theta = (grad_cells @ design)[1:].ravel()
        return (mu - table * log_mu).sum(), np.concatenate([grad_b, grad_theta])

    start = np.concatenate([np.log(table.sum(axis=0) / d_s), np.zeros((d_s - 1) * n_terms)])
    res = optimize.minimize(deviance, start, jac=True, method="BFGS", options={"gtol": 1e-10})
    mu = np.exp(unpack(res.x))
    g2 = 2 * np.where(table > 0, table * np.log(table / mu), 0).sum() - 2 * (table - mu).sum()
    return g2, mu


@pytest.mark.parametrize("degree, with_region", [(0, False), (1, False), (2, True)])
def test_fit_agrees_with_an_independent_poisson_fit(degree, with_region):
    rng = np.random.default_rng(degree)
    u = np.linspace(-1, 1, 7)
    sr = np.abs(u) < 0.4 if with_region else None
    truth = np.exp(rng.normal(0, 0.3, size=(5, 7))) * 40
    table = rng.poisson(truth)
    design = trend_design(u, degree, sr)
    fit = fit_trend_model(table, design)
    g2, mu = _poisson_glm_g2(table, design)
    assert fit.g2 == pytest.approx(g2, rel=1e-6, abs=1e-6)
    np.testing.assert_allclose(fit.expected, mu, rtol=1e-5)
    # The column totals are reproduced exactly (the free m_jj spectrum).
    np.testing.assert_allclose(fit.expected.sum(axis=0), table.sum(axis=0), rtol=1e-12)


def test_degree_zero_is_the_independence_g_test():
    rng = np.random.default_rng(1)
    table = rng.poisson(30, size=(6, 8))
    fit = fit_trend_model(table, trend_design(np.linspace(-1, 1, 8), 0))
    g2, _, dof, _ = stats.chi2_contingency(table, lambda_="log-likelihood", correction=False)
    assert fit.g2 == pytest.approx(g2, rel=1e-9)
    assert dof == 5 * 7


def test_rank_deficient_design_and_empty_bins_are_refused():
    table = np.full((3, 3), 10)
    with pytest.raises(ValueError, match="cannot determine"):
        fit_trend_model(table, trend_design(np.array([-1.0, 0.0, 1.0]), 3))
    table[1] = 0
    with pytest.raises(ValueError, match="empty score bins"):
        fit_trend_model(table, trend_design(np.array([-1.0, 0.0, 1.0]), 1))


# -- Type-I error -----------------------------------------------------------------------------
def _type_one(pvalues):
    pvalues = np.asarray(pvalues)
    n = pvalues.size
    rate = np.mean(pvalues < 0.05)
    band = 3 * np.sqrt(0.05 * 0.95 / n)
    return rate, band, stats.kstest(pvalues, "uniform").pvalue


@pytest.mark.parametrize(
    "params, correlation, curvature",
    [
        ({"alternative": "any", "degree": 1}, 0.35, 0.0),
        ({"alternative": "signal_region", "degree": 2}, 1.0, 0.0),
        ({"alternative": "signal_region", "degree": 2}, 0.35, 0.5),
    ],
    ids=["any-linear", "sr-strong", "sr-curved"],
)
def test_type_one_error_on_scores_that_depend_on_mjj(params, correlation, curvature):
    pvalues = []
    for seed in range(300):
        s, y = background(np.random.default_rng(seed), 20_000, correlation, curvature)
        test = SmoothTrendIndependenceTest(rel_uncertainty=0.04, y_bins=REGION, **params)
        pvalues.append(test.fit(s, y).pvalue_)
    rate, band, ks = _type_one(pvalues)
    assert abs(rate - 0.05) < band, rate
    assert ks > 0.01, ks


@pytest.mark.filterwarnings("ignore:no trend degree:UserWarning")
def test_type_one_error_with_the_data_driven_degree():
    pvalues, degrees = [], []
    for seed in range(300):
        rng = np.random.default_rng(1000 + seed)
        s, y = background(rng, 20_000, 0.35, 0.5)
        s_sim, y_sim = background(rng, 20_000, 0.35, 0.5, slope=1 / 250)
        test = SmoothTrendIndependenceTest(
            rel_uncertainty=0.04, y_bins=REGION, alternative="signal_region"
        ).fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
        pvalues.append(test.pvalue_)
        degrees.append(test.degree_)
    rate, band, ks = _type_one(pvalues)
    assert abs(rate - 0.05) < band, rate
    assert ks > 0.01, ks
    # The curvature is visible: the rule moves past the linear trend in most sets.
    assert np.mean(np.asarray(degrees) >= 2) > 0.5


def test_plain_independence_fails_where_the_trend_model_holds():
    # The reason for the test: a fixed score of m_jj-dependent features is not independent of
    # m_jj, and with 100k events the plain chi^2 test (degree 0) rejects it outright.
    s, y = background(np.random.default_rng(5), 100_000, 0.35)
    plain = SmoothTrendIndependenceTest(rel_uncertainty=0.02, y_bins=REGION, degree=0).fit(s, y)
    trend = SmoothTrendIndependenceTest(rel_uncertainty=0.02, y_bins=REGION, degree=1).fit(s, y)
    assert plain.significance_ > 5
    assert trend.significance_ < 3


# -- power and tails ----------------------------------------------------------------------------
@pytest.mark.parametrize("alternative", ["any", "signal_region"])
def test_a_resonance_is_found_with_a_finite_large_z(alternative):
    rng = np.random.default_rng(7)
    s, y = background(rng, 100_000, 0.35)
    s_sig, y_sig = resonance(rng, 3_000)
    test = SmoothTrendIndependenceTest(
        rel_uncertainty=0.02, y_bins=REGION, degree=1, alternative=alternative
    ).fit(np.r_[s, s_sig], np.r_[y, y_sig])
    assert np.isfinite(test.significance_) and test.significance_ > 8
    if alternative == "signal_region":
        # The excess sits where the signal's scores are: an SR term far above its error there.
        pulls = test.signal_region_coefficients_[1:] / test.signal_region_errors_[1:]
        bin_of_signal = np.searchsorted(test.s_edges_, 3.0) - 1
        assert pulls.argmax() + 1 == bin_of_signal and pulls.max() > 5


def test_extreme_significance_is_a_number():
    rng = np.random.default_rng(8)
    s, y = background(rng, 200_000, 0.35)
    s_sig, y_sig = resonance(rng, 20_000)
    test = SmoothTrendIndependenceTest(
        rel_uncertainty=0.02, y_bins=REGION, degree=1, alternative="signal_region"
    ).fit(np.r_[s, s_sig], np.r_[y, y_sig])
    assert test.pvalue_ == 0.0  # underflows ...
    assert np.isfinite(test.log_pvalue_) and np.isfinite(test.significance_)  # ... these do not
    assert test.significance_ > 40


def test_signal_region_alternative_beats_the_global_fit_for_a_resonance():
    rng = np.random.default_rng(9)
    s, y = background(rng, 100_000, 0.35)
    s_sig, y_sig = resonance(rng, 400)
    s, y = np.r_[s, s_sig], np.r_[y, y_sig]
    common = {"rel_uncertainty": 0.02, "y_bins": REGION, "degree": 1}
    sr = SmoothTrendIndependenceTest(alternative="signal_region", **common).fit(s, y)
    gof = SmoothTrendIndependenceTest(alternative="any", **common).fit(s, y)
    assert sr.dof_ < gof.dof_
    assert sr.significance_ > gof.significance_ + 1


# -- the degree rule ----------------------------------------------------------------------------
def test_degree_rule_follows_the_curvature_and_reports_its_checks():
    rng = np.random.default_rng(11)
    flat = SmoothTrendIndependenceTest(rel_uncertainty=0.02, y_bins=REGION)
    s, y = background(rng, 100_000, 0.0)
    assert flat.fit(s, y).degree_ <= 1
    s, y = background(rng, 100_000, 0.35, 0.8)
    curved = clone(flat).fit(s, y)
    assert curved.degree_ >= 2
    rows = curved.degree_selection_
    assert [r["degree"] for r in rows] == list(range(curved.degree_ + 1))
    assert not any(r["accepted"] for r in rows[:-1]) and rows[-1]["accepted"]
    # Every rejected degree was rejected because one more degree fitted the sidebands better.
    assert all(r["sideband_higher_degree_pvalue"] < 0.05 for r in rows[:-1])
    assert rows[-1].get("sideband_higher_degree_pvalue", 1.0) >= 0.05
    assert curved.result_.details["degree"] == curved.degree_


def test_simulation_enters_the_degree_rule_and_reports_the_spurious_signal():
    rng = np.random.default_rng(12)
    s, y = background(rng, 60_000, 0.35)
    s_sim, y_sim = background(rng, 60_000, 0.35)
    # Simulated scores beyond the data's range fall in the end bins.
    s_sim[:3] = [s.min() - 10, s.max() + 10, s.max() + 20]
    test = SmoothTrendIndependenceTest(
        rel_uncertainty=0.02, y_bins=REGION, alternative="signal_region", min_degree=1
    ).fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
    # With a simulation, "auto" asks the simulation only: the sidebands may hold signal.
    row = test.degree_selection_[0]
    assert set(row) == {
        "degree",
        "simulation_gof_pvalue",
        "simulation_higher_degree_pvalue",
        "simulation_signal_region_pvalue",
        "accepted",
    }
    both = (
        clone(test).set_params(degree_from="both").fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
    )
    assert "sideband_higher_degree_pvalue" in both.degree_selection_[0]
    assert test.simulation_contingency_.sum() == s_sim.size
    spurious = test.spurious_signal_
    assert spurious["coefficients"].shape == (test.n_bins_[0],)
    assert abs(spurious["significance"]) < 4


def test_halving_score_bins_resolve_a_signal_in_the_score_tail():
    rng = np.random.default_rng(19)
    s, y = background(rng, 100_000, 0.35)
    s_sig, y_sig = resonance(rng, 300, s_value=s.max())
    s, y = np.r_[s, s_sig], np.r_[y, y_sig]
    common = {
        "rel_uncertainty": 0.02,
        "y_bins": REGION,
        "degree": 1,
        "alternative": "signal_region",
    }
    equal = SmoothTrendIndependenceTest(**common).fit(s, y)
    halving = SmoothTrendIndependenceTest(s_quantiles="halving", **common).fit(s, y)
    # Bins of 1/2, 1/4, ..., the top one holding 100-200 events.
    counts = halving.contingency_.sum(axis=1)
    assert 100 <= counts[-1] < 200 + s_sig.size
    np.testing.assert_allclose(counts[:3] / s.size, [0.5, 0.25, 0.125], atol=2e-3)
    assert halving.dof_ < equal.dof_
    assert halving.significance_ > equal.significance_ + 2
    explicit = SmoothTrendIndependenceTest(s_quantiles=[0.5, 0.9, 0.99], **common).fit(s, y)
    assert explicit.n_bins_[0] == 4


def test_no_acceptable_degree_warns_and_uses_the_largest():
    rng = np.random.default_rng(13)
    y = falling_mjj(rng, 100_000)
    # A step in the score distribution at 3.45 TeV inside the signal region of the sidebands'
    # view: no polynomial follows it, and the simulation shows the same step.
    s = rng.normal(size=y.size) + 0.5 * (y > 3200)
    y_sim = falling_mjj(rng, 100_000)
    s_sim = rng.normal(size=y.size) + 0.5 * (y_sim > 3200)
    test = SmoothTrendIndependenceTest(
        rel_uncertainty=0.02, y_bins=REGION, alternative="signal_region", max_degree=2
    )
    with pytest.warns(UserWarning, match="no trend degree"):
        test.fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
    assert test.degree_ == 2


# -- the fitted trend and the bootstrap ------------------------------------------------------------
def test_fitted_trend_is_a_distribution_per_mass_bin():
    s, y = background(np.random.default_rng(14), 50_000, 0.35)
    test = SmoothTrendIndependenceTest(rel_uncertainty=0.03, y_bins=REGION, degree=1).fit(s, y)
    np.testing.assert_allclose(test.trend_.sum(axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(test.expected_.sum(axis=0), test.contingency_.sum(axis=0))
    assert test.trend_coefficients_.shape == (test.n_bins_[0], 2)
    assert np.all(np.abs(test.y_positions_) <= 1)
    assert test.in_signal_region_.sum() >= 1 and (~test.in_signal_region_).sum() >= 2


def test_bootstrap_is_seeded_and_agrees_with_the_chi2_law():
    s, y = background(np.random.default_rng(15), 40_000, 0.35)
    common = {
        "rel_uncertainty": 0.04,
        "y_bins": REGION,
        "degree": 1,
        "alternative": "signal_region",
    }
    asym = SmoothTrendIndependenceTest(**common).fit(s, y)
    boot = SmoothTrendIndependenceTest(
        method="bootstrap", n_resamples=120, random_state=3, **common
    ).fit(s, y)
    again = SmoothTrendIndependenceTest(
        method="bootstrap", n_resamples=120, random_state=3, n_jobs=2, **common
    ).fit(s, y)
    np.testing.assert_array_equal(boot.null_distribution_, again.null_distribution_)
    assert boot.result_.method == "resampled" and asym.result_.method == "asymptotic"
    # The bootstrap null of the LR follows chi^2(d_s - 1): mean and a KS check.
    null = boot.null_distribution_
    assert np.mean(null) == pytest.approx(asym.dof_, rel=0.15)
    assert stats.kstest(null, stats.chi2(asym.dof_).cdf).pvalue > 0.01
    assert abs(boot.pvalue_ - asym.pvalue_) < 0.1


# -- input checks ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        ({"alternative": "signal_region", "y_bins": None, "degree": 1}, "needs to know the signal"),
        ({"alternative": "two-sided"}, "alternative must be"),
        ({"degree": "quadratic"}, "degree must be 'auto'"),
        ({"degree": -1}, "non-negative integer"),
        ({"min_degree": 3, "max_degree": 1}, "must not exceed"),
        ({"selection_alpha": 0.0}, "selection_alpha"),
        ({"method": "permutation"}, "method must be one of"),
        ({"degree_from": "data"}, "degree_from must be one of"),
        ({"degree_from": "sidebands", "y_bins": 10}, "needs the sidebands"),
        ({"s_quantiles": [0.9, 0.5]}, "strictly increasing"),
        ({"s_quantiles": [0.5, 1.0]}, "strictly increasing"),
        ({"s_quantiles": "doubling"}, "'halving'"),
        ({"rel_uncertainty": 2.0}, "rel_uncertainty"),
    ],
)
def test_bad_parameters_are_refused(params, match):
    s, y = background(np.random.default_rng(16), 20_000)
    params = {"y_bins": REGION, **params}
    with pytest.raises(ValueError, match=match):
        SmoothTrendIndependenceTest(**params).fit(s, y)


def test_tables_too_sparse_for_the_chi2_law_are_refused():
    s, y = background(np.random.default_rng(20), 20_000)
    sr = SmoothTrendIndependenceTest(
        rel_uncertainty=0.04,
        y_bins=REGION,
        degree=1,
        alternative="signal_region",
        s_quantiles=[0.5, 0.999],
    )
    with pytest.raises(ValueError, match="score bin 2 expects .* needs at least 25"):
        sr.fit(s, y)
    # The bootstrap does not rest on the law and runs.
    assert 0 < clone(sr).set_params(method="bootstrap", n_resamples=20).fit(s, y).pvalue_ <= 1
    with pytest.raises(ValueError, match="even with Williams' correction"):
        SmoothTrendIndependenceTest(rel_uncertainty=0.1, y_bins=REGION, degree=1).fit(s, y)


def test_bad_input_is_refused_with_a_fix():
    rng = np.random.default_rng(17)
    s, y = background(rng, 20_000)
    with pytest.raises(ValueError, match="degree='auto' chooses"):
        SmoothTrendIndependenceTest(rel_uncertainty=0.04).fit(s, y)
    with pytest.raises(ValueError, match="needs the simulation"):
        SmoothTrendIndependenceTest(
            rel_uncertainty=0.04, y_bins=REGION, degree_from="simulation"
        ).fit(s, y)
    with pytest.raises(ValueError, match="leaves no degrees of freedom"):
        SmoothTrendIndependenceTest(rel_uncertainty=0.2, y_bins=3, degree=2).fit(s, y)
    with pytest.raises(ValueError, match="both s_simulation and y_simulation"):
        SmoothTrendIndependenceTest(y_bins=REGION, rel_uncertainty=0.04).fit(s, y, s_simulation=s)
    with pytest.raises(ValueError, match="outside the window"):
        SmoothTrendIndependenceTest(y_bins=REGION, rel_uncertainty=0.04).fit(
            s, y, s_simulation=s, y_simulation=y + 1000
        )
    with pytest.raises(ValueError, match="NaN"):
        SmoothTrendIndependenceTest(y_bins=REGION, degree=1).fit(np.r_[s[:-1], np.nan], y)
