"""scikit-learn conventions for nhtad's test objects.

Tests of the null take a score vector and a resonant variable, not a feature matrix, so
`parametrize_with_checks` (which feeds 2-D X to fit/predict) does not apply to them: this is the
documented exception. The checks below are the API-level subset of sklearn's estimator checks,
run through sklearn's own check functions, plus the conventions that matter for pipelines and
toy calibration (clone, pickle, score without side effects).
"""

import dataclasses
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec
from sklearn.utils.validation import check_is_fitted

from nhtad.datasets import SignalRegion
from nhtad.stats import (
    BaseTest,
    BumpHuntTest,
    CutAndCountTest,
    DistanceCorrelationTest,
    HoeffdingDTest,
    HomogeneousAssociationTest,
    HyperTest,
    MutualInformationIndependenceTest,
    SmoothTrendIndependenceTest,
    TestResult,
)
from nhtad.stats.dijet_function import sample_dijet

TESTS = [
    MutualInformationIndependenceTest(rel_uncertainty=0.05),
    DistanceCorrelationTest(),
    HoeffdingDTest(),
    CutAndCountTest(),
    CutAndCountTest(mode="template"),
    HyperTest.over_parameter(CutAndCountTest(mode="template"), "quantile", [0.8, 0.9]),
    BumpHuntTest(),
    SmoothTrendIndependenceTest(rel_uncertainty=0.05, y_bins=SignalRegion()),
    HomogeneousAssociationTest(rel_uncertainty=0.03),
]
API_CHECKS = [
    ec.check_no_attributes_set_in_init,
    ec.check_parameters_default_constructible,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_estimator_repr,
    ec.check_estimator_cloneable,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random(5000), rng.random(5000)


def _inputs(test, data):
    """Each test's own kind of input: (s, y), (s, labels) or (mjj,), and keyword arguments."""
    if isinstance(test, BumpHuntTest):
        return (sample_dijet(20_000, (1.0, 10.0, 5.0, 0.0), random_state=0),), {}
    if isinstance(test, CutAndCountTest | HyperTest):
        return (data[0], (data[1] > 0.5).astype(int)), {}
    if isinstance(test, SmoothTrendIndependenceTest):
        return (data[0], 3100.0 + 800.0 * data[1]), {}
    if isinstance(test, HomogeneousAssociationTest):
        half = data[0].size // 2
        return (data[0][:half], data[1][:half]), {
            "s_simulation": data[0][half:],
            "y_simulation": data[1][half:],
        }
    return data, {}


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("test", TESTS, ids=lambda t: type(t).__name__)
def test_sklearn_api_checks(test, check):
    check(type(test).__name__, test)


@pytest.mark.parametrize("test", TESTS, ids=lambda t: type(t).__name__)
def test_fit_returns_self_sets_attributes_and_is_picklable(test, data):
    test = clone(test)
    with pytest.raises(NotFittedError):
        check_is_fitted(test)
    args, kwargs = _inputs(test, data)
    assert test.fit(*args, **kwargs) is test
    check_is_fitted(test)
    for name in ("statistic_", "pvalue_", "log_pvalue_", "significance_", "n_events_", "result_"):
        assert hasattr(test, name)
    restored = pickle.loads(pickle.dumps(test))
    assert restored.result_.statistic == test.result_.statistic
    assert restored.result_.details.keys() == test.result_.details.keys()
    with pytest.raises(TypeError):
        restored.result_.details["x"] = 1
    assert isinstance(test, BaseTest)
    # Refit resets state and is deterministic.
    first = test.statistic_
    assert test.fit(*args, **kwargs).statistic_ == first


@pytest.mark.parametrize("test", TESTS, ids=lambda t: type(t).__name__)
def test_score_leaves_the_estimator_untouched(test, data):
    params = test.get_params()
    args, kwargs = _inputs(test, data)
    z = test.score(*args, **kwargs)
    assert isinstance(z, float)
    assert test.get_params() == params
    assert not hasattr(test, "result_")


def test_test_result_is_frozen_named_and_not_iterable(data):
    result = MutualInformationIndependenceTest(0.05).test(*data)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.pvalue = 0.5
    with pytest.raises(TypeError):
        iter(result)
    with pytest.raises(TypeError):
        result.details["dof"] = 3
    assert "MutualInformationIndependenceTest" in repr(result)


def test_test_result_null_distribution_is_read_only():
    result = TestResult(
        statistic=1.0,
        pvalue=0.5,
        significance=0.0,
        method="resampled",
        null_distribution=[1.0, 2.0],
    )
    with pytest.raises(ValueError):
        result.null_distribution[0] = 3.0
    with pytest.raises(ValueError, match="method must be"):
        TestResult(statistic=1.0, pvalue=0.5, significance=0.0, method="bayesian")


def test_random_state_accepts_numpy_generators(data):
    from nhtad.utils.random import as_seed_sequence

    for state in (
        None,
        3,
        np.random.RandomState(0),
        np.random.default_rng(0),
        np.random.SeedSequence(1),
    ):
        assert isinstance(as_seed_sequence(state), np.random.SeedSequence)
    with pytest.raises(ValueError, match="random_state"):
        as_seed_sequence("seed")
    with pytest.raises(ValueError, match="non-negative"):
        as_seed_sequence(-1)


def test_top_level_imports():
    import nhtad
    from nhtad.datasets import load_lhco, make_lhco_like  # noqa: F401
    from nhtad.stats import MutualInformationIndependenceTest, TestResult  # noqa: F401

    assert nhtad.__version__
    assert nhtad.stats.MutualInformationIndependenceTest is MutualInformationIndependenceTest
    with pytest.raises(AttributeError):
        nhtad.no_such_thing  # noqa: B018
