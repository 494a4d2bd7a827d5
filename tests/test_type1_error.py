"""Type-I error: p-values of many seeded independent datasets must be uniform.

Each test draws independent (s, y) datasets from parent-spawned seeds, computes the p-value of
each, and checks them against U(0, 1) with a Kolmogorov-Smirnov test (p > 0.01), plus the
rejection rate at alpha = 0.05. The `slow` variants use >= 1000 datasets.
"""

import numpy as np
import pytest
from scipy import stats

from nhtad.datasets import SignalRegion, make_lhco_like
from nhtad.stats import DistanceCorrelationTest, HoeffdingDTest, MutualInformationIndependenceTest


def _datasets(n_datasets, n_events, seed, *, tied_fraction=0.0):
    for child in np.random.SeedSequence(seed).spawn(n_datasets):
        rng = np.random.default_rng(child)
        # Non-uniform marginals on purpose: a falling "mass" and a skewed "score".
        y = 3100.0 + rng.exponential(300.0, n_events)
        s = rng.beta(2.0, 5.0, n_events)
        if tied_fraction:
            s[rng.random(n_events) < tied_fraction] = 0.25
        yield s, y


def _assert_uniform(pvalues, n_datasets):
    pvalues = np.asarray(pvalues)
    assert pvalues.shape == (n_datasets,)
    assert ((pvalues > 0) & (pvalues <= 1)).all()
    ks = stats.kstest(pvalues, "uniform")
    assert ks.pvalue > 0.01, f"p-values not uniform: KS p = {ks.pvalue:.3g}"
    rate = np.mean(pvalues < 0.05)
    # Binomial 99.9% band around 0.05.
    half = 3.3 * np.sqrt(0.05 * 0.95 / n_datasets)
    assert abs(rate - 0.05) < half, f"rejection rate {rate:.3f} at alpha = 0.05"


def _mi_pvalues(n_datasets, n_events, rel, seed, **kwargs):
    test = MutualInformationIndependenceTest(rel_uncertainty=rel)
    return [test.fit(s, y).pvalue_ for s, y in _datasets(n_datasets, n_events, seed, **kwargs)]


def test_mi_type1_small_tables():
    _assert_uniform(_mi_pvalues(300, 20_000, 0.02, seed=1), 300)


def test_mi_type1_reference_configuration():
    # The reference's own operating point: N = 250k, 1% per marginal bin (25 x 25 bins).
    _assert_uniform(_mi_pvalues(300, 250_000, 0.01, seed=2), 300)


def test_mi_type1_with_a_point_mass_in_the_score():
    _assert_uniform(_mi_pvalues(300, 40_000, 0.02, seed=3, tied_fraction=0.6), 300)


@pytest.mark.parametrize("Test", [DistanceCorrelationTest, HoeffdingDTest])
def test_rank_tests_type1(Test):
    pvalues = [
        Test(random_state=k).fit(s, y).pvalue_
        for k, (s, y) in enumerate(_datasets(300, 500, seed=4))
    ]
    _assert_uniform(pvalues, 300)


@pytest.mark.slow
def test_mi_type1_slow():
    _assert_uniform(_mi_pvalues(1000, 250_000, 0.01, seed=11), 1000)
    _assert_uniform(_mi_pvalues(1000, 20_000, 0.02, seed=12, tied_fraction=0.5), 1000)


@pytest.mark.slow
@pytest.mark.parametrize("Test", [DistanceCorrelationTest, HoeffdingDTest])
@pytest.mark.parametrize("n_events", [200, 2000])
def test_rank_tests_type1_slow(Test, n_events):
    pvalues = [
        Test(random_state=k).fit(s, y).pvalue_
        for k, (s, y) in enumerate(_datasets(1000, n_events, seed=13, tied_fraction=0.3))
    ]
    _assert_uniform(pvalues, 1000)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["permutation", "bootstrap"])
def test_mi_resampled_type1_slow(method):
    pvalues = [
        MutualInformationIndependenceTest(0.03, method=method, n_resamples=199, random_state=k)
        .fit(s, y)
        .pvalue_
        for k, (s, y) in enumerate(_datasets(400, 20_000, seed=14))
    ]
    # Resampled p-values live on the grid k / 200: compare with a jittered uniform.
    jitter = np.random.default_rng(0).uniform(0, 1 / 200, len(pvalues))
    _assert_uniform(np.asarray(pvalues) - jitter, 400)


@pytest.mark.slow
def test_generator_background_keeps_tau21_independent_of_mjj():
    # The whole path at S/B = 0: generated events, a tau21 score, the window, the MI test.
    region = SignalRegion()
    pvalues = []
    for seed in range(300):
        sample = make_lhco_like(100_000, random_state=seed)
        events = sample.events[region.in_window(sample.events["mjj"])]
        score = -(events["tau21_1"] + events["tau21_2"])
        test = MutualInformationIndependenceTest(0.03, y_bins=region)
        pvalues.append(test.fit(score, events["mjj"]).pvalue_)
    _assert_uniform(pvalues, 300)
