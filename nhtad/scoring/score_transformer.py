"""ScoreTransformer: a trained anomaly score as a Pipeline step, so that a test can follow it.

``make_pipeline(ScoreTransformer(NPLMKernelEstimator()), HyperTest(...))`` is Grosso et al.'s
(EPJC 85, 1074 (2025))
"NPLM classifier + cut-and-count hyper-test" as one estimator: ``fit(X, y)`` trains the score
on ``(X, y)``, scores the same events and runs the test on ``(s, y)``. A
:class:`~nhtad.calibration.ToyCalibrator` around that pipeline reruns score training on every
toy, which is what makes the test's p-value honest when the score saw the data it is tested on.

Two ways to score the training events (``cv``):

- ``cv=None``: in-sample, the estimator fitted on all events scores them (NPLM's convention:
  t and f(x) are evaluated on the sample they were fitted on). Valid only with toy calibration,
  since the score is biased towards the data's fluctuations;
- ``cv=k`` (or a splitter): out-of-fold, each event scored by a model that never saw it
  (:func:`sklearn.model_selection.cross_val_predict`), as the HGB-ensemble baseline does.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.model_selection import cross_val_predict
from sklearn.utils import get_tags
from sklearn.utils.validation import check_is_fitted

__all__ = ["ScoreTransformer"]


def _score_method(estimator, method: str) -> str:
    if method != "auto":
        if not hasattr(estimator, method):
            raise ValueError(f"{type(estimator).__name__} has no method {method!r}.")
        return method
    for name in ("decision_function", "predict_proba"):
        if hasattr(estimator, name):
            return name
    raise ValueError(
        f"{type(estimator).__name__} has neither decision_function nor predict_proba; it cannot "
        "give an anomaly score."
    )


def _as_score_columns(values, method: str) -> np.ndarray:
    # One column for a binary classifier's score (the positive class); several for a
    # multi-output score (NPLM at several widths, a multiclass classifier), one per output.
    values = np.asarray(values, dtype=np.float64)
    if method == "predict_proba" and values.ndim == 2 and values.shape[1] == 2:
        values = values[:, 1]
    return values[:, None] if values.ndim == 1 else values


class ScoreTransformer(TransformerMixin, BaseEstimator):
    """Train an anomaly score on ``(X, y)`` and output it as a column.

    A binary classifier gives one column (``decision_function``, or the positive class's
    probability); a multi-output score (NPLM at several widths, a multiclass classifier) one
    column per output. The tests of the null take one column.

    Parameters
    ----------
    estimator : classifier
        Trained on ``(X, y)`` (e.g. :class:`~nhtad.scoring.NPLMKernelEstimator` with y = 1 data /
        0 reference, or :class:`~nhtad.scoring.HGBEnsembleClassifier`).
    cv : None, int or cross-validation splitter, default=None
        ``None``: in-sample scores; otherwise out-of-fold scores from
        :func:`~sklearn.model_selection.cross_val_predict` with this ``cv``.
    method : {"auto", "decision_function", "predict_proba"}, default="auto"
        ``"auto"`` takes ``decision_function`` when the estimator has one (NPLM's f(x), a log
        density ratio), else the positive-class probability.
    n_jobs : int or None
        Folds in parallel (``cv`` given).
    refit : bool, default=True
        With ``cv`` given, also fit the estimator on all events so that ``transform`` can score
        new events. Toy loops that only need the out-of-fold scores save that fit with False.

    Attributes
    ----------
    estimator_ : estimator
        Fitted on all events (absent with ``cv`` given and ``refit=False``); ``transform``
        scores new events with it.
    method_ : str
    """

    def __init__(self, estimator, *, cv=None, method="auto", n_jobs=None, refit=True):
        self.estimator = estimator
        self.cv = cv
        self.method = method
        self.n_jobs = n_jobs
        self.refit = refit

    def __sklearn_tags__(self):
        # Whatever input the wrapped estimator accepts (sparse, NaN), this step accepts.
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    def fit(self, X, y, **fit_params):
        """Fit the estimator on all events."""
        self.fit_transform(X, y, **fit_params)
        return self

    def fit_transform(self, X, y, **fit_params):
        """Fit on all events and return their scores (in-sample or out-of-fold), (n, n_outputs)."""
        if self.method not in ("auto", "decision_function", "predict_proba"):
            raise ValueError(
                "method must be 'auto', 'decision_function' or 'predict_proba'; got "
                f"{self.method!r}."
            )
        method = _score_method(self.estimator, self.method)
        if self.cv is None:
            self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
            scores = getattr(self.estimator_, method)(X)
        else:
            scores = cross_val_predict(
                clone(self.estimator),
                X,
                y,
                cv=self.cv,
                method=method,
                n_jobs=self.n_jobs,
                params=fit_params or None,
            )
            if self.refit:
                self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.method_ = method
        fitted = getattr(self, "estimator_", None)
        if hasattr(fitted, "n_features_in_"):
            self.n_features_in_ = fitted.n_features_in_
        scores = _as_score_columns(scores, method)
        self.n_outputs_ = scores.shape[1]
        return scores

    def transform(self, X):
        """Scores of new events from the estimator fitted on all events, (n, n_outputs)."""
        check_is_fitted(self, "method_")
        if getattr(self, "estimator_", None) is None:
            raise ValueError("fitted with refit=False: only the training events have scores.")
        return _as_score_columns(getattr(self.estimator_, self.method_)(X), self.method_)

    def get_feature_names_out(self, input_features=None):
        """``["score"]``, or ``["score0", "score1", ...]`` for a multi-output score."""
        check_is_fitted(self, "n_outputs_")
        if self.n_outputs_ == 1:
            return np.array(["score"], dtype=object)
        return np.array([f"score{j}" for j in range(self.n_outputs_)], dtype=object)
