"""Out-of-fold anomaly scores over data and simulation, with seed ensembling.

A score tested on the events it was trained on is not a score of new data: a classifier that
memorised fluctuations of the signal region would fake a discovery. Kamenik & Szewc therefore
split data and simulation together into k folds and score every event with the model trained
on the other k-1 folds. :func:`sklearn.model_selection.cross_val_predict` does the same for a
single seed; this helper adds what it cannot: folds stratified by the four SA-CWoLa subsets,
averaging of several training seeds per fold, and the simulation's scores beside the data's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, check_cv
from sklearn.utils.validation import indexable

from ..utils.batches import run_batches
from ..utils.random import as_seed_sequence, spawn_children
from ..utils.summary import aligned, wrap
from ..utils.validation import check_positive_int, check_sample_weight
from .weights import check_region_labels, check_simulation_flags

__all__ = ["OutOfFoldScores", "out_of_fold_scores"]

_METHODS = ("predict_proba", "decision_function")


@dataclass(frozen=True, eq=False)
class OutOfFoldScores:
    """Every event's score from models that never saw it.

    Attributes
    ----------
    scores : ndarray of shape (n_events,)
        Out-of-fold score of every event, in input order (averaged over seeds).
    fold : ndarray of int of shape (n_events,)
        Fold in which each event was held out.
    is_simulation : ndarray of bool of shape (n_events,)
    seeds : ndarray of int of shape (n_folds, n_seeds)
        ``random_state`` of every trained model.
    """

    scores: np.ndarray
    fold: np.ndarray
    is_simulation: np.ndarray
    seeds: np.ndarray

    @property
    def data(self) -> np.ndarray:
        """Scores of the data events, in input order."""
        return self.scores[~self.is_simulation]

    @property
    def simulation(self) -> np.ndarray:
        """Scores of the simulated events (a diagnostic: see :func:`decorrelation_report`)."""
        return self.scores[self.is_simulation]

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """What was scored and how: events, folds, seeds and the score distributions, in words.

        Returns
        -------
        str
            Several lines, for a person to read; ``str(scores)`` gives the same text.
        """
        n_folds, n_seeds = self.seeds.shape if self.seeds.ndim == 2 else (self.seeds.size, 1)
        per_fold = np.bincount(self.fold[self.fold >= 0], minlength=n_folds)
        lines = [
            f"OutOfFoldScores: {self.scores.size} events ({self.data.size} data, "
            f"{self.simulation.size} simulation)",
            *aligned(
                [
                    (
                        "training",
                        f"{n_folds} folds x {n_seeds} seed(s) = {n_folds * n_seeds} trained "
                        f"models; every event is scored by "
                        + (
                            "the model"
                            if n_seeds == 1
                            else f"the mean of the {n_seeds} models (one per seed)"
                        )
                        + " of the fold that held it out, never by a model that saw it",
                    ),
                    ("events per fold", _range_text(per_fold, "{:d}")),
                    ("data scores", _distribution_text(self.data)),
                    ("simulation scores", _distribution_text(self.simulation)),
                ]
            ),
        ]
        if self.simulation.size:
            lines.append(
                wrap(
                    "Next: decorrelation_report(scores.scores, mjj, is_simulation=...) checks "
                    "that the score did not learn m_jj (AUC of the signal region vs the "
                    "sidebands on simulation near 0.5).",
                    indent="  ",
                    first="  ",
                )
            )
        return "\n".join(lines)


def _range_text(values, fmt) -> str:
    if values.size == 0:
        return "none"
    low, high = values.min(), values.max()
    return fmt.format(low) if low == high else f"{fmt.format(low)} to {fmt.format(high)}"


def _distribution_text(values) -> str | None:
    """Mean, standard deviation and range of some scores (None without any)."""
    if values.size == 0:
        return None
    return (
        f"mean {values.mean():.4g}, sd {values.std():.4g}, "
        f"range [{values.min():.4g}, {values.max():.4g}]"
    )


def _fit_and_score(fit, estimator, X, y, fit_params, method):
    train, test, seed = fit
    model = clone(estimator)
    if seed is not None:
        model.set_params(random_state=int(seed))
    params = {k: v[train] for k, v in fit_params.items()}
    model.fit(X[train], y[train], **params)
    out = getattr(model, method)(X[test])
    return out[:, 1] if method == "predict_proba" else out


def out_of_fold_scores(
    estimator,
    X,
    y,
    *,
    is_simulation=None,
    sample_weight=None,
    cv=10,
    n_seeds=1,
    method="predict_proba",
    n_jobs=None,
    random_state=None,
    verbose=0,
) -> OutOfFoldScores:
    """k-fold scores of data and simulation events, averaged over ``n_seeds`` trainings per fold.

    Parameters
    ----------
    estimator : classifier
        E.g. :class:`SACWoLaClassifier` or a Pipeline ending in it (with metadata routing
        enabled and ``set_fit_request(is_simulation=True)``). Cloned for every fit.
    X : array-like of shape (n_events, n_features)
    y : array-like of shape (n_events,)
        Region label: 1 = signal region, 0 = sidebands.
    is_simulation : array-like of bool, default=None
        Passed to ``fit`` (sliced per fold) when given; also splits the returned scores.
    sample_weight : array-like of shape (n_events,), default=None
        Passed to ``fit`` (sliced per fold) when given; finite, one weight per event.
    cv : int or cross-validation splitter, default=10
        An int gives :class:`~sklearn.model_selection.StratifiedKFold` with shuffling,
        stratified by the four subsets (data/simulation x region) so every training fold has
        all of them; a splitter is called as ``cv.split(X, subset)``.
    n_seeds : int, default=1
        Trainings per fold with different seeds; their outputs are averaged. Averaging shrinks
        the seed-to-seed noise that a trained score carries (under the null that noise is a
        random function of x, which is dependent on m_jj wherever x is).
    method : {"predict_proba", "decision_function"}, default="predict_proba"
        Output averaged and returned (column 1 of ``predict_proba``).
    n_jobs : int, default=None
        Fits run in parallel through joblib.
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Seeds the fold split and every model (the estimator's own ``random_state`` is replaced
        by seeds spawned from this one in the parent, so results do not depend on ``n_jobs``).
    verbose : int, default=0
        Progress bar over the fits when > 0.

    Returns
    -------
    OutOfFoldScores
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {method!r}.")
    check_positive_int(n_seeds, "n_seeds")
    X, y = indexable(X, y)
    X = np.asarray(X)
    region = check_region_labels(y)
    n = region.shape[0]
    if X.shape[0] != n:
        raise ValueError(f"X has {X.shape[0]} events but y has {n}.")
    sim = np.zeros(n, bool) if is_simulation is None else check_simulation_flags(is_simulation, n)
    fit_params = {}
    if is_simulation is not None:
        fit_params["is_simulation"] = sim
    if sample_weight is not None:
        # Checked here: sliced per fold, a short array failed deep in numpy with an IndexError.
        # The sign is the estimator's business (some accept negative weights).
        fit_params["sample_weight"] = check_sample_weight(sample_weight, n, non_negative=False)

    root = as_seed_sequence(random_state)
    split_seed, *model_seeds = spawn_children(root, 1 + n_seeds)
    subset = region + 2 * sim
    if isinstance(cv, int) and not isinstance(cv, bool):
        check_positive_int(cv, "cv", minimum=2)
        smallest = np.bincount(subset)[np.unique(subset)].min()
        if smallest < cv:
            raise ValueError(
                f"cv={cv} folds need at least {cv} events in each data/simulation x region "
                f"subset; the smallest has {smallest}. Use fewer folds or more events."
            )
        splitter = StratifiedKFold(
            n_splits=cv, shuffle=True, random_state=int(split_seed.generate_state(1)[0] >> 1)
        )
    else:
        splitter = check_cv(cv)
    splits = list(splitter.split(X, subset))
    has_seed = "random_state" in estimator.get_params()
    # seeds[k, j]: fold k, ensemble member j; drawn once, in the parent.
    per_member = [spawn_children(seq, len(splits)) for seq in model_seeds]
    seeds = np.array(
        [
            [int(member[k].generate_state(1)[0] >> 1) for member in per_member]
            for k in range(len(splits))
        ]
    )

    # One joblib task per training: fold k, ensemble member j, in that order.
    fits = [
        (train, test, seeds[k, j] if has_seed else None)
        for k, (train, test) in enumerate(splits)
        for j in range(n_seeds)
    ]
    outputs = run_batches(
        _fit_and_score,
        fits,
        args=(estimator, X, region, fit_params, method),
        n_jobs=n_jobs,
        verbose=verbose,
        desc="out-of-fold fits",
    )
    scores = np.zeros(n)
    fold = np.full(n, -1)
    for i, out in enumerate(outputs):
        k = i // n_seeds
        test = splits[k][1]
        scores[test] += out / n_seeds
        fold[test] = k
    if (fold < 0).any():
        raise ValueError(
            f"The cross-validation splitter left {int((fold < 0).sum())} events out of every "
            f"test fold; out-of-fold scores need a partition (e.g. KFold, StratifiedKFold)."
        )
    return OutOfFoldScores(scores=scores, fold=fold, is_simulation=sim, seeds=seeds)
