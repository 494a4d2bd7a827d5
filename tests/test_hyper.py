"""HyperTest over selection thresholds, and seed 004's NPLM-classifier path as a composition."""

import math

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from nhtad.calibration import LHCOToys, ToyCalibrator
from nhtad.scoring import HGBEnsembleClassifier, NPLMKernelEstimator, ScoreTransformer
from nhtad.stats import (
    AnomalyCutTest,
    HyperTest,
    TemplateCutAndCountTest,
    TestResult,
    ToyFloorWarning,
    combined_statistic,
    empirical_log_pvalue,
    log_pvalue_bound,
)

QUANTILES = [0.8, 0.9, 0.95, 0.99]


def _template_sample(seed=0, n_signal=0, shift=2.5):
    rng = np.random.default_rng(seed)
    data = np.r_[rng.normal(size=5000), rng.normal(shift, 0.2, n_signal)]
    s = np.r_[data, rng.normal(size=10_000)]
    y = np.r_[np.ones(data.size, int), np.zeros(10_000, int)]
    return s, y


def _hyper(**kwargs):
    return HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", QUANTILES, **kwargs)


@pytest.mark.parametrize("combine", ["min-p", "fisher", "average-p"])
def test_combined_statistic_and_its_dependence_free_bound(combine):
    s, y = _template_sample(n_signal=60)
    hyper = _hyper(combine=combine).fit(s, y)
    members = [TemplateCutAndCountTest(quantile=q).fit(s, y) for q in QUANTILES]
    log_p = np.array([m.log_pvalue_ for m in members])
    np.testing.assert_allclose(hyper.member_log_pvalues_, log_p)
    k = len(QUANTILES)
    if combine == "min-p":
        t, bound = -log_p.min(), math.log(k) + log_p.min()
    elif combine == "fisher":
        t, bound = -log_p.sum(), 1.0 + log_p.mean()
    else:
        mean_p = np.mean(np.exp(log_p))
        t, bound = -math.log(mean_p), math.log(2 * mean_p)
    assert hyper.statistic_ == pytest.approx(t)
    assert hyper.log_pvalue_ == pytest.approx(min(0.0, bound))
    # A bound, not an asymptotic law: the result says so (it said "asymptotic" before).
    assert hyper.result_.method == "bound" == hyper.result_.details["calibration"]
    assert hyper.statistic_ == combined_statistic(log_pvalues=log_p, combine=combine)
    assert hyper.log_pvalue_ == log_pvalue_bound(log_p, combine)
    # The best member is the one with the smallest p.
    assert hyper.result_.details["best_member"] == f"quantile={QUANTILES[np.argmin(log_p)]!r}"


@pytest.mark.filterwarnings("ignore::nhtad.stats.ToyFloorWarning")  # after the first fit
def test_calibrated_pvalue_is_the_empirical_one():
    s, y = _template_sample(n_signal=60)
    null = np.linspace(0.0, 5.0, 99)
    # The excess lies beyond every toy: the p-value is the floor 1/100, and says so.
    with pytest.warns(ToyFloorWarning, match="n = 99 null draws"):
        hyper = _hyper(null_distribution=null).fit(s, y)
    expected = (1 + np.sum(null >= hyper.statistic_ * (1 - 1e-12))) / 100
    assert hyper.pvalue_ == pytest.approx(expected)
    # Calibrated on toys of the whole chain: "toys" (it said "resampled" before).
    assert isinstance(hyper.test(s, y), TestResult) and hyper.result_.method == "toys"
    assert hyper.log_pvalue_ == empirical_log_pvalue(null, hyper.statistic_)


def test_an_excess_far_in_the_tail_keeps_a_finite_z():
    s, y = _template_sample(n_signal=3000)
    hyper = _hyper().fit(s, y)
    assert np.isfinite(hyper.significance_) and hyper.significance_ > 30


def test_bad_families_say_what_to_do():
    with pytest.raises(ValueError, match="strictly increasing"):
        HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", [0.9, 0.8])
    with pytest.raises(ValueError, match="strictly increasing"):
        HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", [0.9, 0.9])
    with pytest.raises(ValueError, match="at least 2"):
        HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", [0.9])
    with pytest.raises(ValueError, match="no parameter"):
        HyperTest.over_parameter(AnomalyCutTest(), "threshold", [1, 2])
    s, y = _template_sample()
    with pytest.raises(ValueError, match="combine must be"):
        _hyper(combine="max-t").fit(s, y)
    with pytest.raises(ValueError, match="non-empty list"):
        HyperTest([]).fit(s, y)
    with pytest.raises(ValueError, match="null_distribution must be"):
        _hyper(null_distribution=[np.nan, 1.0]).fit(s, y)
    # A member's own error comes through unchanged.
    with pytest.raises(ValueError, match="quantile"):
        HyperTest([TemplateCutAndCountTest(quantile=1.5)] * 2).fit(s, y)


def test_clone_and_params():
    hyper = _hyper()
    twin = clone(hyper)
    assert [n for n, _ in twin.tests] == [n for n, _ in hyper.tests]
    assert twin.tests[0][1] is not hyper.tests[0][1]


@pytest.mark.parametrize(
    "scorer",
    [
        pytest.param(
            ScoreTransformer(NPLMKernelEstimator(sigma=1.5, n_centers=200, standardize=True)),
            id="nplm-in-sample",
        ),
        pytest.param(
            ScoreTransformer(HGBEnsembleClassifier(n_estimators=3, max_iter=30), cv=3, refit=False),
            id="hgb-out-of-fold",
        ),
    ],
)
# 12 toys: the signal sample lies beyond them, at the floor 1/13 the test checks.
@pytest.mark.filterwarnings("ignore::nhtad.stats.ToyFloorWarning")
def test_seed_004_classifier_path_calibrated_on_toys_of_the_whole_chain(scorer):
    """NPLM's f(x) (or HGB's out-of-fold score) -> cut-and-count at 4 thresholds -> HyperTest,
    with its null from toys that retrain the score every time (acceptance, Deliver 5)."""
    pipe = make_pipeline(scorer, _hyper())
    null = ToyCalibrator(pipe, LHCOToys(30_000), n_toys=12, random_state=0).fit()
    assert null.null_distribution_.shape == (12,)
    assert np.all(np.isfinite(null.null_distribution_))
    # The signal toys' hyper-statistic sits above the null toys'.
    null.fit_alternative(LHCOToys(30_000, signal_to_background=0.05), 4, random_state=1)
    assert np.median(null.alternative_distribution_) > np.max(null.null_distribution_)
    # Calibrated test of one observed sample, through the pipeline.
    X, y = LHCOToys(30_000, signal_to_background=0.05)(5)
    pipe.set_params(hypertest__null_distribution=null.null_distribution_)
    pipe.fit(X, y)
    result = pipe[-1].result_
    assert result.method == "toys"
    assert result.pvalue == pytest.approx(1 / 13)
