"""Issue 15: bad inputs that used to pass silently or fail unclearly, one test per probe.

Each test names the probe of the issue. A refusal is checked by its message (what was wrong,
what to do); a fixed behaviour by its numbers.
"""

import math

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from nhtad.calibration import run_toys
from nhtad.scoring import HGBEnsembleClassifier, decorrelation_report, out_of_fold_scores
from nhtad.stats import (
    HoeffdingDTest,
    HyperTest,
    MutualInformationIndependenceTest,
    TemplateCutAndCountTest,
)
from nhtad.stats.pvalues import (
    chi2_log_sf,
    log_pvalue_to_significance,
    pvalue_to_significance,
    significance_to_log_pvalue,
)
from nhtad.utils import validation
from nhtad.utils.random import spawn_children

MI = MutualInformationIndependenceTest


@pytest.fixture
def classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    return X, (X[:, 0] + 0.3 * rng.normal(size=300) > 0).astype(int)


# 1 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (-np.ones(300), r"300 negative values \(smallest -1.*non-negative weights"),
        (np.r_[-2.0, np.ones(299)], r"1 negative values \(smallest -2, first at indices \[0\]\)"),
        (np.zeros(300), "all sample weights are zero: nothing to train on"),
        (np.r_[np.nan, np.ones(299)], r"sample_weight contains 1 NaN \(first at indices \[0\]\)"),
        (np.r_[np.ones(299), np.inf], r"sample_weight contains 1 inf"),
    ],
    ids=["negative", "one-negative", "all-zero", "nan", "inf"],
)
def test_hgb_refuses_negative_zero_and_nonfinite_sample_weights(classes, weights, message):
    # Negative weights gave a constant score (the boosting loss has no minimum), silently.
    X, y = classes
    with pytest.raises(ValueError, match=message):
        HGBEnsembleClassifier(n_estimators=2, max_iter=5, random_state=0).fit(
            X, y, sample_weight=weights
        )


# 2 -------------------------------------------------------------------------------------------
def test_decorrelation_report_refuses_a_third_truth_value():
    rng = np.random.default_rng(0)
    n = 4000
    s, mjj = rng.random(n), rng.uniform(3100, 3900, n)
    truth = rng.integers(0, 3, n)
    # auc_signal used to come back None: the events with truth 2 left both classes.
    with pytest.raises(ValueError, match="got the values 0, 1, 2, of which 2 are neither"):
        decorrelation_report(s, mjj, truth=truth)
    # Simulation rows are ignored: their label may be anything finite.
    sim = truth == 2
    report = decorrelation_report(s, mjj, is_simulation=sim, truth=truth, mi_test=MI(0.05))
    assert report.auc_signal is not None


# 3 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expected", [True, False, 0, -5.0, math.nan, math.inf, "100"])
def test_nplm_refuses_bool_and_nonpositive_expected_n_data(expected):
    pytest.importorskip("torch")
    from nhtad.scoring import NPLMKernelEstimator

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 2)), np.r_[np.ones(50), np.zeros(50)]
    # True passed as 1 expected event (bool is an int), so w was 1 / N_ref without a word.
    with pytest.raises(ValueError, match=r"expected_n_data must be a positive finite number"):
        NPLMKernelEstimator(sigma=1.0, expected_n_data=expected, random_state=0).fit(X, y)


# 4 -------------------------------------------------------------------------------------------
def test_significance_to_log_pvalue_refuses_nan():
    with pytest.raises(ValueError, match="significance must not be NaN"):
        significance_to_log_pvalue(math.nan)
    with pytest.raises(ValueError, match="significance must not be NaN"):
        significance_to_log_pvalue([1.0, math.nan])
    # The siblings refuse NaN too.
    with pytest.raises(ValueError, match="not NaN"):
        log_pvalue_to_significance(math.nan)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        pvalue_to_significance(math.nan)
    with pytest.raises(ValueError, match="NaN"):
        chi2_log_sf(math.nan, 3)
    # Infinities are the ends of the scale, both ways.
    assert significance_to_log_pvalue(math.inf) == -math.inf
    assert significance_to_log_pvalue(-math.inf) == 0.0
    assert log_pvalue_to_significance(-math.inf) == math.inf
    assert log_pvalue_to_significance(0.0) == -math.inf
    assert significance_to_log_pvalue(5.0) == pytest.approx(math.log(2.866515718791939e-07))


# 5 -------------------------------------------------------------------------------------------
def _uniform_pair(random_state):
    rng = np.random.default_rng(random_state)
    return rng.random(4000), rng.random(4000)


def test_reused_seed_sequence_gives_the_same_null_twice():
    # SeedSequence.spawn counts its calls, so the second use of the same object gave other
    # resamples and other toys.
    s, y = _uniform_pair(1)
    seed = np.random.SeedSequence(2024)
    for method in ("permutation", "bootstrap"):
        test = MI(rel_uncertainty=0.1, method=method, n_resamples=30)
        first = test.set_params(random_state=seed).fit(s, y).null_distribution_
        second = test.set_params(random_state=seed).fit(s, y).null_distribution_
        np.testing.assert_array_equal(first, second)
        # And the same as an int seed of the same entropy: int results did not change.
        by_int = test.set_params(random_state=2024).fit(s, y).null_distribution_
        np.testing.assert_array_equal(first, by_int)

    toys_seed = np.random.SeedSequence(7)
    estimator = MI(rel_uncertainty=0.05)
    first = run_toys(estimator, _uniform_pair, 4, batch_size=2, random_state=toys_seed)
    second = run_toys(estimator, _uniform_pair, 4, batch_size=2, random_state=toys_seed)
    np.testing.assert_array_equal(first.statistics, second.statistics)
    assert toys_seed.n_children_spawned == 0

    # spawn_children is seed.spawn(n) on a fresh seed, without touching the seed.
    for root in (np.random.SeedSequence(5), np.random.SeedSequence(5, pool_size=8)):
        ours = [c.generate_state(4).tolist() for c in spawn_children(root, 6)]
        assert [c.generate_state(4).tolist() for c in root.spawn(6)] == ours


# 6 -------------------------------------------------------------------------------------------
def test_mi_binning_of_scores_near_the_largest_double():
    rng = np.random.default_rng(3)
    # 18 score bins of 1112 events (rel_uncertainty=0.03) and two equal classes: a cut falls
    # between -1e308 and +1e308, whose midpoint overflowed to inf.
    n = 18 * 1112
    y_class = rng.permutation(np.r_[np.zeros(n // 2), np.ones(n // 2)])
    mjj = rng.random(n) + y_class  # the score decides which half of m_jj an event is in
    # Noise that large stays visible next to 1e308 (a relative 1e-8).
    s = y_class * 1e308 - (1 - y_class) * 1e308 + rng.normal(size=n) * 1e300
    test = MI(rel_uncertainty=0.03).fit(s, mjj)
    # An edge at inf left the bins above it empty (and the fit died in an OverflowError);
    # with only two bins it put every event in one: p = 1 for a score that decides y.
    assert np.isfinite(test.s_edges_).all()
    assert test.n_bins_[0] == 18 and (test.contingency_.sum(axis=1) == 1112).all()
    assert test.s_edges_[8] < 0 < test.s_edges_[10]
    assert test.log_pvalue_ < -1000

    # Finite scores whose range overflows: max - min = inf.
    s_wide = rng.uniform(-1.7, 1.7, n) * 1e308
    with np.errstate(over="ignore"):
        assert np.isinf(s_wide.max() - s_wide.min())
    mjj_wide = rng.random(n) + (s_wide > 0)
    wide = MI(rel_uncertainty=0.03).fit(s_wide, mjj_wide)
    assert np.isfinite(wide.s_edges_).all() and (np.diff(wide.s_edges_) > 0).all()
    counts = wide.contingency_.sum(axis=1)
    assert counts.min() >= wide.min_bin_count_
    assert wide.log_pvalue_ < -1000
    # Same table as the same scores on an ordinary scale: the binning is exact.
    np.testing.assert_array_equal(
        MI(rel_uncertainty=0.03).fit(s_wide / 1e308, mjj_wide).contingency_, wide.contingency_
    )


# 7 -------------------------------------------------------------------------------------------
def test_out_of_fold_scores_with_a_short_sample_weight():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(100, 2)), np.r_[np.ones(50), np.zeros(50)]
    # Failed deep in numpy with an IndexError when the folds sliced the weights.
    with pytest.raises(ValueError, match=r"got 60 weights for 100 events"):
        out_of_fold_scores(LogisticRegression(), X, y, sample_weight=np.ones(60), cv=2)
    scores = out_of_fold_scores(
        LogisticRegression(), X, y, sample_weight=np.ones(100), cv=2, random_state=0
    )
    assert scores.scores.shape == (100,)


# 8 -------------------------------------------------------------------------------------------
def test_nplm_overflow_says_what_overflowed():
    pytest.importorskip("torch")
    from nhtad.scoring import NPLMKernelEstimator
    from nhtad.scoring.nplm import _nonfinite_statistic_message

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    X[:100] += 0.5
    y = np.r_[np.ones(100), np.zeros(100)]
    huge = X * 1e200
    # The Cholesky factorisation of a NaN kernel failed with "Increase lam".
    with pytest.raises(ValueError, match=r"features reach .*overflow float64.*standardize=True"):
        NPLMKernelEstimator(sigma=1.0, random_state=0).fit(huge, y)
    with pytest.raises(ValueError, match=r"overflow float64.*cannot fix this"):
        NPLMKernelEstimator(random_state=0).fit(huge, y)
    # The advice works: standardised, the huge features give the fit of the ordinary ones
    # (solved exactly: the recipe's truncated CG moves t by ~1e-5 with the inputs' last bits).
    nplm = NPLMKernelEstimator(sigma=1.0, standardize=True, solver="exact", random_state=0)
    fitted = nplm.fit(huge, y).statistic_
    assert fitted == pytest.approx(nplm.fit(X, y).statistic_, rel=1e-8)
    # Standardised, an event far outside the reference is named as such.
    outlier = X.copy()
    outlier[0, 0] = 1e200
    with pytest.raises(ValueError, match=r"standard deviations away.*corrupt values"):
        NPLMKernelEstimator(sigma=1.0, standardize=True, random_state=0).fit(outlier, y)

    # A non-finite statistic says which of its parts overflowed.
    is_data = np.r_[True, False, False]
    assert "reaches 800 on reference events" in _nonfinite_statistic_message(
        np.array([0.0, 800.0, 1.0]), is_data, 1.0
    )
    assert "NaN or inf on 1 of 3 events" in _nonfinite_statistic_message(
        np.array([0.0, np.nan, 1.0]), is_data, 1.0
    )
    assert "Check expected_n_data" in _nonfinite_statistic_message(
        np.array([0.0, 600.0, 1.0]), is_data, 1e300
    )


def test_nplm_cholesky_of_a_nonfinite_matrix_is_not_a_lam_problem():
    torch = pytest.importorskip("torch")
    from nhtad.scoring.nystrom import upper_cholesky

    matrix = torch.eye(3, dtype=torch.float64)
    matrix[1, 1] = math.nan
    with pytest.raises(ValueError, match=r"holds NaN or inf.*raising lam cannot fix this"):
        upper_cholesky(matrix, "centre kernel matrix K_MM")


# 9 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("cut", r"member 'test0' is not a test: it is a str \('cut'\) with no fit method"),
        (LogisticRegression(), r"member 'test0' is a LogisticRegression, a model .*not a test"),
        (("named", LogisticRegression()), r"member 'named' is a LogisticRegression"),
        (("named",), r"tuple of 1 items.*\(name, test\) pair"),
    ],
    ids=["string", "classifier", "named-classifier", "short-tuple"],
)
def test_hyper_test_refuses_a_member_that_is_not_a_test(member, message):
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=3000), np.r_[np.ones(1000), np.zeros(2000)]
    with pytest.raises(ValueError, match=message) as info:
        HyperTest([member, TemplateCutAndCountTest()]).fit(s, y)
    assert "fit(s, y) sets log_pvalue_" in str(info.value) or "pair" in str(info.value)


# 10 ------------------------------------------------------------------------------------------
def test_sizes_that_cannot_fit_in_memory_are_refused_up_front(monkeypatch, classes):
    # Pinned memory, so the test means the same on any machine.
    monkeypatch.setattr(validation, "total_memory_bytes", lambda: 64 * 10**9)
    X, y = classes
    s, mjj = _uniform_pair(0)
    with pytest.raises(
        ValueError,
        match=r"n_resamples=10000000000 needs at least ~160 GB to hold the null statistics .*"
        r"more than the 64 GB of memory of this machine: at most ~4e\+09 fit\. Use fewer resamples",
    ):
        MI(rel_uncertainty=0.1, method="permutation", n_resamples=10**10).fit(s, mjj)
    with pytest.raises(ValueError, match=r"n_resamples=10000000000 needs at least"):
        HoeffdingDTest(method="permutation", n_resamples=10**10).fit(s, mjj)
    with pytest.raises(
        ValueError,
        match=r"n_estimators=1000000000 needs at least ~10 TB to hold the fitted members",
    ):
        HGBEnsembleClassifier(n_estimators=10**9).fit(X, y)

    # Ordinary sizes keep working.
    null = MI(rel_uncertainty=0.1, method="permutation", n_resamples=10_000, random_state=0)
    assert null.fit(s[:1000], mjj[:1000]).null_distribution_.size == 10_000
    member = HistGradientBoostingClassifier(max_iter=1).fit(X, y)
    # The members' training is not what is tested here: one fitted member stands in for all.
    monkeypatch.setattr("nhtad.scoring.hgb._fit_member", lambda *args: member)
    ensemble = HGBEnsembleClassifier(n_estimators=1000, random_state=0).fit(X, y)
    assert len(ensemble.estimators_) == 1000
