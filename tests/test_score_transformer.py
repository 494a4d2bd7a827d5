"""ScoreTransformer: in-sample and out-of-fold scores as a Pipeline step."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

from nhtad.scoring import NPLMKernelEstimator, ScoreTransformer


def _sample(seed=0):
    rng = np.random.default_rng(seed)
    X = np.r_[rng.normal(0.3, 1.0, (300, 2)), rng.normal(0.0, 1.0, (600, 2))]
    y = np.r_[np.ones(300, int), np.zeros(600, int)]
    return X, y


def test_in_sample_scores_are_the_fitted_models_and_nplm_gives_its_log_ratio():
    X, y = _sample()
    step = ScoreTransformer(NPLMKernelEstimator(sigma=1.0, n_centers=50, random_state=0))
    s = step.fit_transform(X, y)
    assert s.shape == (900, 1) and step.method_ == "decision_function"
    np.testing.assert_allclose(s[:, 0], step.estimator_.decision_function(X))
    np.testing.assert_allclose(step.transform(X), s)
    assert step.get_feature_names_out().tolist() == ["score"]


def test_out_of_fold_scores_are_cross_val_predict():
    X, y = _sample()
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    step = ScoreTransformer(LogisticRegression(), cv=cv, method="predict_proba")
    s = step.fit_transform(X, y)
    expected = cross_val_predict(LogisticRegression(), X, y, cv=cv, method="predict_proba")
    np.testing.assert_allclose(s[:, 0], expected[:, 1])
    # transform scores new events with the model refitted on all of them.
    np.testing.assert_allclose(
        step.transform(X)[:, 0], LogisticRegression().fit(X, y).predict_proba(X)[:, 1]
    )
    lean = ScoreTransformer(LogisticRegression(), cv=3, refit=False).fit(X, y)
    with pytest.raises(ValueError, match="refit=False"):
        lean.transform(X)


def test_several_widths_give_one_column_each_and_bad_methods_are_refused():
    X, y = _sample()
    step = ScoreTransformer(NPLMKernelEstimator(sigma=[0.7, 1.5], n_centers=50, random_state=0))
    assert step.fit_transform(X, y).shape == (900, 2)
    assert step.get_feature_names_out().tolist() == ["score0", "score1"]
    with pytest.raises(ValueError, match="method must be"):
        ScoreTransformer(LogisticRegression(), method="predict").fit(X, y)
    with pytest.raises(ValueError, match="has no method 'decision_function'"):
        ScoreTransformer(KNeighborsClassifier(), method="decision_function").fit(X, y)
