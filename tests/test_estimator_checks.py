"""scikit-learn's estimator checks on the score learners, every expected failure with its reason.

SACWoLaClassifier is checked as plain CWoLa (``lam=0``): sklearn's checks call ``fit(X, y)``
without metadata, and ``lam > 0`` requires ``is_simulation`` by design. The SA-CWoLa path with
simulation is covered in ``test_sacwola.py``.
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from nhtad.scoring import (
    HGBEnsembleClassifier,
    NPLMKernelEstimator,
    SACWoLaClassifier,
    ScoreTransformer,
)

pytest.importorskip("torch")
pytest.importorskip("skorch")

# sklearn builds binary targets for binary-only classifiers as {y0, y0 + 1} (often {1, 2}) or
# strings; SACWoLaClassifier's y is the region label and must be 0/1 (a ValueError otherwise,
# as the issue requires). The same properties are checked with 0/1 labels in test_sacwola.py.
_REGION_LABELS = (
    "y is the region label: values other than 0 (sidebands) and 1 (signal region) are "
    "rejected by design; covered with 0/1 labels in test_sacwola.py"
)
_SACWOLA_XFAIL = {
    "check_estimators_dtypes": _REGION_LABELS,
    "check_sample_weights_pandas_series": _REGION_LABELS,
    "check_sample_weights_not_an_array": _REGION_LABELS,
    "check_sample_weights_shape": _REGION_LABELS,
    "check_sample_weights_not_overwritten": _REGION_LABELS,
    "check_classifier_data_not_an_array": _REGION_LABELS,
    "check_classifiers_classes": _REGION_LABELS,
    "check_fit2d_1feature": _REGION_LABELS,
    "check_sample_weight_equivalence_on_dense_data": (
        "stochastic mini-batch training: repeating an event changes the batches, doubling its "
        "weight does not, so the two fits differ by training noise (the weights enter eq. 6 "
        "exactly: test_sacwola.py::test_loss_is_eq6)"
    ),
}


# NPLMKernelEstimator's y is the data (1) / reference (0) label, refused otherwise for the same
# reason; its properties with 0/1 labels are re-checked below.
_DATA_LABELS = (
    "y is the data (1) / reference (0) label: other values are rejected by design; covered "
    "with 0/1 labels in test_expected_nplm_failures_are_really_about_labels"
)
_NPLM_XFAIL = {
    name: _DATA_LABELS
    for name in (
        "check_estimators_dtypes",
        "check_classifier_data_not_an_array",
        "check_classifiers_classes",
        "check_fit2d_1feature",
    )
}


# Out-of-fold scores of the training events differ from the refitted model's scores of the same
# events by design (as StackingClassifier's): that difference is the point of cv.
_OUT_OF_FOLD = (
    "with cv, fit_transform returns out-of-fold scores and transform the refitted model's; "
    "test_score_transformer.py checks both"
)
_OUT_OF_FOLD_XFAIL = {
    "check_transformer_general": _OUT_OF_FOLD,
    "check_transformer_data_not_an_array": _OUT_OF_FOLD,
}


def _expected_failures(estimator):
    if isinstance(estimator, ScoreTransformer) and estimator.cv is not None:
        return _OUT_OF_FOLD_XFAIL
    if isinstance(estimator, SACWoLaClassifier):
        return _SACWOLA_XFAIL
    if isinstance(estimator, NPLMKernelEstimator):
        return _NPLM_XFAIL
    return {}


@parametrize_with_checks(
    [
        SACWoLaClassifier(lam=0.0, max_epochs=5, random_state=0),
        HGBEnsembleClassifier(n_estimators=3, max_iter=20, random_state=0),
        NPLMKernelEstimator(random_state=0),
        ScoreTransformer(LogisticRegression()),
        ScoreTransformer(LogisticRegression(), cv=3),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failures_are_really_about_labels():
    """The label xfails fail only because of the labels: with 0/1 they pass."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    for dtype in (np.float32, np.float64, np.int32, np.int64):
        clf = SACWoLaClassifier(lam=0.0, max_epochs=2, random_state=0)
        proba = clf.fit(X.astype(dtype), y).predict_proba(X.astype(dtype))
        assert proba.shape == (60, 2) and np.isfinite(proba).all()
    weights = np.linspace(0.5, 2.0, 60)
    kept = weights.copy()
    SACWoLaClassifier(lam=0.0, max_epochs=2, random_state=0).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(weights, kept)
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        SACWoLaClassifier(lam=0.0, max_epochs=2).fit(X, y, sample_weight=np.ones(59))
    one = SACWoLaClassifier(lam=0.0, max_epochs=2, random_state=0).fit(X[:, :1], y)
    assert one.n_features_in_ == 1


def test_expected_nplm_failures_are_really_about_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = np.r_[np.zeros(30, int), np.ones(30, int)]
    for dtype in (np.float32, np.float64, np.int32, np.int64):
        est = NPLMKernelEstimator(random_state=0).fit(X.astype(dtype), y)
        proba = est.predict_proba(X.astype(dtype))
        assert proba.shape == (60, 2) and np.isfinite(proba).all()
        np.testing.assert_array_equal(est.classes_, [0, 1])
    one = NPLMKernelEstimator(random_state=0).fit(X[:, :1], y)
    assert one.n_features_in_ == 1 and np.isfinite(one.statistic_)
    listed = NPLMKernelEstimator(random_state=0).fit(X.tolist(), y.tolist())
    assert np.isfinite(listed.statistic_)
