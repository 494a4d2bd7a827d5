"""How separable a signal is: ROC AUC and the maximum significance improvement (SIC).

The LHC Olympics comparisons (Kasieczka et al., Rep. Prog. Phys. 84 (2021) 124201; CATHODE,
Hallin et al., PRD 106 (2022) 055006, Fig. 7) rank anomaly scores by the significance
improvement characteristic ``SIC = eps_S / sqrt(eps_B)`` of a cut on the score, maximised over
cuts that keep at least a background efficiency ``eps_B_min`` (1e-3 there, so that the
maximum is not set by a handful of background events). A *supervised* classifier trained on
the truth labels gives the upper end of that scale; :func:`supervised_separation` measures it
out-of-fold, which is how nhtad's generator is tuned to the difficulty of the real data.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from ..utils.validation import check_open_unit_interval, check_paired_vectors

__all__ = ["Separation", "max_significance_improvement", "supervised_separation"]


class Separation(NamedTuple):
    """Separation of signal from background by a score.

    Attributes
    ----------
    auc : float
        ROC AUC, signal against background.
    max_sic : float
        Largest ``eps_S / sqrt(eps_B)`` over cuts with ``eps_B >= min_background_efficiency``.
    signal_efficiency, background_efficiency : float
        The efficiencies of the cut that reaches ``max_sic``.
    n_signal, n_background : int
    """

    auc: float
    max_sic: float
    signal_efficiency: float
    background_efficiency: float
    n_signal: int
    n_background: int


def max_significance_improvement(truth, score, *, min_background_efficiency=1e-3) -> Separation:
    """ROC AUC and maximum SIC of ``score`` for the labels ``truth`` (1 = signal).

    Parameters
    ----------
    truth : array-like of shape (n_events,)
        1 for signal, 0 for background events; both must be present.
    score : array-like of shape (n_events,)
        Larger = more signal-like.
    min_background_efficiency : float, default=1e-3
        Cuts keeping fewer background events than this fraction are not considered. The
        background sample must hold at least 10 events at that efficiency, or the maximum would
        be set by their fluctuation.

    Returns
    -------
    Separation
    """
    score, truth = check_paired_vectors(score, truth, s_name="score", y_name="truth")
    labels = np.unique(truth)
    if not np.array_equal(labels, [0.0, 1.0]):
        raise ValueError(
            f"truth must hold 0 (background) and 1 (signal) labels, both present; got the "
            f"values {labels[:5].tolist()}."
        )
    eps_min = check_open_unit_interval(min_background_efficiency, "min_background_efficiency")
    n_sig, n_bkg = int(truth.sum()), int((truth == 0).sum())
    if eps_min * n_bkg < 10:
        raise ValueError(
            f"{n_bkg} background events hold {eps_min * n_bkg:.1f} at the background efficiency "
            f"{eps_min:g}: the maximum SIC would be set by a few events. Use at least "
            f"{int(np.ceil(10 / eps_min))} background events, or a larger "
            "min_background_efficiency."
        )
    # Every threshold: along a flat stretch of the ROC curve the SIC falls with eps_B, so the
    # first point past eps_B_min, which drop_intermediate would remove, can be the maximum.
    fpr, tpr, _ = roc_curve(truth, score, drop_intermediate=False)
    allowed = fpr >= eps_min
    sic = np.where(allowed, tpr / np.sqrt(np.where(allowed, fpr, 1.0)), -np.inf)
    best = int(np.argmax(sic))
    return Separation(
        auc=float(roc_auc_score(truth, score)),
        max_sic=float(sic[best]),
        signal_efficiency=float(tpr[best]),
        background_efficiency=float(fpr[best]),
        n_signal=n_sig,
        n_background=n_bkg,
    )


def supervised_separation(
    X, truth, *, cv=5, min_background_efficiency=1e-3, random_state=0, n_jobs=None
) -> Separation:
    """Out-of-fold AUC and maximum SIC of a supervised HistGradientBoosting classifier.

    The classifier (scikit-learn's defaults, class-balanced) is trained on ``k - 1`` folds and
    scores the held-out one, so every event's score comes from a model that did not see it.

    Parameters
    ----------
    X : array-like of shape (n_events, n_features)
    truth : array-like of shape (n_events,)
        1 for signal, 0 for background.
    cv : int, default=5
        Stratified folds.
    min_background_efficiency : float, default=1e-3
        See :func:`max_significance_improvement`.
    random_state : int, default=0
        Seeds the folds and the classifier.
    n_jobs : int, optional
        Folds trained in parallel (joblib).

    Returns
    -------
    Separation
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    classifier = HistGradientBoostingClassifier(class_weight="balanced", random_state=random_state)
    folds = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    score = cross_val_predict(
        classifier, X, np.asarray(truth), cv=folds, method="predict_proba", n_jobs=n_jobs
    )[:, 1]
    return max_significance_improvement(
        truth, score, min_background_efficiency=min_background_efficiency
    )
