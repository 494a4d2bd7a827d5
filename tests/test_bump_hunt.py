"""BumpHuntTest: sideband dijet fit + profile-likelihood test of the signal-region count."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats
from sklearn.base import clone

from nhtad.datasets import SignalRegion
from nhtad.stats import TestResult, log_pvalue_to_significance
from nhtad.stats import dijet_fit as dijet_fit_module
from nhtad.stats.bump_hunt import BackgroundFitError, BumpHuntTest, profile_likelihood_q0
from nhtad.stats.dijet_function import (
    bin_quadrature,
    dijet_bin_integrals,
    dijet_function,
    sample_dijet,
)

# A falling spectrum like the LHCO dijet background: a factor ~6.5 over 3.1-3.9 TeV.
SHAPE = (1.0, 10.0, 5.0, 0.0)
N_WINDOW = 50_000
WINDOW = (3100.0, 3900.0)
SR = (3300.0, 3700.0)
ONE_SIDED_5PCT = stats.norm.isf(0.05)  # 1.645


def _background(seed, n_mean=N_WINDOW):
    rng = np.random.default_rng(seed)
    return sample_dijet(rng.poisson(n_mean), SHAPE, WINDOW, random_state=rng), rng


@pytest.fixture(scope="module")
def background():
    mjj, _ = _background(12345)
    return mjj


# -- (d) dijet function and bin integrals -------------------------------------------------
def test_bin_integrals_match_quad_and_differ_from_centre_evaluation():
    p = (2.5e3, 10.0, 5.0, 0.3)
    for width in (50.0, 200.0, 800.0):
        x_edges = np.arange(WINDOW[0], WINDOW[1] + width / 2, width) / 13000.0
        integrals = dijet_bin_integrals(x_edges, p)
        exact = np.array(
            [
                integrate.quad(lambda x: dijet_function(x, *p), a, b, epsabs=0, epsrel=1e-13)[0]
                for a, b in zip(x_edges[:-1], x_edges[1:])
            ]
        )
        np.testing.assert_allclose(integrals, exact, rtol=1e-8, atol=0)
        centres = 0.5 * (x_edges[:-1] + x_edges[1:])
        at_centre = dijet_function(centres, *p) * np.diff(x_edges)
        # The centre rule underestimates a convex falling spectrum, by ~7e-4 on 50 GeV bins.
        assert np.all(at_centre < integrals * (1 - 1e-4))


def test_log_p0_parametrisation_and_quadrature_weights():
    x_edges = np.arange(3100.0, 3901.0, 50.0) / 13000.0
    p = (3.0, 10.0, 5.0, 0.2)
    np.testing.assert_allclose(
        dijet_bin_integrals(x_edges, (math.log(3.0), *p[1:]), log_p0=True),
        dijet_bin_integrals(x_edges, p),
        rtol=1e-13,
    )
    nodes, weights = bin_quadrature(x_edges)
    assert nodes.shape == weights.shape == (16, 8)
    np.testing.assert_allclose(weights.sum(axis=1), np.diff(x_edges), rtol=1e-13)
    with pytest.raises(ValueError, match="0 < x"):
        dijet_function(1.2, *p)


def test_sampler_is_seeded_and_follows_the_shape():
    a = sample_dijet((3, 1000), SHAPE, random_state=7)
    b = sample_dijet((3, 1000), SHAPE, random_state=7)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 1000) and a.min() >= 3100 and a.max() <= 3900
    edges = np.arange(3100.0, 3901.0, 50.0)
    counts = np.histogram(sample_dijet(400_000, SHAPE, random_state=1), edges)[0]
    expected = dijet_bin_integrals(edges / 13000.0, SHAPE)
    expected *= counts.sum() / expected.sum()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert stats.chi2.sf(chi2, 15) > 1e-3


# -- (c) profile likelihood by hand -------------------------------------------------------
def test_profile_q0_without_background_error_is_the_poisson_formula():
    n, b = np.array([0.0, 3.0, 12.0, 150.0, 1e6]), 10.0
    expected = np.where(n > b, 2 * (n * np.log(np.maximum(n, 1) / b) - (n - b)), 0.0)
    result = profile_likelihood_q0(n, b, 0.0)
    np.testing.assert_allclose(result.q0, expected, rtol=1e-12)
    np.testing.assert_allclose(result.significance, np.sqrt(expected), rtol=1e-12)
    np.testing.assert_allclose(result.signal_yield, n - b)


@pytest.mark.parametrize(
    "n, b, sigma", [(15, 10.0, 2.0), (130, 100.0, 30.0), (5, 0.5, 3.0), (2200, 2000.0, 0.5)]
)
def test_profile_q0_matches_a_numerical_profile(n, b, sigma):
    def nll(mu, theta):
        return -stats.poisson.logpmf(n, mu + b + theta) + 0.5 * (theta / sigma) ** 2

    conditional = optimize.minimize_scalar(
        lambda t: nll(0.0, t),
        bounds=(-b + 1e-12, 10 * (n + b)),
        method="bounded",
        options={"xatol": 1e-12},
    )
    q0_numeric = 2 * (conditional.fun - nll(n - b, 0.0))
    result = profile_likelihood_q0(n, b, sigma)
    assert result.q0 == pytest.approx(q0_numeric, rel=1e-6, abs=1e-9)
    assert result.nuisance_conditional == pytest.approx(conditional.x, rel=1e-5, abs=1e-6)
    assert result.signal_yield_error == pytest.approx(math.sqrt(n + sigma**2))
    # A background uncertainty can only weaken the evidence.
    assert result.q0 <= profile_likelihood_q0(n, b, 0.0).q0


def test_profile_deficit_gives_zero_and_huge_excess_stays_finite():
    deficit = profile_likelihood_q0(80, 100.0, 5.0)
    assert deficit.q0 == 0.0 and deficit.significance == 0.0
    assert deficit.log_pvalue == pytest.approx(math.log(0.5))
    assert deficit.signal_yield == -20.0
    empty = profile_likelihood_q0(0, 3.0, 10.0)
    assert empty.q0 == 0.0 and np.isfinite(empty.nuisance_conditional)
    huge = profile_likelihood_q0(1e6, 10.0, 1.0)
    # theta_hathat is pulled ~1000 sigma_b up, so Z is below the Poisson-only 4600.
    assert np.isfinite(huge.significance) and 3000 < huge.significance < 4600
    assert np.isfinite(huge.log_pvalue) and huge.log_pvalue < -4e6
    assert log_pvalue_to_significance(huge.log_pvalue) == pytest.approx(huge.significance)
    with pytest.raises(ValueError, match="background must be finite and > 0"):
        profile_likelihood_q0(10, 0.0, 1.0)


# -- fitted attributes and the result -------------------------------------------------------
def test_fit_sets_attributes_consistently(background):
    test = BumpHuntTest().fit(None, background)
    d = test.result_.details
    assert test.bin_edges_.size == 17 and test.counts_.sum() == background.size
    assert test.n_events_ == background.size == d["n_window"]
    assert d["n_bins"] == 16 and d["n_sideband_bins"] == 8 and d["fit_ndf"] == 4
    n1 = int(test.counts_[test.signal_region_bins_].sum())
    assert d["n_signal_region"] == n1
    assert test.background_ == pytest.approx(test.expected_[test.signal_region_bins_].sum())
    assert test.signal_yield_ == pytest.approx(n1 - test.background_)
    assert test.signal_yield_error_ == pytest.approx(math.sqrt(n1 + test.background_error_**2))
    assert test.statistic_ == d["q0"]
    # The fitted parameters reproduce the fitted bin expectations.
    np.testing.assert_allclose(
        dijet_bin_integrals(test.bin_edges_ / 13000.0, test.fit_params_, log_p0=True),
        test.expected_,
        rtol=1e-9,
    )
    assert test.fit_covariance_.shape == (4, 4)
    np.testing.assert_allclose(test.fit_covariance_, test.fit_covariance_.T, rtol=1e-10)
    # sigma_b from the full covariance exceeds the naive sqrt(b) and is far from zero: the
    # 4-parameter interpolation over a 400 GeV gap is uncertain.
    assert 1.5 * math.sqrt(test.background_) < test.background_error_ < 0.05 * test.background_
    assert 0 < d["fit_pvalue"] <= 1 and d["fit_chi2_ndf"] == pytest.approx(d["fit_deviance"] / 4)


def test_events_outside_the_window_are_ignored_and_counted(background):
    rng = np.random.default_rng(3)
    outside = np.concatenate([rng.uniform(1000, 3099, 500), rng.uniform(3901, 6000, 700)])
    inside = BumpHuntTest().fit(None, background)
    both = BumpHuntTest().fit(None, np.concatenate([background, outside]))
    assert both.result_.details["n_outside_window"] == 1200
    assert both.n_events_ == inside.n_events_
    assert both.statistic_ == inside.statistic_


# -- (a) acceptance: type-I error on pure background ------------------------------------------
def test_type_one_error_on_pure_dijet_background():
    n_toys = 400
    z = np.array(
        [BumpHuntTest().fit(None, _background(seed)[0]).significance_ for seed in range(n_toys)]
    )
    rate = np.mean(z > ONE_SIDED_5PCT)
    assert abs(rate - 0.05) < 3 * math.sqrt(0.05 * 0.95 / n_toys), rate
    # One-sided q0: about half of the toys have a deficit and Z = 0 exactly.
    assert 0.4 < np.mean(z == 0.0) < 0.6


# -- (b) acceptance: unbiased signal yield ------------------------------------------------------
def test_signal_yield_is_unbiased_within_its_error():
    # A 50 GeV wide bump keeps >99.99% of the signal inside the 400 GeV SR. (A 100 GeV width
    # leaks 4.6% into the bins next to the SR, which pulls the sideband fit up: the yield is then
    # biased low by ~0.6 sigma, a property of the method, not of the code.)
    n_toys, n_signal, mass, width = 150, 1500, 3500.0, 50.0
    pulls = np.empty(n_toys)
    for seed in range(n_toys):
        mjj, rng = _background(10_000 + seed)
        bump = rng.normal(mass, width, rng.poisson(n_signal))
        true_in_sr = np.count_nonzero((bump >= SR[0]) & (bump < SR[1]))
        test = BumpHuntTest().fit(None, np.concatenate([mjj, bump]))
        pulls[seed] = (test.signal_yield_ - true_in_sr) / test.signal_yield_error_
    assert abs(pulls.mean()) < 3 * pulls.std(ddof=1) / math.sqrt(n_toys), pulls.mean()
    assert 0.8 < pulls.std(ddof=1) < 1.2


def test_strong_signal_gives_large_finite_significance(background):
    rng = np.random.default_rng(5)
    bump = rng.normal(3500.0, 50.0, 40_000)
    test = BumpHuntTest().fit(None, np.concatenate([background, bump]))
    assert test.significance_ > 30 and np.isfinite(test.log_pvalue_)
    assert test.signal_yield_ == pytest.approx(40_000, abs=5 * test.signal_yield_error_)


# -- (e) score cut --------------------------------------------------------------------------------
def test_score_cut_type_one_error_for_both_strategies():
    n_toys = 120
    z = {"fit_after_cut": [], "scale_by_efficiency": []}
    for seed in range(n_toys):
        mjj, rng = _background(20_000 + seed)
        s = rng.random(mjj.size)  # independent of m_jj: the null of the cut
        for strategy, values in z.items():
            values.append(
                BumpHuntTest(cut_strategy=strategy, efficiency=0.1).fit(s, mjj).significance_
            )
    for values in z.values():
        rate = np.mean(np.array(values) > ONE_SIDED_5PCT)
        assert rate < 0.05 + 4 * math.sqrt(0.05 * 0.95 / n_toys), rate


def test_score_cut_selects_the_sideband_quantile_and_adds_efficiency_error(background):
    rng = np.random.default_rng(8)
    s = rng.random(background.size)
    eps2 = 0.05
    scaled = BumpHuntTest(cut_strategy="scale_by_efficiency", efficiency=eps2).fit(s, background)
    d = scaled.result_.details
    sr = (background >= SR[0]) & (background < SR[1])
    sideband = ~sr
    assert d["threshold"] == pytest.approx(np.quantile(s[sideband], 1 - eps2))
    assert d["n_signal_region"] == np.count_nonzero(sr & (s > d["threshold"]))
    n_sb = np.count_nonzero(sideband)
    eps_hat = np.count_nonzero(sideband & (s > d["threshold"])) / n_sb
    assert d["efficiency_measured"] == pytest.approx(eps_hat)
    assert d["efficiency_error"] == pytest.approx(math.sqrt(eps_hat * (1 - eps_hat) / n_sb))
    # The binomial error on eps2_hat enters sigma_b in quadrature with the fit part.
    uncut = BumpHuntTest().fit(None, background)
    assert d["background_uncut"] == pytest.approx(uncut.background_)
    assert d["background_error_fit"] == pytest.approx(eps_hat * uncut.background_error_)
    assert d["background_error_efficiency"] == pytest.approx(
        uncut.background_ * d["efficiency_error"]
    )
    assert scaled.background_ == pytest.approx(eps_hat * uncut.background_)
    assert scaled.background_error_ == pytest.approx(
        math.hypot(d["background_error_fit"], d["background_error_efficiency"])
    )
    assert scaled.background_error_ > 1.5 * d["background_error_fit"]
    # fit_after_cut refits the selected events: a different, larger relative uncertainty.
    refit = BumpHuntTest(efficiency=eps2).fit(s, background)
    assert refit.counts_.sum() == scaled.counts_.sum() < 0.1 * background.size
    assert refit.result_.details["cut_strategy"] == "fit_after_cut"
    assert refit.background_ == pytest.approx(scaled.background_, rel=0.1)


# -- (f) bad inputs -----------------------------------------------------------------------------


def test_seed_recipe_drops_the_efficiency_error(background):
    """efficiency_uncertainty=False is the seed notebook: sigma_b from the fit part alone."""
    s = np.random.default_rng(8).random(background.size)
    honest = BumpHuntTest(cut_strategy="scale_by_efficiency", efficiency=0.05).fit(s, background)
    seed = BumpHuntTest(
        cut_strategy="scale_by_efficiency", efficiency_uncertainty=False, efficiency=0.05
    ).fit(s, background)
    assert seed.background_ == pytest.approx(honest.background_)
    assert seed.background_error_ == pytest.approx(honest.result_.details["background_error_fit"])
    assert seed.background_error_ < honest.background_error_
    with pytest.raises(ValueError, match="efficiency_uncertainty must be True or False"):
        BumpHuntTest(efficiency_uncertainty="no").fit(None, background)


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"region": SignalRegion(3320, 3700)},
            r"3320 does not \(nearest edges 3300 and 3350\).*SignalRegion\(3300, 3700\)",
        ),
        ({"bin_width": 30}, "not a whole number of bins"),
        ({"bin_width": 0}, "bin_width must be > 0"),
        ({"bin_width": 100}, "the sidebands hold 4 bins"),
        (
            {"region": SignalRegion(3300, 3700, window=(3100, 14000))},
            "window must satisfy 0 < low < high < sqrt_s",
        ),
        ({"cut_strategy": "flat"}, "cut_strategy must be one of"),
    ],
)
def test_bad_settings_raise(background, params, match):
    with pytest.raises(ValueError, match=match):
        BumpHuntTest(**params).fit(None, background)


def test_bad_data_raise(background):
    s = np.random.default_rng(0).random(background.size)
    for eps2 in (0, 1.5, 1.0, -0.1):
        with pytest.raises(
            ValueError, match=r"efficiency must be a number in the open interval \(0, 1\)"
        ):
            BumpHuntTest(efficiency=eps2).fit(s, background)
    with pytest.raises(ValueError, match="set the sideband efficiency of the cut"):
        BumpHuntTest().fit(s, background)
    with pytest.raises(ValueError, match="pass the scores too"):
        BumpHuntTest(efficiency=0.1).fit(None, background)
    with pytest.raises(ValueError, match="must have one entry per event each"):
        BumpHuntTest(efficiency=0.1).fit(s[:-1], background)
    with pytest.raises(ValueError, match="region must be a nhtad.datasets.SignalRegion"):
        BumpHuntTest(region=(3300, 3700)).fit(None, background)
    bad = background.copy()
    bad[10] = np.nan
    with pytest.raises(ValueError, match="mjj contains 1 NaN"):
        BumpHuntTest().fit(None, bad)
    bad[10] = np.inf
    with pytest.raises(ValueError, match="mjj contains 1 inf"):
        BumpHuntTest().fit(None, bad)
    sidebands_only = background[(background < SR[0]) | (background >= SR[1])]
    with pytest.raises(ValueError, match="the signal region .* holds no events"):
        BumpHuntTest().fit(None, sidebands_only)
    sr_only = background[(background >= SR[0]) & (background < SR[1])]
    with pytest.raises(ValueError, match="too few sideband events"):
        BumpHuntTest().fit(None, sr_only)
    # One sideband empty: the fit would extrapolate, not interpolate.
    with pytest.raises(ValueError, match="events on both sides of the signal region"):
        BumpHuntTest().fit(None, background[background >= SR[0]])
    # A cut that leaves almost nothing to fit in the sidebands.
    with pytest.raises(ValueError, match="too few sideband events in the events passing the cut"):
        BumpHuntTest(efficiency=1e-4).fit(s, background)


def test_unconverged_fit_raises_instead_of_returning_z(background, monkeypatch):
    class NeverValid(dijet_fit_module.Minuit):
        @property
        def valid(self):
            return False

    monkeypatch.setattr(dijet_fit_module, "Minuit", NeverValid)
    test = BumpHuntTest()
    with pytest.raises(
        BackgroundFitError, match="did not converge after 3 attempts.*no significance"
    ):
        test.fit(None, background)
    assert not hasattr(test, "significance_")
    # score() must not turn the failure into a number either; callers that catch
    # RuntimeError (the studies) see it.
    with pytest.raises(RuntimeError, match="did not converge"):
        clone(test).score(None, background)


# -- (g) estimator API ----------------------------------------------------------------------------
def test_test_score_params_and_clone(background):
    test = BumpHuntTest(bin_width=25, cut_strategy="scale_by_efficiency")
    z = test.score(None, background)
    assert not hasattr(test, "statistic_"), "score must not fit self"
    result = test.test(None, background)
    assert isinstance(result, TestResult) and result.test == "BumpHuntTest"
    assert result.method == "asymptotic" and result.null_distribution is None
    assert z == pytest.approx(result.significance) == pytest.approx(test.significance_)
    assert result.significance == pytest.approx(math.sqrt(result.statistic), abs=1e-9)
    params = test.get_params()
    assert params["bin_width"] == 25 and params["cut_strategy"] == "scale_by_efficiency"
    assert BumpHuntTest(**params).get_params() == params
    twin = clone(test)
    assert twin.get_params() == params and not hasattr(twin, "statistic_")
    assert twin.fit(None, background).statistic_ == test.statistic_
    s = np.random.default_rng(1).random(background.size)
    cut = clone(test).set_params(efficiency=0.2)
    assert cut.score(s, background) == pytest.approx(clone(cut).fit(s, background).significance_)


def test_the_former_call_order_and_region_tuples_still_work_with_a_warning(background):
    s = np.random.default_rng(3).random(background.size)
    new = BumpHuntTest(efficiency=0.1).fit(s, background)
    with pytest.warns(FutureWarning, match=r"use BumpHuntTest\(efficiency=eps2\).fit\(s, mjj\)"):
        old = BumpHuntTest().fit(background, s, efficiency=0.1)
    assert old.statistic_ == new.statistic_
    with pytest.warns(FutureWarning, match=r"use fit\(None, mjj\)"):
        assert (
            BumpHuntTest().fit(background).statistic_
            == BumpHuntTest().fit(None, background).statistic_
        )
    region = SignalRegion(3350, 3650, window=(3150, 3850))
    with pytest.warns(FutureWarning, match="pass region=SignalRegion"):
        tuples = BumpHuntTest(window=(3150, 3850), signal_region=(3350, 3650)).fit(None, background)
    assert tuples.statistic_ == BumpHuntTest(region=region).fit(None, background).statistic_
    with pytest.raises(ValueError, match="not both"):
        BumpHuntTest(region=region, window=(3150, 3850)).fit(None, background)
