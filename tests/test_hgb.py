"""HGBEnsembleClassifier: averaging, seeding, n_jobs, weights, and use in k-fold scoring."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_predict

from nhtad.scoring import HGBEnsembleClassifier, out_of_fold_scores


@pytest.fixture(scope="module")
def blobs():
    return make_classification(n_samples=600, n_features=5, random_state=0)


def test_probabilities_are_the_members_average(blobs):
    X, y = blobs
    clf = HGBEnsembleClassifier(n_estimators=4, max_iter=30, random_state=0).fit(X, y)
    assert len(clf.estimators_) == 4 and clf.seeds_.shape == (4,)
    members = np.mean([m.predict_proba(X) for m in clf.estimators_], axis=0)
    np.testing.assert_allclose(clf.predict_proba(X), members)
    p = members[:, 1]
    np.testing.assert_allclose(clf.decision_function(X), np.log(p / (1 - p)), rtol=1e-10)
    np.testing.assert_array_equal(clf.predict(X), (p > 0.5).astype(int))
    assert (clf.n_iter_ >= 1).all() and (clf.n_iter_ <= 30).all()


def test_reproducible_and_independent_of_n_jobs(blobs):
    X, y = blobs
    # Subsampling makes the members' seeds matter.
    kw = {"n_estimators": 3, "max_iter": 20, "early_stopping": True, "validation_fraction": 0.3}
    a = HGBEnsembleClassifier(random_state=1, **kw).fit(X, y).predict_proba(X)
    b = HGBEnsembleClassifier(random_state=1, n_jobs=2, **kw).fit(X, y).predict_proba(X)
    c = HGBEnsembleClassifier(random_state=2, **kw).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_sample_weight_and_class_weight_reach_the_members(blobs):
    X, y = blobs
    w = np.where(y == 1, 5.0, 1.0)
    kw = {"n_estimators": 2, "max_iter": 20, "random_state": 0}
    weighted = HGBEnsembleClassifier(**kw).fit(X, y, sample_weight=w)
    seed = int(weighted.seeds_[0])
    single = HistGradientBoostingClassifier(max_iter=20, random_state=seed).fit(
        X, y, sample_weight=w
    )
    np.testing.assert_allclose(weighted.estimators_[0].predict_proba(X), single.predict_proba(X))
    balanced = HGBEnsembleClassifier(class_weight="balanced", **kw).fit(X, y)
    assert balanced.estimators_[0].class_weight == "balanced"
    with pytest.raises(
        ValueError,
        match="sample_weight must hold one weight per event: got 3 weights for 600 events",
    ):
        HGBEnsembleClassifier(**kw).fit(X, y, sample_weight=np.ones(3))


def test_works_in_sklearn_and_nhtad_cross_validation(blobs):
    X, y = blobs
    clf = HGBEnsembleClassifier(n_estimators=2, max_iter=20)
    proba = cross_val_predict(clf, X, y, cv=3, method="predict_proba")
    assert proba.shape == (600, 2)
    oof = out_of_fold_scores(clf, X, y, cv=3, n_seeds=2, random_state=0)
    assert oof.scores.shape == (600,) and oof.simulation.size == 0
    assert np.corrcoef(oof.scores, y)[0, 1] > 0.5


def test_bad_input(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="one class"):
        HGBEnsembleClassifier(n_estimators=2).fit(X, np.zeros_like(y))
    X_nan = X.copy()
    X_nan[0, 0] = np.nan  # HGB would treat NaN as missing; nhtad refuses silent NaN in events
    with pytest.raises(ValueError, match="NaN"):
        HGBEnsembleClassifier(n_estimators=1, max_iter=5).fit(X_nan, y)
    with pytest.raises(ValueError, match="n_estimators"):
        HGBEnsembleClassifier(n_estimators=0).fit(X, y)
