"""Ensemble of HistGradientBoosting classifiers: the weak-supervision baseline.

Grosso, Sengupta, Golling, Harris (EPJC 85, 1074 (2025)) compare NPLM with an ensemble of boosted
decision trees trained in k-fold on data vs reference; averaging members that differ only in
their seed (early-stopping split, feature subsampling) reduces the variance of a single
boosted model without adding bias.

With ``is_simulation`` and ``lam > 0`` the same trees minimise the SA-CWoLa loss of Kamenik &
Szewc (PLB 840 (2023) 137836, eq. 6) instead: simulated background events carry the inverted
region label and the weight ``lam``, with the subset balancing of
:func:`~nhtad.scoring.sacwola_targets_and_weights`, so the boosted baseline and
:class:`~nhtad.scoring.SACWoLaClassifier` learn the same target.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils.random import spawn_seed_sequences
from ..utils.threads import limit_threads, worker_thread_limit
from ..utils.validation import check_fits_in_memory, check_positive_int, check_sample_weight
from .weights import check_simulation_flags, sacwola_targets_and_weights

__all__ = ["HGBEnsembleClassifier"]

#: Bytes a fitted member takes at least: a HistGradientBoostingClassifier stopped after one
#: iteration holds ~12 kB pickled, ~20 kB in memory (scikit-learn 1.x); every further
#: iteration adds a tree (~3.5 kB at 31 leaves).
_MEMBER_MIN_BYTES = 10_000


def _fit_member(params, seed, X, y, sample_weight, n_threads=None):
    # OpenMP would start a thread per core in every joblib worker: oversubscribed cores.
    with limit_threads(n_threads):
        return HistGradientBoostingClassifier(**params, random_state=seed).fit(
            X, y, sample_weight=sample_weight
        )


class HGBEnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Average of ``n_estimators`` HistGradientBoosting classifiers with different seeds.

    Parameters
    ----------
    n_estimators : int, default=50
        Members of the ensemble.
    lam : float, default=0.0
        Weight of the simulated background in the SA-CWoLa loss (Kamenik & Szewc, eq. 6).
        ``lam=0`` is plain CWoLa on data (the weak-supervision baseline) and needs no
        simulation; ``lam > 0`` needs ``fit(..., is_simulation=mask)``.
    max_iter : int, default=100
        Boosting iterations per member (upper bound with early stopping).
    max_leaf_nodes : int, default=31
    learning_rate : float, default=0.1
    l2_regularization : float, default=0.0
    class_weight : dict, "balanced" or None, default=None
        Passed to every member; "balanced" equalises the classes' total weight. Must be None
        when ``is_simulation`` is passed: the SA-CWoLa weighting balances the regions itself.
    early_stopping : "auto" or bool, default="auto"
        Members' early stopping on a random ``validation_fraction`` of the training rows
        ("auto": on above 10,000 events).
    validation_fraction : float, default=0.1
    n_jobs : int, default=None
        Members fitted in parallel through joblib.
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Root of the members' seeds (spawned in the parent process, so the ensemble is the same
        for any ``n_jobs``).
    verbose : int, default=0
        joblib verbosity.

    Attributes
    ----------
    classes_ : ndarray
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names.
    estimators_ : list of HistGradientBoostingClassifier
    seeds_ : ndarray of int
        The members' ``random_state`` values.
    n_iter_ : ndarray of int of shape (n_estimators,)
        Boosting iterations each member ran (fewer than ``max_iter`` after early stopping).

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(n_samples=500, random_state=0)
    >>> clf = HGBEnsembleClassifier(n_estimators=5, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape
    (500, 2)

    SA-CWoLa with simulated background (``y`` is then the region label, 0 or 1):

    >>> import numpy as np
    >>> sim = np.random.default_rng(0).random(500) < 0.5
    >>> sa = HGBEnsembleClassifier(n_estimators=2, lam=1.0, random_state=0)
    >>> sa.fit(X, y, is_simulation=sim).predict_proba(X[~sim]).shape
    (277, 2)
    """

    def __init__(
        self,
        n_estimators=50,
        lam=0.0,
        max_iter=100,
        max_leaf_nodes=31,
        learning_rate=0.1,
        l2_regularization=0.0,
        class_weight=None,
        early_stopping="auto",
        validation_fraction=0.1,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.n_estimators = n_estimators
        self.lam = lam
        self.max_iter = max_iter
        self.max_leaf_nodes = max_leaf_nodes
        self.learning_rate = learning_rate
        self.l2_regularization = l2_regularization
        self.class_weight = class_weight
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, X, y, sample_weight=None, is_simulation=None):
        """Fit every member on all events with its own seed.

        Without ``is_simulation`` the members learn ``y`` as given (any classes). With it, ``y``
        is the region label and the members learn the targets and weights of
        :func:`~nhtad.scoring.sacwola_targets_and_weights` (Kamenik & Szewc, eq. 6): data events
        keep their region, simulated events get the inverted region and weight ``lam``, the
        four data/simulation x region subsets at equal total weight. Events of zero weight
        (simulation at ``lam=0``) are left out of the members' fits.

        Parameters
        ----------
        X : array-like of shape (n_events, n_features)
        y : array-like of shape (n_events,)
            Class labels (region, or data vs reference); with ``is_simulation``, the region
            label: 1 = signal region, 0 = sidebands.
        sample_weight : array-like of shape (n_events,), default=None
            Finite, non-negative weights, not all zero (with ``is_simulation``, applied inside
            the subset balancing).
        is_simulation : array-like of bool of shape (n_events,), default=None
            True for simulated background events; required when ``lam > 0``. Route it with
            ``set_fit_request(is_simulation=True)`` when metadata routing is enabled.

        Returns
        -------
        self
        """
        check_positive_int(self.n_estimators, "n_estimators")
        # Before the seeds are spawned: a list of 10**9 of them alone runs for minutes.
        check_fits_in_memory(
            self.n_estimators,
            _MEMBER_MIN_BYTES,
            name="n_estimators",
            holds="the fitted members",
            fix="Averaging members with different seeds only shrinks the seed-to-seed noise, "
            "like 1/sqrt(n_estimators): tens to a few hundred members are plenty.",
        )
        self._check_lam(is_simulation)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if np.unique(y).size < 2:
            raise ValueError(
                "Only one class is present in y: a classifier needs events of both classes."
            )
        if sample_weight is not None:
            # Negative weights give the boosting loss no minimum: the members came back with a
            # constant score and no error.
            sample_weight = check_sample_weight(sample_weight, y.shape[0])
        if is_simulation is not None:
            X, y, sample_weight = self._sacwola_rows(X, y, sample_weight, is_simulation)
        seeds = np.array(
            [
                int(child.generate_state(1)[0] >> 1)
                for child in spawn_seed_sequences(self.random_state, self.n_estimators)
            ]
        )
        params = {
            "max_iter": self.max_iter,
            "max_leaf_nodes": self.max_leaf_nodes,
            "learning_rate": self.learning_rate,
            "l2_regularization": self.l2_regularization,
            "class_weight": self.class_weight,
            "early_stopping": self.early_stopping,
            "validation_fraction": self.validation_fraction,
        }
        n_threads = worker_thread_limit(self.n_jobs)
        self.estimators_ = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fit_member)(params, int(seed), X, y, sample_weight, n_threads)
            for seed in seeds
        )
        self.seeds_ = seeds
        self.n_iter_ = np.array([member.n_iter_ for member in self.estimators_])
        self.classes_ = self.estimators_[0].classes_
        return self

    def _check_lam(self, is_simulation):
        lam = self.lam
        if not isinstance(lam, numbers.Real) or isinstance(lam, bool) or not np.isfinite(lam):
            raise ValueError(f"lam must be a finite non-negative number; got {lam!r}.")
        if lam < 0:
            raise ValueError(
                f"lam must be >= 0; got {lam}. lam weighs the simulation term with inverted "
                f"labels (Kamenik & Szewc, eq. 6); a negative value would reward learning the "
                f"background's feature/m_jj correlations."
            )
        if lam > 0 and is_simulation is None:
            raise ValueError(
                f"lam={lam} needs the simulated background: pass fit(X, y, is_simulation=mask) "
                f"with True for the simulation rows (in cross_val_predict or a Pipeline, enable "
                f"metadata routing and call set_fit_request(is_simulation=True)), or set lam=0 "
                f"for the data-only CWoLa baseline."
            )
        if is_simulation is not None and self.class_weight is not None:
            raise ValueError(
                f"class_weight={self.class_weight!r} cannot be combined with is_simulation: the "
                f"SA-CWoLa weighting already gives the data and simulation regions equal total "
                f"weight, and the inverted simulation labels would get the other region's "
                f"class weight. Set class_weight=None (use sample_weight for per-event weights)."
            )

    def _sacwola_rows(self, X, y, sample_weight, is_simulation):
        sim = check_simulation_flags(is_simulation, y.shape[0])
        targets, weights = sacwola_targets_and_weights(y, sim, sample_weight, lam=self.lam)
        # A zero-weight row adds nothing to the loss but would still count in the members'
        # bin edges, min_samples_leaf and early-stopping split: at lam=0 the fit would depend
        # on a simulation it is meant to ignore.
        kept = np.flatnonzero(weights > 0)
        return X[kept], targets[kept].astype(np.int64), weights[kept].astype(np.float64)

    def predict_proba(self, X):
        """Class probabilities averaged over the members.

        Returns
        -------
        ndarray of shape (n_events, n_classes)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        proba = np.zeros((X.shape[0], self.classes_.size))
        for member in self.estimators_:
            proba += member.predict_proba(X)
        return proba / len(self.estimators_)

    def decision_function(self, X):
        """Log-odds of the averaged probability (binary), or log-probabilities (multiclass)."""
        proba = np.clip(self.predict_proba(X), 1e-15, 1.0)
        if self.classes_.size == 2:
            return np.log(proba[:, 1]) - np.log(proba[:, 0])
        return np.log(proba)

    def predict(self, X):
        """Most probable class of the averaged probabilities."""
        index = np.argmax(self.predict_proba(X), axis=1)
        return self.classes_[index]
