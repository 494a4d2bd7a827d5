"""Scorers for tuning an SA-CWoLa score with ``GridSearchCV``: sensitive yet decorrelated.

SA-CWoLa (Kamenik & Szewc, PLB 840 (2023) 137836, eq. 6) trades two things with its
simulation weight ``lam``: how well the classifier tells the signal region from the sidebands in
data (where a signal would show), and how little it learns the background's own feature/m_jj
dependence (which the simulation, with inverted labels, is there to cancel). Accuracy or a plain
AUC scores only the first, and favours ``lam = 0``, the plain CWoLa that learns m_jj. The
scorer here measures both on held-out events. Choosing ``lam`` this way is exploration: the
p-value of the chosen chain comes from toys that repeat the choice (``docs/tuning.md``).
"""

from __future__ import annotations

import numbers

import numpy as np
import sklearn
from sklearn.metrics import make_scorer, roc_auc_score

from .weights import check_region_labels, check_simulation_flags

__all__ = ["decorrelated_auc_score", "make_decorrelation_scorer"]

_ROUTING_HINT = (
    "Enable metadata routing (sklearn.set_config(enable_metadata_routing=True)), build the "
    "scorer with make_decorrelation_scorer(), and pass is_simulation to GridSearchCV.fit "
    "(with SACWoLaClassifier().set_fit_request(is_simulation=True))."
)


def decorrelated_auc_score(y_true, y_score, *, is_simulation=None, alpha=1.0):
    """Region AUC on data minus ``alpha`` times the departure from 1/2 of that on simulation.

    .. math:: S = (\\mathrm{AUC}_\\mathrm{data} - 1/2)
              - \\alpha \\, |\\mathrm{AUC}_\\mathrm{sim} - 1/2|,

    each AUC that of the score for the signal region (``y_true = 1``) against the sidebands
    (``0``), on the data rows and on the simulated-background rows. Larger is better; S is at
    most 1/2.

    Why this form: on data, the region AUC holds the signal (sensitivity) and the background's
    own m_jj dependence as learnt by the score; on a simulation that reproduces the background it
    holds the second alone, in the same units. At ``alpha = 1`` S is thus, to first order in
    small departures, the part of the data's region separation that background cannot explain,
    and it penalises both a score that learnt m_jj (AUC_sim > 1/2, e.g. ``lam = 0``) and one
    pushed past flat by too large a ``lam`` (AUC_sim < 1/2). The held-out AUC_sim fluctuates by
    about sqrt((n_0 + n_1 + 1) / (12 n_0 n_1)) (Hanley & McNeil, Radiology 143 (1982) 29), which
    biases the penalty by the same amount for every candidate scored on the same folds, so it
    does not move the grid search's choice. ``alpha > 1`` favours decorrelation, ``alpha < 1``
    sensitivity. S is not a significance: a ``lam`` chosen by S on the data is tested honestly
    only with toys that repeat the choice.

    Parameters
    ----------
    y_true : array-like of shape (n_events,)
        Region label: 1 = signal region, 0 = sidebands.
    y_score : array-like of shape (n_events,)
        The score (any monotone form: logit or probability of the signal region).
    is_simulation : array-like of bool of shape (n_events,)
        True for simulated background events. Required; ``None`` is refused.
    alpha : float, default=1.0
        Weight of the decorrelation penalty, >= 0.

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> region = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    >>> sim = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    >>> score = np.array([0.1, 0.9, 0.2, 0.8, 0.5, 0.5, 0.5, 0.5])
    >>> float(decorrelated_auc_score(region, score, is_simulation=sim))
    0.5
    """
    if is_simulation is None:
        raise ValueError(
            "decorrelated_auc_score needs is_simulation (True for simulated background rows) "
            "to tell data from simulation; it got none. " + _ROUTING_HINT
        )
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, numbers.Real)
        or not (np.isfinite(alpha) and alpha >= 0)
    ):
        raise ValueError(f"alpha must be a finite number >= 0; got {alpha!r}.")
    region = check_region_labels(y_true)
    y_score = np.asarray(y_score, dtype=np.float64).reshape(-1)
    sim = check_simulation_flags(is_simulation, region.shape[0])
    if y_score.shape[0] != region.shape[0]:
        raise ValueError(
            f"y_score has {y_score.shape[0]} values for {region.shape[0]} events; pass one score "
            "per event, in the order of y_true."
        )
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score contains NaN or inf; the classifier diverged. Refit it.")
    aucs = []
    for name, rows in (("data", ~sim), ("simulation", sim)):
        counts = np.bincount(region[rows], minlength=2)
        if counts.min() == 0:
            raise ValueError(
                f"the {name} events hold {counts[1]} signal-region and {counts[0]} sideband "
                "events; both AUCs need both regions in data and in simulation. Split with "
                "StratifiedKFold(shuffle=True, random_state=...) and give each fold enough events."
            )
        aucs.append(roc_auc_score(region[rows], y_score[rows]))
    auc_data, auc_sim = aucs
    return (auc_data - 0.5) - alpha * abs(auc_sim - 0.5)


def make_decorrelation_scorer(alpha=1.0):
    """:func:`decorrelated_auc_score` as a ``scoring=`` for ``GridSearchCV`` and ``cross_validate``.

    The scorer reads the classifier's ``decision_function`` (or, failing that, the
    signal-region column of ``predict_proba``) and requests ``is_simulation`` as score metadata,
    so that with metadata routing enabled the splitter slices it per fold for the scorer as it
    does for the classifier's ``fit``::

        sklearn.set_config(enable_metadata_routing=True)
        search = GridSearchCV(
            SACWoLaClassifier().set_fit_request(is_simulation=True),
            {"lam": [0.0, 0.5, 1.0, 2.0]},
            scoring=make_decorrelation_scorer(),
            cv=StratifiedKFold(5, shuffle=True, random_state=0),
        ).fit(X, region, is_simulation=is_sim)

    Without routing, ``GridSearchCV`` does not pass ``is_simulation`` to scorers, and scoring
    fails with a ValueError that says so.

    Parameters
    ----------
    alpha : float, default=1.0
        Weight of the decorrelation penalty (see :func:`decorrelated_auc_score`).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y, is_simulation=...)``, a scikit-learn scorer.
    """
    decorrelated_auc_score(
        [0, 1, 0, 1], [0.0, 1.0, 0.0, 1.0], is_simulation=[0, 0, 1, 1], alpha=alpha
    )  # refuses a bad alpha now rather than in every fold
    scorer = make_scorer(
        decorrelated_auc_score,
        response_method=("decision_function", "predict_proba"),
        alpha=alpha,
    )
    # The request is stored on the scorer and read when routing is on; setting it needs the
    # routing flag only for this call, so the scorer can be built before set_config.
    with sklearn.config_context(enable_metadata_routing=True):
        scorer.set_score_request(is_simulation=True)
    return scorer
