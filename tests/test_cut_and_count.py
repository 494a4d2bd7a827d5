"""Cut-and-count tests: Kamenik & Szewc's anomaly cut, the template cut-and-count, null
calibration, log-space tails and input validation."""

import math
import pickle

import numpy as np
import pytest
from scipy import special, stats
from sklearn.base import clone

from nhtad.stats import TestResult
from nhtad.stats.cut_and_count import (
    AnomalyCutTest,
    CutAndCountTest,
    TemplateCutAndCountTest,
    anomaly_cut_significance,
    binomial_log_sf,
    poisson_likelihood_ratio,
    poisson_log_sf,
)


def CC(mode="anomaly_cut", method="poisson", **kwargs):
    """The test a former ``CutAndCountTest(mode=...)`` names (that class is deprecated)."""
    if mode == "template" and method in ("poisson", "poisson_known_background"):
        kwargs.setdefault("reference_error", method == "poisson")
        return TemplateCutAndCountTest(**kwargs)
    if mode == "anomaly_cut":
        return AnomalyCutTest(**kwargs)
    return CutAndCountTest(mode=mode, method=method, **kwargs)  # refused at fit


def _hand_case(n_sr_pass, n1=1000, n2=2000):
    # SB scores 0, 1/N2, ..., (N2-1)/N2 are distinct: the 0.9 quantile sits between the 1800th
    # and 1801st, so exactly 200 SB events pass. SR events sit far above (pass) or below (fail).
    s_sb = np.arange(n2) / n2
    s_sr = np.r_[np.full(n_sr_pass, 2.0), np.full(n1 - n_sr_pass, -1.0)]
    return np.r_[s_sr, s_sb], np.r_[np.ones(n1), np.zeros(n2)]


def _template_sample(rng, n_data=2000, n_ref=4000, n_signal=0):
    s_data = rng.normal(size=n_data)
    if n_signal:
        s_data[:n_signal] = rng.normal(3.0, 0.5, size=n_signal)
    return np.r_[s_data, rng.normal(size=n_ref)], np.r_[np.ones(n_data), np.zeros(n_ref)]


# -- 1. the seed formula, by hand ------------------------------------------------------------------
def test_anomaly_cut_reproduces_seed_formula_by_hand():
    s, region = _hand_case(150)
    # The paper's formula is efficiency_uncertainty=False (the default adds eps2's error).
    test = CC(mode="anomaly_cut", efficiency=0.1, efficiency_uncertainty=False).fit(s, region)
    z = (150 - 0.1 * 1000) / math.sqrt(0.1 * 3000)  # (eps1 - eps2) N1 / sqrt(eps2 (N1 + N2))
    assert z == pytest.approx(2.886751345948129, rel=1e-12)
    assert test.statistic_ == pytest.approx(z, rel=1e-12)
    assert test.significance_ == pytest.approx(z, rel=1e-10)
    assert test.pvalue_ == pytest.approx(stats.norm.sf(z), rel=1e-10)
    assert test.efficiency_sr_ == 0.15 and test.efficiency_sb_ == 0.1
    assert test.n_selected_ == 150 and test.expected_background_ == pytest.approx(100.0)
    assert 1799 / 2000 < test.threshold_ < 1800 / 2000
    d = test.result_.details
    assert (d["n1_selected"], d["n2_selected"], d["N1"], d["N2"]) == (150, 200, 1000, 2000)
    assert d["eps1"] == 0.15 and d["eps2"] == 0.1 and d["eps2_requested"] == 0.1
    assert d["threshold"] == test.threshold_
    # The seed's own expression: max(n1_sel - eps2 N1, 0) / sqrt(eps2 N1 + n2_sel).
    assert test.statistic_ == pytest.approx(max(150 - 100, 0) / math.sqrt(100 + 200), rel=1e-12)


def test_anomaly_cut_deficit_gives_zero_and_half():
    s, region = _hand_case(50)  # eps1 = 0.05 < eps2 = 0.1
    test = CC(efficiency=0.1).fit(s, region)
    assert test.statistic_ == 0.0 and test.significance_ == 0.0
    assert test.pvalue_ == pytest.approx(0.5, rel=1e-14)


def test_anomaly_cut_with_efficiency_uncertainty_by_hand():
    s, region = _hand_case(150)
    test = CC(efficiency=0.1, efficiency_uncertainty=True).fit(s, region)
    # Var = eps2 N1 + N1^2 eps2 (1 - eps2) / N2 = 100 + 45.
    assert test.statistic_ == pytest.approx(50 / math.sqrt(145.0), rel=1e-12)
    assert test.result_.details["variance"] == pytest.approx(145.0)
    assert CC(efficiency=0.1, efficiency_uncertainty=True).fit(*_hand_case(50)).statistic_ == 0


def test_realised_efficiency_enters_the_formula_when_ties_straddle_the_threshold():
    # 2000 SB scores: 1600 distinct in [0, 1), 300 tied at 5.0, 100 distinct above 6. The 0.9
    # quantile falls inside the tied block (5.0); the strict cut s > 5.0 drops all 300 ties,
    # so 100 pass and the realised eps2 = 0.05, not the requested 0.1, enters Z.
    s_sb = np.r_[np.arange(1600) / 1600, np.full(300, 5.0), 6.0 + np.arange(100)]
    s_sr = np.r_[np.full(80, 10.0), np.zeros(920)]
    test = CC(efficiency=0.1, efficiency_uncertainty=False).fit(
        np.r_[s_sr, s_sb], np.r_[np.ones(1000), np.zeros(2000)]
    )
    assert test.threshold_ == 5.0
    assert test.efficiency_sb_ == 0.05 and test.result_.details["eps2_requested"] == 0.1
    assert test.statistic_ == pytest.approx((80 - 50) / math.sqrt(0.05 * 3000), rel=1e-12)


def test_anomaly_cut_significance_function_matches_fit():
    z, var = anomaly_cut_significance(150, 1000, 200, 2000)
    assert z == pytest.approx(50 / math.sqrt(300)) and var == 300
    z, var = anomaly_cut_significance(150, 1000, 200, 2000, efficiency_uncertainty=True)
    assert var == pytest.approx(145.0)


# -- template mode by hand -------------------------------------------------------------------------
def test_template_counts_statistic_and_pvalue_by_hand():
    s_ref = np.arange(4000) / 4000  # 0.9 quantile between 3599/4000 and 3600/4000: k_R = 400
    s_data = np.r_[np.full(260, 2.0), np.full(1740, -1.0)]
    s, y = np.r_[s_data, s_ref], np.r_[np.ones(2000), np.zeros(4000)]
    test = CC(mode="template", quantile=0.9).fit(s, y)
    d = test.result_.details
    assert (d["N_obs"], d["k_R"], d["w"], d["b"], d["quantile"]) == (260, 400, 0.5, 200.0, 0.9)
    assert test.n_selected_ == 260 and test.n_reference_selected_ == 400
    assert test.expected_background_ == 200.0 and test.weight_ == 0.5
    t_cc = 2 * (260 * math.log(260 / 200) - 60)
    assert test.statistic_ == pytest.approx(t_cc, rel=1e-12)
    # Conditional test of two Poisson means: N_obs | n ~ Binomial(n, w / (1 + w)).
    assert test.pvalue_ == pytest.approx(stats.binom.sf(259, 660, 1 / 3), rel=1e-10)
    known = CC(mode="template", quantile=0.9, method="poisson_known_background").fit(s, y)
    assert known.statistic_ == test.statistic_
    assert known.pvalue_ == pytest.approx(stats.poisson.sf(259, 200.0), rel=1e-10)
    # Ignoring the template's error over-states the excess.
    assert known.significance_ > test.significance_
    # expected_n_data sets w = N(R) / N_R.
    scaled = CC(mode="template", quantile=0.9, expected_n_data=1800).fit(s, y)
    assert scaled.weight_ == 0.45 and scaled.expected_background_ == pytest.approx(180.0)


def test_template_deficit_gives_zero_statistic():
    s_ref = np.arange(4000) / 4000
    s_data = np.r_[np.full(150, 2.0), np.full(1850, -1.0)]
    test = CC(mode="template").fit(np.r_[s_data, s_ref], np.r_[np.ones(2000), np.zeros(4000)])
    assert test.statistic_ == 0.0 and 0.5 < test.pvalue_ <= 1.0
    assert poisson_likelihood_ratio(0, 3.0) == 0.0


def test_template_on_region_labels_is_the_exact_version_of_the_anomaly_cut():
    rng = np.random.default_rng(7)
    s, region = rng.normal(size=5000), np.r_[np.ones(4000), np.zeros(1000)]
    cut = CC(efficiency=0.1).fit(s, region)
    exact = CC(mode="template", quantile=1 - 0.1).fit(s, region)
    assert exact.threshold_ == cut.threshold_ and exact.n_selected_ == cut.n_selected_
    assert exact.expected_background_ == pytest.approx(cut.expected_background_, rel=1e-12)


# -- 2. calibration under the null -----------------------------------------------------------------
def _discrete_null_check(pvalues, randomised, alphas=(0.01, 0.05, 0.1, 0.2)):
    # A valid discrete p-value is super-uniform: P(p <= alpha) <= alpha, with equality only
    # at the attainable levels, so KS on raw p tests the discreteness, not the calibration.
    # Hence two checks: (i) raw p never rejects more than alpha (+3 binomial sigma of the toys);
    # (ii) the randomised p = P(X > N) + U P(X = N), which is exactly uniform when the null
    # law of N is the one assumed, passes KS against U(0, 1).
    n = pvalues.size
    for alpha in alphas:
        rate = np.mean(pvalues <= alpha)
        assert rate <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / n), (alpha, rate)
    assert stats.kstest(randomised, "uniform").pvalue > 0.01


def test_template_poisson_pvalues_are_valid_under_the_null():
    rng = np.random.default_rng(2024)
    test = CC(mode="template", quantile=0.9)
    p, p_rand = [], []
    for _ in range(500):
        res = test.test(*_template_sample(rng))
        d = res.details
        pmf = stats.binom.pmf(d["N_obs"], d["n_total"], d["binomial_p"])
        p.append(res.pvalue)
        p_rand.append(res.pvalue - rng.random() * pmf)
    p, p_rand = np.array(p), np.array(p_rand)
    assert np.all(res.details["k_R"] == 400)
    _discrete_null_check(p, p_rand)
    # Measured with this seed: 0.8% / 2.6% / 8.0% / 16.2% at alpha 1% / 5% / 10% / 20%; KS p
    # of the randomised p-values 0.13, of the raw (super-uniform) ones 0.004.


def test_template_known_background_overstates_when_the_template_is_small():
    # w = 1 (N_R = N_D): the template's own Poisson error doubles the variance of N_obs - b,
    # which "poisson_known_background" ignores by construction.
    rng = np.random.default_rng(5)
    test = CC(mode="template", quantile=0.9, method="poisson_known_background")
    p = np.array([test.fit(*_template_sample(rng, 2000, 2000)).pvalue_ for _ in range(400)])
    assert np.mean(p <= 0.05) > 0.08  # 9.5% measured with this seed


def test_anomaly_cut_type1_rate_when_score_is_independent_of_region():
    rng = np.random.default_rng(11)

    def rate(n1, n2, uncertainty, n_toys=1000):
        region = np.r_[np.ones(n1), np.zeros(n2)]
        test = CC(efficiency=0.1, efficiency_uncertainty=uncertainty)
        z = np.array([test.fit(rng.normal(size=n1 + n2), region).statistic_ for _ in range(n_toys)])
        return np.mean(z > 1.645)

    # Loose: the Gaussian Z of a count is approximate. N1 = N2 is where the seed's variance
    # eps2 (N1 + N2) equals the true one.
    assert 0.02 < rate(2000, 2000, False) < 0.09
    assert 0.02 < rate(2000, 2000, True) < 0.09
    # N1 = 4 N2: the seed under-covers (21% measured with 4000 toys); the binomial error of
    # eps2 restores ~5-7%. Measured with this seed: 5.0%, 5.1%, 19.8%, 6.1%.
    assert rate(4000, 1000, False) > 0.12
    assert 0.02 < rate(4000, 1000, True) < 0.10


# -- 3. tails --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mode, kwargs",
    [
        ("anomaly_cut", {"efficiency": 0.01}),
        ("anomaly_cut", {"efficiency": 0.01, "efficiency_uncertainty": True}),
        ("template", {"method": "poisson"}),
        ("template", {"method": "poisson_known_background"}),
    ],
)
def test_extreme_excess_gives_finite_large_z(mode, kwargs):
    rng = np.random.default_rng(3)
    s, y = _template_sample(rng, 2000, 4000, n_signal=1500)
    test = CC(mode=mode, **kwargs).fit(s, y)
    for value in (test.statistic_, test.log_pvalue_, test.significance_):
        assert np.isfinite(value)
    assert test.significance_ > 40
    assert test.pvalue_ == 0.0 and test.log_pvalue_ < -800  # underflows; log p does not


def test_log_tail_sums_match_independent_log_space_sums():
    # Reference: logsumexp of scipy's log-pmf (computed from log-gamma terms, no underflow).
    for k, n, p in [(300, 400, 1 / 3), (900, 1000, 0.2), (5000, 5000, 0.5), (3000, 20000, 0.1)]:
        j = np.arange(k, n + 1)
        expected = special.logsumexp(stats.binom.logpmf(j, n, p))
        assert binomial_log_sf(k, n, p) == pytest.approx(expected, rel=1e-11, abs=1e-11)
    for k, mean in [(30, 10.0), (2000, 200.0), (1000, 1.0), (600, 300.0)]:
        j = np.arange(k, k + 20000)
        expected = special.logsumexp(stats.poisson.logpmf(j, mean))
        assert poisson_log_sf(k, mean) == pytest.approx(expected, rel=1e-11, abs=1e-11)
    # Continuity where scipy is finite but the log-space sum has taken over (p ~ 1e-260).
    assert binomial_log_sf(470, 600, 0.25) == pytest.approx(
        float(stats.binom.logsf(469, 600, 0.25)), rel=1e-9
    )
    assert binomial_log_sf(0, 10, 0.5) == 0.0 and poisson_log_sf(0, 5.0) == 0.0


# -- 4. bad inputs ---------------------------------------------------------------------------------
_S, _REGION = np.random.default_rng(0).normal(size=3000), np.r_[np.ones(1000), np.zeros(2000)]


@pytest.mark.parametrize("efficiency", [0, 1, -0.1, 1.5, float("nan"), "0.1", True])
def test_bad_efficiency(efficiency):
    with pytest.raises(ValueError, match=r"efficiency must be a number in the open interval"):
        CC(efficiency=efficiency).fit(_S, _REGION)


@pytest.mark.parametrize("quantile", [0, 1, 1.2, float("inf")])
def test_bad_quantile(quantile):
    with pytest.raises(ValueError, match=r"quantile must be a number in the open interval"):
        CC(mode="template", quantile=quantile).fit(_S, _REGION)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"mode": "bump"}, r"mode must be one of \('anomaly_cut', 'template'\)"),
        ({"mode": "template", "method": "toys"}, r"method must be one of"),
        ({"mode": "template", "reference_error": "yes"}, r"reference_error must be True or False"),
        ({"mode": "template", "expected_n_data": -5}, r"expected_n_data must be a positive"),
        ({"mode": "template", "expected_n_data": float("nan")}, r"expected_n_data must be"),
        ({"efficiency_uncertainty": "yes"}, r"efficiency_uncertainty must be True or False"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CC(**kwargs).fit(_S, _REGION)


def test_parameters_are_validated_in_fit_not_init():
    test = CC(mode="nonsense", efficiency=7)
    assert test.get_params()["efficiency"] == 7


@pytest.mark.parametrize(
    "mode, y, match",
    [
        ("anomaly_cut", np.zeros(3000), r"the signal region has no events .*region == 1"),
        ("anomaly_cut", np.ones(3000), r"the sideband has no events .*region == 0"),
        ("template", np.zeros(3000), r"the data has no events .*y == 1"),
        ("template", np.ones(3000), r"the reference has no events .*y == 0"),
        ("anomaly_cut", np.r_[np.full(1000, 2), np.zeros(2000)], r"region must be 1 .*\[2\.0\]"),
        ("template", np.r_[np.full(1000, -1), np.zeros(2000)], r"y must be 1 for data"),
        ("anomaly_cut", np.zeros(10), r"one entry per event"),
    ],
)
def test_bad_labels(mode, y, match):
    with pytest.raises(ValueError, match=match):
        CC(mode=mode).fit(_S, y)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_scores(bad):
    s = _S.copy()
    s[17] = bad
    with pytest.raises(ValueError, match=r"s contains 1 (NaN|inf).*indices \[17\]"):
        CC().fit(s, _REGION)
    region = _REGION.copy()
    region[3] = bad
    with pytest.raises(ValueError, match=r"region contains"):
        CC().fit(_S, region)


def test_constant_score():
    with pytest.raises(ValueError, match=r"sideband \(region == 0\) is constant.*no threshold"):
        CC().fit(np.ones(3000), _REGION)
    with pytest.raises(ValueError, match=r"reference \(y == 0\) is constant.*no threshold"):
        CC(mode="template").fit(np.ones(3000), _REGION)


def test_too_few_sideband_or_reference_events():
    region = np.r_[np.ones(1000), np.zeros(50)]
    s = _S[:1050]
    with pytest.raises(ValueError, match=r"fewer than one.*Raise efficiency to at least 1/N2"):
        CC(efficiency=0.01).fit(s, region)
    with pytest.raises(ValueError, match=r"fewer than one.*Lower quantile"):
        CC(mode="template", quantile=0.99).fit(s, region)


def test_ties_leaving_no_event_above_the_threshold():
    s = np.r_[_S[:1000], np.linspace(0, 1, 1500), np.full(500, 1.0)]
    with pytest.raises(ValueError, match=r"no sideband event scores above .*tied"):
        CC(efficiency=0.1).fit(s, _REGION)


# -- 5. signal sanity ------------------------------------------------------------------------------
def test_injected_signal_raises_z():
    rng = np.random.default_rng(9)
    s = rng.normal(size=6000)
    region = np.r_[np.ones(2000), np.zeros(4000)]
    z0 = CC(efficiency=0.05).fit(s, region).significance_
    s_sig = s.copy()
    s_sig[:60] = rng.normal(3.0, 0.5, size=60)  # 60 signal-like events replace SR background
    z1 = CC(efficiency=0.05).fit(s_sig, region).significance_
    assert z1 > z0 + 3
    zt0 = CC(mode="template", quantile=0.95).fit(s, region).significance_
    zt1 = CC(mode="template", quantile=0.95).fit(s_sig, region).significance_
    assert zt1 > zt0 + 2


# -- 6. estimator API ------------------------------------------------------------------------------
def test_clone_get_params_test_and_score():
    s, y = _hand_case(150)
    params = {"efficiency": 0.1, "efficiency_uncertainty": True}
    test = CC(efficiency=0.1)
    assert test.get_params() == params
    twin = clone(test)
    assert twin.get_params() == params and twin is not test
    z = test.score(s, y)
    assert not hasattr(test, "statistic_"), "score must not fit self"
    # Excess 150 - 0.1 * 1000 = 50 over the variance eps2 N1 + N1^2 eps2 (1 - eps2) / N2 = 145.
    assert z == pytest.approx(50 / math.sqrt(145), rel=1e-10)
    result = test.test(s, y)
    assert isinstance(result, TestResult)
    assert result.method == "asymptotic" and result.test == "AnomalyCutTest"
    assert result.null_distribution is None and result.n_events == 3000
    assert result.significance == test.significance_ == pytest.approx(z)
    assert pickle.loads(pickle.dumps(result)).details["n2_selected"] == 200
    template = CC(mode="template").set_params(quantile=0.8)
    # The template test's binomial (or known-background Poisson) tail is a finite-sample law.
    assert template.test(*_template_sample(np.random.default_rng(1))).method == "exact"
    known = template.set_params(reference_error=False)
    assert known.test(*_template_sample(np.random.default_rng(1))).method == "exact"


def test_the_former_cut_and_count_class_still_works_with_a_warning():
    s, region = _S, _REGION
    for mode, new in (
        ("anomaly_cut", AnomalyCutTest(efficiency=0.05)),
        ("template", TemplateCutAndCountTest(quantile=0.95, reference_error=False)),
    ):
        old = CutAndCountTest(
            mode=mode, efficiency=0.05, quantile=0.95, method="poisson_known_background"
        )
        with pytest.warns(FutureWarning, match=type(new).__name__):
            old.fit(s, region)
        new.fit(s, region)
        assert old.statistic_ == new.statistic_ and old.log_pvalue_ == new.log_pvalue_
        assert old.threshold_ == new.threshold_ and old.result_.test == "CutAndCountTest"
