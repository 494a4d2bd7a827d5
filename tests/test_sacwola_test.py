"""SACWoLaTest: the whole SA-CWoLa method as one estimator, honest by default."""

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from nhtad import SACWoLaTest
from nhtad.calibration import SimulationSplitToys, ToyCalibrator
from nhtad.datasets import SignalRegion, make_lhco_like, sacwola_features
from nhtad.scoring import SACWoLaClassifier
from nhtad.stats import (
    HomogeneousAssociationTest,
    MutualInformationIndependenceTest,
    SmoothTrendIndependenceTest,
)

REGION = SignalRegion()
MASS_SCORE = (0.0, 0.03, 0.0, 0.0)  # the lighter jet's mass: rises with m_jj in QCD
TWO_PRONG_SCORE = (0.0, 0.0, -4.0, -4.0)  # low tau21: signal-like, blind to m_jj


class FixedScore(ClassifierMixin, BaseEstimator):
    """A 'classifier' that learns nothing: s = sigmoid(X . weights), the same for every fold.

    It stands for a trained score that is a smooth function of m_jj-dependent features,
    without the cost of training.
    """

    def __init__(self, weights=TWO_PRONG_SCORE, random_state=None):
        self.weights = weights
        self.random_state = random_state

    def fit(self, X, y, is_simulation=None, sample_weight=None):
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        s = expit(np.asarray(X) @ np.asarray(self.weights) - 3.0)
        return np.column_stack([1 - s, s])


def sample(
    n_background, signal_to_background=0.0, *, seed, slope=0.3, simulation_kw=None, profile=None
):
    parts = []
    for k, kw in enumerate(({}, {"simulation": True, **(simulation_kw or {})})):
        sb = signal_to_background if k == 0 else 0.0
        if profile is not None:
            kw = {**kw, "signal_profile": profile}
        events = make_lhco_like(
            n_background, sb, mass_mjj_slope=slope, random_state=seed + 1000 * k, **kw
        ).events
        parts.append(events[REGION.in_window(events["mjj"])])
    data, sim = parts
    X = np.vstack([sacwola_features(data), sacwola_features(sim)])
    mjj = np.r_[data["mjj"], sim["mjj"]]
    is_sim = np.r_[np.zeros(len(data), bool), np.ones(len(sim), bool)]
    return X, mjj, is_sim


@pytest.fixture(scope="module")
def steep():
    # 100k window events each, a jet-mass/m_jj slope three times the default.
    return sample(400_000, seed=1, slope=0.9)


def test_default_null_is_honest_where_the_plain_mi_test_fakes(steep):
    X, mjj, is_sim = steep
    chain = SACWoLaTest(classifier=FixedScore(MASS_SCORE), cv=2, random_state=0)
    with pytest.warns(UserWarning, match="depends on m_jj"):
        chain.fit(X, mjj, is_simulation=is_sim)
    plain = chain.result_.details["mi_asymptotic"]
    assert plain["significance"] > 5  # the fake discovery of the plain test ...
    assert "not true of a trained score" in plain["assumption"]
    assert chain.pvalue_ > 1e-3  # ... which the default null does not make
    assert chain.test_.degree_ >= 1 and chain.test_.trend_significance_ > 3
    assert isinstance(chain.test_, SmoothTrendIndependenceTest)
    assert chain.result_.details["test"] == "SmoothTrendIndependenceTest"


def test_default_null_finds_a_resonance():
    # The untrained tau21 score separates the easy signal (the realistic one needs training).
    X, mjj, is_sim = sample(400_000, 0.01, seed=3, profile="easy")
    chain = SACWoLaTest(classifier=FixedScore(TWO_PRONG_SCORE), cv=2, random_state=0)
    # The tau21 score follows m_jj in this background (the generator's jet masses rise with
    # m_jj): the chain says so, and the smooth-trend null allows for it.
    with pytest.warns(UserWarning, match="follows m_jj with a fitted trend"):
        chain.fit(X, mjj, is_simulation=is_sim)
    assert chain.test_.degree_ >= 1
    assert chain.significance_ > 5
    assert chain.result_.method == "asymptotic"
    np.testing.assert_array_equal(chain.scores_.is_simulation, is_sim)


def test_trained_chain_matches_its_out_of_fold_scores_and_clones():
    X, mjj, is_sim = sample(80_000, seed=5)
    chain = SACWoLaTest(
        classifier=SACWoLaClassifier(hidden_layer_sizes=(8,), max_epochs=1),
        null_test=SmoothTrendIndependenceTest(rel_uncertainty=0.03, y_bins=REGION, degree=1),
        cv=2,
        random_state=7,
    )
    params = chain.get_params()
    chain.fit(X, mjj, is_simulation=is_sim)
    assert chain.get_params() == params  # parameters untouched
    again = clone(chain).out_of_fold_scores(X, mjj, is_simulation=is_sim)
    np.testing.assert_array_equal(again.scores, chain.scores_.scores)
    assert chain.n_features_in_ == 4
    assert 0 < chain.pvalue_ <= 1 and chain.n_events_ == int((~is_sim).sum())
    assert chain.decorrelation_.auc_simulation_region is not None
    assert set(chain.result_.details) >= {"mi_asymptotic", "decorrelation", "degree"}


def test_any_test_of_the_null_can_follow_the_training(steep):
    X, mjj, is_sim = steep
    for test, uses_simulation in (
        (HomogeneousAssociationTest(rel_uncertainty=0.015, y_bins=REGION), True),
        (MutualInformationIndependenceTest(rel_uncertainty=0.03, y_bins=REGION), False),
    ):
        chain = SACWoLaTest(classifier=FixedScore(), null_test=test, cv=2, random_state=0)
        chain.fit(X, mjj, is_simulation=is_sim)
        assert chain.result_.details["test"] == type(test).__name__
        assert test._accepts_simulation() is uses_simulation
        assert not hasattr(test, "result_")  # the given test is cloned, never fitted in place


def test_whole_chain_toys_from_the_simulation():
    X, mjj, is_sim = sample(200_000, seed=8)
    toys = SimulationSplitToys(X[is_sim], mjj[is_sim], n_data=20_000, n_simulation=25_000)
    first = toys(np.random.SeedSequence(1))
    assert first["X"].shape == (45_000, 4) and first["is_simulation"].sum() == 25_000
    chain = SACWoLaTest(
        classifier=FixedScore(),
        null_test=SmoothTrendIndependenceTest(rel_uncertainty=0.03, y_bins=REGION, degree=1),
        cv=2,
    )
    calibration = ToyCalibrator(chain, toys, n_toys=4, random_state=0).fit()
    again = ToyCalibrator(chain, toys, n_toys=4, random_state=0, n_jobs=2).fit()
    np.testing.assert_array_equal(calibration.null_distribution_, again.null_distribution_)
    assert calibration.null_distribution_.shape == (4,)
    with pytest.raises(ValueError, match="fewer than"):
        SimulationSplitToys(X[is_sim], mjj[is_sim], n_data=10**7)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"is_simulation": None}, "needs is_simulation"),
        ({"is_simulation": "all"}, "both data"),
        ({"mjj": "shift"}, "outside the window"),
        ({"mjj": "short"}, "X has"),
    ],
)
def test_bad_input_says_what_to_do(change, match):
    X, mjj, is_sim = sample(40_000, seed=10)
    kwargs = {"is_simulation": is_sim}
    if change.get("is_simulation", 0) is None:
        kwargs["is_simulation"] = None
    elif change.get("is_simulation") == "all":
        kwargs["is_simulation"] = np.ones_like(is_sim)
    if change.get("mjj") == "shift":
        mjj = mjj + 500.0
    elif change.get("mjj") == "short":
        mjj = mjj[:-1]
    with pytest.raises(ValueError, match=match):
        SACWoLaTest(classifier=FixedScore(), cv=2).fit(X, mjj, **kwargs)


def test_region_must_be_a_signal_region():
    X, mjj, is_sim = sample(40_000, seed=12)
    with pytest.raises(ValueError, match="SignalRegion"):
        SACWoLaTest(classifier=FixedScore(), region=(3300, 3700)).fit(X, mjj, is_simulation=is_sim)


def test_the_former_test_parameter_still_works_with_a_warning():
    inner = MutualInformationIndependenceTest(rel_uncertainty=0.05)
    with pytest.warns(FutureWarning, match="pass null_test"):
        chain = SACWoLaTest(classifier=FixedScore(), test=inner)
    assert chain.get_params()["null_test"] is inner
    # The method is no longer hidden by the parameter.
    assert callable(chain.test) and "test" not in chain.get_params()
    with pytest.raises(TypeError, match="unexpected arguments"):
        SACWoLaTest(tests=inner)
