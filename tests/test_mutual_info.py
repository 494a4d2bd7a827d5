import math

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import mutual_info_score

from nhtad.datasets import SignalRegion
from nhtad.stats import (
    MutualInformationIndependenceTest,
    TestResult,
    min_count_for,
    mutual_information,
)

MI = MutualInformationIndependenceTest


@pytest.fixture(scope="module")
def independent():
    rng = np.random.default_rng(10)
    return rng.random(60_000), rng.exponential(size=60_000)


def test_mutual_information_matches_sklearn_on_labels():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 5000), rng.integers(0, 7, 5000)
    b = np.where(rng.random(5000) < 0.3, a, b)
    table = np.zeros((5, 7))
    np.add.at(table, (a, b), 1)
    assert mutual_information(table) == pytest.approx(mutual_info_score(a, b), rel=1e-12)
    batch = mutual_information(np.stack([table, table.T.T]))
    np.testing.assert_allclose(batch, mutual_info_score(a, b), rtol=1e-12)


def test_fit_sets_fitted_attributes_and_result(independent):
    s, y = independent
    test = MI(rel_uncertainty=0.02).fit(s, y)
    assert test.n_bins_ == (24, 24)
    assert test.dof_ == 23 * 23
    assert test.contingency_.sum() == test.n_events_ == s.size
    assert test.s_edges_.size == 25 and test.y_edges_.size == 25
    for name in ("statistic_", "pvalue_", "log_pvalue_", "significance_"):
        assert np.isfinite(getattr(test, name))
    assert test.null_distribution_ is None
    result = test.result_
    assert isinstance(result, TestResult)
    assert result.method == "asymptotic"
    assert result.statistic == test.statistic_ and result.significance == test.significance_
    # The asymptotic null: I ~ Gamma((d_s - 1)(d_y - 1)/2, scale=1/N).
    expected_p = stats.gamma(a=test.dof_ / 2, scale=1 / s.size).sf(test.statistic_)
    assert test.pvalue_ == pytest.approx(expected_p, rel=1e-9)
    assert test.significance_ == pytest.approx(stats.norm.isf(expected_p), rel=1e-9)


def test_test_returns_result_and_score_returns_z_without_refitting(independent):
    s, y = independent
    test = MI(rel_uncertainty=0.02)
    z = test.score(s, y)
    assert not hasattr(test, "statistic_"), "score must not fit self"
    result = test.test(s, y)
    assert isinstance(result, TestResult)
    assert z == pytest.approx(result.significance)


def test_user_y_edges_are_kept_exactly(independent):
    s, y = independent
    edges = np.quantile(y, np.linspace(0, 1, 7))
    edges[0], edges[-1] = 0.0, y.max() + 1.0
    test = MI(rel_uncertainty=0.02, y_bins=edges).fit(s, y)
    np.testing.assert_array_equal(test.y_edges_, edges)
    assert test.n_bins_[1] == 6


def test_integer_y_bins_gives_that_many_equal_count_bins(independent):
    s, y = independent
    test = MI(rel_uncertainty=0.02, y_bins=10).fit(s, y)
    assert test.n_bins_[1] == 10
    assert np.ptp(test.contingency_.sum(axis=0)) <= 1


def test_signal_region_boundaries_become_y_edges():
    rng = np.random.default_rng(4)
    region = SignalRegion()
    y = rng.uniform(3100.0, 3900.0, 120_000)
    s = rng.random(y.size)
    test = MI(rel_uncertainty=0.02, y_bins=region).fit(s, y)
    for boundary in region.boundaries:
        assert boundary in test.y_edges_
    assert (test.contingency_.sum(axis=0) >= 2500).all()


def test_resampled_nulls_agree_with_the_gamma_law(independent):
    s, y = independent
    rel = 0.0142  # 12 x 12 bins (~5,000 events a bin), where the Gamma law holds
    asym = MI(rel_uncertainty=rel).fit(s, y)
    assert asym.n_bins_ == (12, 12) and asym.result_.details["pvalue_source"] == "chi2"
    for method in ("permutation", "bootstrap"):
        test = MI(rel_uncertainty=rel, method=method, n_resamples=300, random_state=0).fit(s, y)
        assert test.result_.method == "resampled"
        null = test.null_distribution_
        assert null.shape == (300,)
        gamma_mean = asym.dof_ / 2 / s.size
        assert null.mean() == pytest.approx(gamma_mean, rel=0.05)
        assert test.pvalue_ == pytest.approx((1 + np.sum(null >= test.statistic_)) / 301)


@pytest.mark.parametrize("method", ["permutation", "bootstrap"])
def test_same_random_state_same_result_for_any_n_jobs(independent, method):
    s, y = independent
    runs = [
        MI(rel_uncertainty=0.04, method=method, n_resamples=120, n_jobs=n_jobs, random_state=7).fit(
            s, y
        )
        for n_jobs in (1, 2)
    ]
    np.testing.assert_array_equal(runs[0].null_distribution_, runs[1].null_distribution_)
    assert runs[0].pvalue_ == runs[1].pvalue_
    other = MI(rel_uncertainty=0.04, method=method, n_resamples=120, random_state=8).fit(s, y)
    assert not np.array_equal(other.null_distribution_, runs[0].null_distribution_)


def test_huge_tie_in_scores_is_handled():
    rng = np.random.default_rng(5)
    n = 250_000
    y = rng.uniform(3100, 3900, n)
    s = np.where(rng.random(n) < 0.8, 0.5, rng.random(n))
    test = MI().fit(s, y)
    counts = test.contingency_.sum(axis=1)
    assert (counts >= 10_000).all()
    assert (np.diff(test.s_edges_) > 0).all()
    assert counts.max() >= 0.8 * n


def test_tail_z_is_finite_large_and_grows_with_dependence():
    rng = np.random.default_rng(6)
    n = 250_000
    y = rng.uniform(3100, 3900, n)
    noise = rng.normal(size=n)
    zs = []
    for strength in (0.3, 0.5, 0.8, 1.5):
        s = strength * (y - 3500) / 230 + noise
        test = MI().fit(s, y)
        assert np.isfinite(test.significance_) and np.isfinite(test.log_pvalue_)
        zs.append(test.significance_)
    assert zs[0] > 38
    assert all(b > a for a, b in zip(zs, zs[1:]))
    assert zs[-1] > 100


# ---------------------------------------------------------------- bad input
@pytest.fixture
def good():
    rng = np.random.default_rng(9)
    return rng.random(30_000), rng.random(30_000)


@pytest.mark.parametrize("which", ["s", "y"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(good, which, bad):
    s, y = (v.copy() for v in good)
    (s if which == "s" else y)[17] = bad
    with pytest.raises(
        ValueError, match=rf"{which} contains .*first at indices \[17\].*never drops"
    ):
        MI(rel_uncertainty=0.05).fit(s, y)


def test_length_mismatch_is_refused(good):
    s, y = good
    with pytest.raises(ValueError, match=r"len\(s\)=30000 and len\(y\)=29999"):
        MI(rel_uncertainty=0.05).fit(s, y[:-1])


def test_two_dimensional_s_is_refused(good):
    s, y = good
    with pytest.raises(ValueError, match=r"s must be 1-D .*shape \(30000, 2\)"):
        MI(rel_uncertainty=0.05).fit(np.column_stack([s, s]), y)


def test_single_column_s_is_accepted(good):
    s, y = good
    a = MI(rel_uncertainty=0.02).fit(s[:, None], y)
    b = MI(rel_uncertainty=0.02).fit(s, y)
    assert a.statistic_ == b.statistic_


def test_too_few_events_message_gives_the_minimum(good):
    s, y = good
    with pytest.raises(ValueError, match=r"have 15000 events but the binning needs at least 20000"):
        MI(rel_uncertainty=0.01).fit(s[:15_000], y[:15_000])


@pytest.mark.parametrize("n", [15_000, 15_001, 333])
def test_the_suggested_rel_uncertainty_works(good, n):
    s, y = good
    with pytest.raises(ValueError, match=rf"have {n} events .*smallest value") as err:
        MI(rel_uncertainty=0.01).fit(s[:n], y[:n])
    suggested = float(str(err.value).rsplit("is ", 1)[1].rstrip(").").strip())
    assert MI(rel_uncertainty=suggested).fit(s[:n], y[:n]).n_bins_[0] == 2


def test_too_few_events_for_integer_y_bins(good):
    s, y = good
    with pytest.raises(ValueError, match=r"y_bins=24 .* need at least 240000 events; got 30000"):
        MI(rel_uncertainty=0.01, y_bins=24).fit(s, y)


def test_constant_score_is_refused(good):
    _, y = good
    with pytest.raises(ValueError, match="s is constant"):
        MI(rel_uncertainty=0.05).fit(np.full(y.size, 0.5), y)


def test_score_point_mass_too_large_to_split(good):
    s, y = good
    s = s.copy()
    s[: int(0.99 * s.size)] = 0.5
    with pytest.raises(ValueError, match=r"sit at the single value 0.5"):
        MI(rel_uncertainty=0.05).fit(s, y)


def test_empty_signal_region_or_sideband_is_refused():
    rng = np.random.default_rng(11)
    region = SignalRegion()
    s = rng.random(60_000)
    sidebands_only = np.concatenate(
        [rng.uniform(3100, 3300, 30_000), rng.uniform(3700, 3900, 30_000)]
    )
    with pytest.raises(ValueError, match=r"signal region \[3300, 3700\) GeV holds 0 events"):
        MI(rel_uncertainty=0.02, y_bins=region).fit(s, sidebands_only)
    # y given as the region label: an empty sideband makes it constant.
    with pytest.raises(
        ValueError, match=r"y is constant .*signal region or the sidebands are empty"
    ):
        MI(rel_uncertainty=0.02).fit(s, np.ones(s.size))


def test_events_outside_the_region_window_are_refused(good):
    s, _ = good
    y = np.linspace(3000, 3900, s.size)
    with pytest.raises(ValueError, match=r"outside the window.*in_window"):
        MI(rel_uncertainty=0.05, y_bins=SignalRegion()).fit(s, y)


@pytest.mark.parametrize("rel", [0.0, 1.0, -0.1, 1.5, np.nan, "0.01", True])
def test_rel_uncertainty_outside_unit_interval_is_refused(good, rel):
    s, y = good
    with pytest.raises(
        ValueError, match=r"rel_uncertainty must be a number in the open interval \(0, 1\)"
    ):
        MI(rel_uncertainty=rel).fit(s, y)


def test_too_sparse_user_edges_are_refused(good):
    s, y = good
    with pytest.raises(ValueError, match=r"hold fewer than 400 events"):
        MI(rel_uncertainty=0.05, y_bins=[0.0, 0.001, 0.5, 1.0]).fit(s, y)


def test_unknown_method_is_refused(good):
    s, y = good
    with pytest.raises(ValueError, match="method must be one of"):
        MI(method="exact").fit(s, y)


def test_log_space_result_when_p_underflows():
    rng = np.random.default_rng(12)
    y = rng.random(200_000)
    test = MI().fit(y + 0.01 * rng.normal(size=y.size), y)
    assert test.pvalue_ == 0.0
    assert np.isfinite(test.log_pvalue_) and test.log_pvalue_ < -745
    assert math.isfinite(test.significance_)


# -- simulation-referenced null ------------------------------------------------------------
def _dependent_background(rng, n):
    # A score that depends on y in background itself, as a trained score does through
    # m_jj-correlated features: the asymptotic null rejects, the simulation null must not.
    y = rng.random(n)
    return 0.05 * y + rng.normal(size=n), y


def test_simulation_null_cancels_background_dependence():
    rng = np.random.default_rng(7)
    p_sim, data = [], []
    for k in range(60):
        s, y = _dependent_background(rng, 20_000)
        s_sim, y_sim = _dependent_background(rng, 25_000)
        test = MutualInformationIndependenceTest(
            rel_uncertainty=0.05, method="simulation", n_resamples=199, random_state=k
        ).fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
        p_sim.append(test.pvalue_)
        data.append((s, y))
    assert stats.kstest(p_sim, "uniform").pvalue > 0.01
    # The dependence is real: the plain test sees it in the 1.2M events of all 60 data sets,
    # with bins where its chi-square law holds. (Per set, 20k events in 50 x 50 bins, it was
    # the sparse cells' bias that made the chi-square law reject, not the dependence.)
    s_all, y_all = (np.concatenate(v) for v in zip(*data))
    plain = MutualInformationIndependenceTest(rel_uncertainty=0.01, y_bins=4).fit(s_all, y_all)
    assert plain.result_.details["pvalue_source"] == "chi2"
    assert plain.significance_ > 3


def test_simulation_null_detects_data_only_dependence_and_reports_both_tables():
    rng = np.random.default_rng(8)
    s_sim, y_sim = _dependent_background(rng, 40_000)
    y = rng.random(40_000)
    s = 0.05 * y + rng.normal(size=40_000) + 0.6 * ((y > 0.45) & (y < 0.55))
    test = MutualInformationIndependenceTest(
        rel_uncertainty=0.05, method="simulation", n_resamples=999, random_state=0
    ).fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
    assert test.significance_ > 3
    assert test.statistic_ == pytest.approx(
        test.mutual_information_ - test.mutual_information_simulation_
    )
    assert test.contingency_.sum() == 40_000 and test.contingency_simulation_.sum() == 40_000
    assert test.null_distribution_.shape == (999,)
    # No relabelling reaches the statistic: p comes from the tail law fitted to the resamples,
    # labelled as such, and Z is not capped at the empirical 1/1000.
    details = test.result_.details
    assert details["n_at_or_beyond"] == 0 and details["empirical_pvalue"] == pytest.approx(1e-3)
    assert test.result_.method == "asymptotic" and details["pvalue_source"] == "tail_law"
    assert test.log_pvalue_ == pytest.approx(details["tail_law"]["log_pvalue"])
    assert test.significance_ > stats.norm.isf(1e-3) + 2
    # Every pooled marginal bin gives the smaller sample its share of the uncertainty rule.
    pooled = test.contingency_ + test.contingency_simulation_
    assert pooled.sum(axis=1).min() >= 2 * min_count_for(0.05)


def test_simulation_null_reproducible_for_any_n_jobs():
    rng = np.random.default_rng(9)
    s, y = _dependent_background(rng, 20_000)
    s_sim, y_sim = _dependent_background(rng, 20_000)
    kw = {"rel_uncertainty": 0.05, "method": "simulation", "n_resamples": 2500}
    a = MutualInformationIndependenceTest(random_state=3, **kw).fit(
        s, y, s_simulation=s_sim, y_simulation=y_sim
    )
    b = MutualInformationIndependenceTest(random_state=3, n_jobs=2, **kw).fit(
        s, y, s_simulation=s_sim, y_simulation=y_sim
    )
    np.testing.assert_array_equal(a.null_distribution_, b.null_distribution_)


def test_simulation_null_input_errors():
    rng = np.random.default_rng(10)
    s, y = rng.random(20_000), rng.random(20_000)
    with pytest.raises(ValueError, match="pass fit\\(s, y, s_simulation"):
        MutualInformationIndependenceTest(rel_uncertainty=0.05, method="simulation").fit(s, y)
    with pytest.raises(ValueError, match="only with method='simulation'"):
        MutualInformationIndependenceTest(rel_uncertainty=0.05).fit(
            s, y, s_simulation=s, y_simulation=y
        )
    bad = s.copy()
    bad[4] = np.nan
    with pytest.raises(ValueError, match="s_simulation contains 1 NaN"):
        MutualInformationIndependenceTest(rel_uncertainty=0.05, method="simulation").fit(
            s, y, s_simulation=bad, y_simulation=y
        )
