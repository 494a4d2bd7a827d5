"""The MI test where its chi-square law fails (sparse cells) and where resamples run out.

``method="asymptotic"`` uses the chi-square law of 2NI only where Williams' correction says the
cells are full enough, a corrected law next to it, the exact permutation null further out, and
refuses beyond (docs/statistics.md). The relabelled (simulation) null extrapolates its tail with
a fitted law instead of capping Z at the empirical 1/(n + 1). The Type-I checks draw independent
seeded data sets, so they fail if a law is used where it does not hold.
"""

import logging
import math
import re

import numpy as np
import pytest
from joblib import Parallel, delayed
from scipy import stats

from nhtad.datasets import SignalRegion, make_lhco_like
from nhtad.stats import MutualInformationIndependenceTest, mutual_information
from nhtad.stats.binning import min_count_for
from nhtad.stats.contingency import score_mass_table
from nhtad.stats.mutual_info import (
    MAX_CHI2_SHIFT,
    MAX_PERMUTATION_SHIFT,
    MAX_WILLIAMS_SHIFT,
    MIN_WILLIAMS_EXPECTED,
    _permutation_batch,
    williams_correction,
)
from nhtad.stats.pvalues import log_gamma_sf

MI = MutualInformationIndependenceTest


def _assert_nominal(pvalues):
    pvalues = np.asarray(pvalues)
    assert ((pvalues > 0) & (pvalues <= 1)).all()
    rate = np.mean(pvalues < 0.05)
    half = 3.0 * math.sqrt(0.05 * 0.95 / pvalues.size)  # binomial 3 sigma
    assert abs(rate - 0.05) < half, f"rejection rate {rate:.3f} at alpha = 0.05"
    ks = stats.kstest(pvalues, "uniform").pvalue
    assert ks > 0.01, f"p-values not uniform: KS p = {ks:.3g}"


def _null_set(child, n_events, tied):
    rng = np.random.default_rng(child)
    # A skewed y (a falling spectrum) and, optionally, a score with a point mass.
    s, y = rng.random(n_events), rng.exponential(size=n_events)
    if tied:
        s[rng.random(n_events) < tied] = 0.5
    return s, y


def _outcome(child, n_events, rel, tied=0.0, n_resamples=199):
    s, y = _null_set(child, n_events, tied)
    test = MI(rel_uncertainty=rel, n_resamples=n_resamples, random_state=child)
    try:
        result = test.fit(s, y).result_
    except ValueError as err:
        return None, str(err)
    return result.pvalue, result.details["pvalue_source"]


def _outcomes(n_sets, n_events, rel, seed, **kwargs):
    children = np.random.SeedSequence(seed).spawn(n_sets)
    # The permutation fallback logs a warning a fit; 300 of them say nothing new here.
    logger = logging.getLogger("nhtad")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return Parallel(n_jobs=2 if n_events >= 20_000 else 1)(
            delayed(_outcome)(child, n_events, rel, **kwargs) for child in children
        )
    finally:
        logger.setLevel(level)


# -- where the old law failed: 300 null sets each ------------------------------------------------
@pytest.mark.parametrize(
    "n_events, rel, expected",
    [
        (4_000, 0.05, "chi2"),  # 10 x 10 bins, 40 events a cell
        (4_000, 0.1, "refused"),  # 40 x 40, 2.5 a cell: the old law rejected 93%
        (50_000, 0.05, "refused"),  # 125 x 125, 3.2 a cell: the old law gave Z ~ 7.5
        (50_000, 0.1, "refused"),  # 500 x 500, 0.2 a cell: the old law gave p = 1
    ],
)
def test_null_sets_are_nominal_or_refused(n_events, rel, expected):
    outcomes = _outcomes(300, n_events, rel, seed=[n_events, round(rel * 1000), 1])
    pvalues = [p for p, _ in outcomes if p is not None]
    messages = [m for p, m in outcomes if p is None]
    if expected == "refused":
        assert not pvalues
        for message in messages:
            assert "too sparse for method='asymptotic'" in message
            assert re.search(r"rel_uncertainty=0\.\d+ or less", message)
            assert "method='permutation'" in message
    else:
        assert not messages and {m for _, m in outcomes} == {expected}
        _assert_nominal(pvalues)


@pytest.mark.parametrize(
    "n_events, rel, tied, sources",
    [
        # Williams' corrected law: 16 x 16 bins, 14 events a cell at least.
        (4_000, 0.065, 0.0, {"chi2_williams"}),
        # The permutation fallback: 20 x 20 bins of 5 events a cell, the score 60% tied.
        (2_000, 0.1, 0.6, {"empirical", "tail_law"}),
        (2_000, 0.1, 0.0, {"empirical", "tail_law"}),
    ],
)
def test_each_regime_of_the_rule_is_nominal(n_events, rel, tied, sources):
    outcomes = _outcomes(300, n_events, rel, seed=[n_events, round(rel * 1000), 11], tied=tied)
    assert all(p is not None for p, _ in outcomes)
    assert {m for _, m in outcomes} <= sources
    _assert_nominal([p for p, _ in outcomes])


def test_the_plain_law_fails_where_the_rule_switches():
    # The same 300 data sets as the permutation-fallback check above: the reference's plain
    # chi-square law rejects far too often there, so the switch is needed (test can fail).
    rejected = []
    for child in np.random.SeedSequence([2_000, 100, 11]).spawn(300):
        s, y = _null_set(child, 2_000, 0.0)
        b = score_mass_table(s, y, min_count=min_count_for(0.1), rel_uncertainty=0.1)
        dof = (b.shape[0] - 1) * (b.shape[1] - 1)
        rejected.append(log_gamma_sf(dof / 2, s.size * mutual_information(b.table)) < -3.0)
    assert np.mean(rejected) > 0.1


# -- Williams' correction and the rule ----------------------------------------------------------
def test_williams_correction_predicts_the_mean_of_2ni():
    rng = np.random.default_rng(0)
    table = rng.integers(3, 40, size=(6, 9))
    n, rows, cols = table.sum(), table.sum(axis=1), table.sum(axis=0)
    q, shift = williams_correction(table)
    k = 5 * 8
    expected_q = 1 + (n * np.sum(1 / rows) - 1) * (n * np.sum(1 / cols) - 1) / (6 * n * k)
    assert q == pytest.approx(expected_q, rel=1e-12)
    assert shift == pytest.approx((q - 1) * math.sqrt(k / 2), rel=1e-12)
    # 16 x 16 bins of 4,000 events, 14 a cell: the permutation mean of 2NI is k q, not k.
    s, y = rng.random(4_000), rng.random(4_000)
    b = score_mass_table(s, y, min_count=min_count_for(0.065), rel_uncertainty=0.065)
    q, shift = williams_correction(b.table)
    k = 15 * 15
    g = 2 * 4_000 * _permutation_batch(rng, 4_000, b.s_index, b.y_index, b.shape)
    se = g.std() / math.sqrt(g.size)
    assert abs(g.mean() - k * q) < 3 * se
    assert g.mean() - k > 3 * se
    assert MAX_CHI2_SHIFT < shift < MAX_WILLIAMS_SHIFT


def test_williams_correction_input():
    with pytest.raises(ValueError, match=r"at least 2 x 2 bins"):
        williams_correction(np.ones((1, 5)))
    assert williams_correction([[0, 0], [3, 4]]) == (math.inf, math.inf)


def test_rule_thresholds_are_ordered():
    assert 0 < MAX_CHI2_SHIFT < MAX_WILLIAMS_SHIFT < MAX_PERMUTATION_SHIFT
    assert MIN_WILLIAMS_EXPECTED >= 5


@pytest.mark.parametrize("n_events", [250_000, 600_000])
def test_default_binning_of_well_filled_tables_keeps_the_reference_p(n_events):
    rng = np.random.default_rng(n_events)
    s, y = rng.random(n_events), rng.exponential(size=n_events)
    test = MI().fit(s, y)
    assert test.result_.details["pvalue_source"] == "chi2"
    assert test.result_.method == "asymptotic" and test.null_distribution_ is None
    # Exactly the reference's Gamma(dof/2, scale 1/N) law, bit for bit.
    assert test.log_pvalue_ == log_gamma_sf(test.dof_ / 2.0, n_events * test.statistic_)


def test_williams_regime_uses_the_corrected_law():
    rng = np.random.default_rng(3)
    s, y = rng.random(4_000), rng.random(4_000)
    test = MI(rel_uncertainty=0.065).fit(s, y)
    details = test.result_.details
    assert details["pvalue_source"] == "chi2_williams" and test.result_.method == "asymptotic"
    assert MAX_CHI2_SHIFT < test.chi2_mean_shift_ <= MAX_WILLIAMS_SHIFT
    assert details["expected_count_min"] >= MIN_WILLIAMS_EXPECTED
    expected = log_gamma_sf(test.dof_ / 2.0, 4_000 * test.statistic_ / test.williams_q_)
    assert test.log_pvalue_ == pytest.approx(expected, rel=1e-12)


def test_permutation_fallback_is_labelled_logged_and_not_capped(caplog):
    rng = np.random.default_rng(4)
    y = rng.random(20_000)
    s = rng.random(20_000)
    test = MI(rel_uncertainty=0.05, n_resamples=199, random_state=0)
    with caplog.at_level(logging.WARNING, logger="nhtad"):
        result = test.fit(s, y).result_
    details = result.details
    assert details["null"] == "permutation" and details["requested_method"] == "asymptotic"
    assert "exact permutation null" in details["note"]
    assert result.null_distribution.shape == (199,)
    (record,) = caplog.records
    suggested = float(re.search(r"rel_uncertainty=([0-9.]+) or less", record.message)[1])
    # The suggested binning restores a chi-square law.
    assert MI(rel_uncertainty=suggested).fit(s, y).result_.details["pvalue_source"] in {
        "chi2",
        "chi2_williams",
    }
    # A strong dependence: beyond every permutation, the fitted Gamma tail gives Z, labelled.
    dependent = MI(rel_uncertainty=0.05, n_resamples=199, random_state=0).fit(
        y + 0.5 * rng.normal(size=y.size), y
    )
    details = dependent.result_.details
    assert details["n_at_or_beyond"] == 0 and details["pvalue_source"] == "tail_law"
    assert dependent.result_.method == "asymptotic" and details["tail_law"]["law"] == "gamma"
    assert dependent.significance_ > stats.norm.isf(1 / 200) + 5


def test_explicit_permutation_reports_a_bound_when_no_resample_reaches():
    rng = np.random.default_rng(5)
    y = rng.random(4_000)
    result = (
        MI(rel_uncertainty=0.05, method="permutation", n_resamples=99, random_state=0)
        .fit(y + 0.3 * rng.normal(size=y.size), y)
        .result_
    )
    assert result.method == "bound" and result.details["pvalue_source"] == "bound"
    assert result.pvalue == pytest.approx(1 / 100)
    # The law's estimate is kept for information, far below the bound.
    assert result.details["tail_law"]["log_pvalue"] < math.log(1e-6)


# -- s == y: never p = 1 ------------------------------------------------------------------------
@pytest.mark.parametrize("n_events", [24, 30, 50, 100, 150, 1_000, 10_000])
def test_identical_s_and_y_is_significant_or_refused(n_events):
    # rel_uncertainty = 0.3 asks for 12 events a marginal bin: 833 x 833 bins of 10,000 events
    # used to give 2NI below the dof and p = 1.
    s = np.random.default_rng(n_events).random(n_events)
    try:
        test = MI(rel_uncertainty=0.3, n_resamples=199, random_state=0).fit(s, s)
    except ValueError as err:
        suggested = float(re.search(r"rel_uncertainty=([0-9.]+) or less", str(err))[1])
        test = MI(rel_uncertainty=suggested).fit(s, s)
        assert test.result_.details["pvalue_source"] in {"chi2", "chi2_williams"}
    assert test.pvalue_ < 1e-3
    assert test.significance_ > (5 if n_events >= 50 else 3)


def test_identical_s_and_y_is_strongly_significant_with_enough_events():
    s = np.random.default_rng(1).random(10_000)
    test = MI(rel_uncertainty=0.05).fit(s, s)  # 25 x 25 bins
    assert test.significance_ > 50
    # Explicit permutations on the sparse table: never p = 1, a bound at 1/(n + 1).
    result = MI(rel_uncertainty=0.3, method="permutation", n_resamples=49, random_state=0).test(
        s, s
    )
    assert result.method == "bound" and result.pvalue == pytest.approx(1 / 50)


def test_too_few_events_to_bin_is_a_value_error():
    s = np.random.default_rng(2).random(20)
    with pytest.raises(ValueError, match=r"have 20 events but the binning needs at least 24"):
        MI(rel_uncertainty=0.3).fit(s, s)


@pytest.mark.parametrize("y_bins", [None, 8, "region"])
def test_refusal_suggests_a_binning_that_works(y_bins):
    rng = np.random.default_rng(6)
    y = rng.uniform(3100.0, 3900.0, 30_000)
    s = np.where(rng.random(y.size) < 0.4, 0.5, rng.random(y.size))  # 40% tied
    spec = SignalRegion() if y_bins == "region" else y_bins
    with pytest.raises(ValueError, match="too sparse") as err:
        MI(rel_uncertainty=0.15, y_bins=spec).fit(s, y)
    suggested = float(re.search(r"rel_uncertainty=([0-9.]+) or less", str(err.value))[1])
    assert suggested < 0.15
    result = MI(rel_uncertainty=suggested, y_bins=spec).fit(s, y).result_
    assert result.details["pvalue_source"] in {"chi2", "chi2_williams"}


# -- the relabelled (simulation) null -----------------------------------------------------------
def _background(rng, n, slope=0.3):
    y = rng.random(n)
    return slope * y + rng.normal(size=n), y


def test_relabelled_null_z_is_not_capped_and_is_labelled():
    rng = np.random.default_rng(11)
    s_sim, y_sim = _background(rng, 30_000)
    s, y = _background(rng, 20_000)
    s = s + 1.0 * ((y > 0.45) & (y < 0.55))
    zs = {}
    for n_resamples in (199, 999):
        test = MI(
            rel_uncertainty=0.05, method="simulation", n_resamples=n_resamples, random_state=1
        ).fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
        result = test.result_
        details = result.details
        assert details["n_at_or_beyond"] == 0
        assert details["empirical_pvalue"] == pytest.approx(1 / (n_resamples + 1))
        assert result.method == "asymptotic" and details["pvalue_source"] == "tail_law"
        assert details["tail_law"]["law"] == "pearson3"  # 20k data vs 30k simulation: skewed
        assert "extrapolated" in details["note"]
        cap = stats.norm.isf(1 / (n_resamples + 1))
        assert test.significance_ > cap + 3
        zs[n_resamples] = test.significance_
    # A measurement, not a resolution limit: more resamples barely move it.
    assert zs[999] == pytest.approx(zs[199], rel=0.15)


def test_relabelled_null_is_empirical_inside_the_resamples():
    rng = np.random.default_rng(12)
    s, y = _background(rng, 20_000)
    s_sim, y_sim = _background(rng, 20_000)
    result = (
        MI(rel_uncertainty=0.05, method="simulation", n_resamples=999, random_state=2)
        .fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
        .result_
    )
    k = result.details["n_at_or_beyond"]
    assert k >= 10 and result.method == "resampled"
    assert result.details["pvalue_source"] == "empirical"
    assert result.pvalue == pytest.approx((1 + k) / 1000)


def _relabelled_pvalue(child, n_data, n_sim):
    rng = np.random.default_rng(child)
    s, y = _background(rng, n_data + n_sim)
    return (
        MI(rel_uncertainty=0.05, method="simulation", n_resamples=199, random_state=child)
        .fit(s[:n_data], y[:n_data], s_simulation=s[n_data:], y_simulation=y[n_data:])
        .pvalue_
    )


@pytest.mark.parametrize("n_data, n_sim", [(8_000, 20_000), (20_000, 8_000)])
def test_relabelled_null_is_nominal_for_exchangeable_samples(n_data, n_sim):
    # With 199 resamples every p < 0.05 comes from the fitted tail, so this checks the law.
    children = np.random.SeedSequence([n_data, n_sim]).spawn(200)
    pvalues = Parallel(n_jobs=2)(
        delayed(_relabelled_pvalue)(child, n_data, n_sim) for child in children
    )
    _assert_nominal(pvalues)


@pytest.fixture(scope="module")
def lhco_window():
    region = SignalRegion()
    samples = []
    for seed, simulation in ((1, False), (2, True)):
        events = make_lhco_like(800_000, simulation=simulation, random_state=seed).events
        events = events[region.in_window(events["mjj"])]
        samples.append((-events["tau21_1"], events["mjj"]))
    return region, samples


def test_relabelled_null_runs_with_signal_region_bins(lhco_window):
    # Regression: the pooled bins must be cut with the pooled min_count inside SignalRegion.
    region, ((s, mjj), (s_sim, mjj_sim)) = lhco_window
    test = MI(
        rel_uncertainty=0.02,
        y_bins=region,
        method="simulation",
        n_resamples=99,
        random_state=0,
    ).fit(s, mjj, s_simulation=s_sim, y_simulation=mjj_sim)
    for boundary in region.boundaries:
        assert boundary in test.y_edges_
    pooled = test.contingency_ + test.contingency_simulation_
    assert (pooled.sum(axis=0) >= test.min_bin_count_).all()
    assert (pooled.sum(axis=1) >= test.min_bin_count_).all()
    assert test.contingency_.sum() == s.size and test.contingency_simulation_.sum() == s_sim.size
    assert np.isfinite(test.significance_) and test.null_distribution_.shape == (99,)
    assert test.result_.details["null"] == "simulation"
