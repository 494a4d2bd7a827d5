"""The SA-CWoLa null-hypothesis test as one estimator: train out-of-fold, score, test honestly.

Kamenik & Szewc (PLB 840 (2023) 137836) train a classifier to tell the signal region from the
sidebands on data, blinded to the background's feature/m_jj correlations by a simulated
background with inverted labels (eq. 6), score every event out-of-fold, and test the score's
independence of m_jj. The last step needs care: the trained score is a function of features
that depend on m_jj, so it depends on m_jj even in pure background, and the plain asymptotic
independence test then fakes discoveries. :class:`SACWoLaTest` therefore tests by default with
:class:`~nhtad.stats.SmoothTrendIndependenceTest` on the signal-region alternative: the score
distribution may drift smoothly with m_jj, the degree of that drift chosen from the sidebands
and the simulation, and only a change confined to the signal region counts as a signal. The
plain asymptotic MI p-value is reported beside it, labelled with its assumption.
"""

from __future__ import annotations

import logging
import math
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import validate_data

from .datasets.regions import SignalRegion
from .scoring.crossfit import out_of_fold_scores
from .scoring.diagnostics import decorrelation_report
from .scoring.weights import check_simulation_flags
from .stats.base import BaseTest
from .stats.mutual_info import MutualInformationIndependenceTest
from .stats.smooth_trend import SmoothTrendIndependenceTest
from .utils.random import as_seed_sequence, child_seed
from .utils.validation import check_events_vector, check_positive_int

__all__ = ["SACWoLaTest", "default_sacwola_null"]

logger = logging.getLogger(__name__)


#: About this many m_jj bins in the default null: enough to follow a smooth trend, few enough
#: that every bin is well populated at any sample size.
_DEFAULT_Y_BINS = 20


def _rel_for(n_events):
    # The rel_uncertainty that gives about _DEFAULT_Y_BINS equal-count bins of n_events.
    rel = min(max(math.sqrt(_DEFAULT_Y_BINS / max(int(n_events), 1)), 1e-3), 0.5)
    return float(f"{rel:.3g}")


def default_sacwola_null(region=None, n_events=250_000):
    """The null test :class:`SACWoLaTest` uses by default, for ``n_events`` data events.

    :class:`~nhtad.stats.SmoothTrendIndependenceTest` with the signal-region alternative, the
    score cut into a halving ladder of quantiles (1/2, 1/4, ... down to a top bin of 100-200
    events), about 20 equal-count m_jj bins (``rel_uncertainty = sqrt(20 / n_events)``) and
    the degree chosen on the simulation from ``min_degree=1`` at ``selection_alpha=0.1``.
    Degree 0 is excluded because a trained score always keeps some m_jj dependence and, on a
    falling spectrum, the lower sideband outweighs the upper one, so that under degree 0 any
    linear trend of the score reads as a signal-region difference. The looser level raises
    the degree more readily because the simulation's table understates the data's trend:
    training with the simulation's labels inverted removes the simulation's own m_jj
    dependence from the score, not the part in which the data differ. Both choices trade some
    power for a p-value that holds on curved backgrounds; ``docs/study_honest_null.md`` gives
    the measurements.

    Parameters
    ----------
    region : SignalRegion, default=None
    n_events : int, default=250_000
        Data events in the window.
    """
    return SmoothTrendIndependenceTest(
        rel_uncertainty=_rel_for(n_events),
        y_bins=SignalRegion() if region is None else region,
        s_quantiles="halving",
        degree="auto",
        min_degree=1,
        selection_alpha=0.1,
        alternative="signal_region",
    )


class SACWoLaTest(BaseTest):
    """SA-CWoLa out-of-fold training and an honest test of the background-only null.

    Parameters
    ----------
    classifier : classifier, default=None
        Trained per fold on data + simulation with region labels; default
        :class:`~nhtad.scoring.SACWoLaClassifier` (``lam=1``). Anything with
        ``fit(X, y, is_simulation=...)`` and ``predict_proba``.
    null_test : BaseTest, default=None
        Test of the data's ``(s, m_jj)``; default :func:`default_sacwola_null` for ``region``
        and the number of data events. (Named ``test`` before: a parameter of that name hid
        the method :meth:`test`; ``test=`` still works for one release, with a
        ``FutureWarning``.)
        Tests that use a simulation (the smooth-trend degree rule, the homogeneous-association
        test, the relabelled MI null) receive the simulation's out-of-fold scores.
    region : SignalRegion, default=None
        Window and signal region; default ``SignalRegion()`` (3.3-3.7 TeV in 3.1-3.9 TeV).
    cv : int or splitter, default=5
        Folds of the out-of-fold training (see :func:`~nhtad.scoring.out_of_fold_scores`).
    n_seeds : int, default=1
        Trainings per fold, averaged.
    dependence_warning : float, default=3.0
        Warn when the score's m_jj dependence in background-like events is this significant
        (Z of the asymptotic MI test on the simulation's scores, or of the fitted smooth trend
        on the data).
    random_state : None, int or SeedSequence, default=None
        Seeds the folds, the trainings and the test's resampling.
    n_jobs : int, default=None
        Parallel fold trainings, through joblib.
    verbose : int, default=0
        Progress bars when > 0.

    Attributes
    ----------
    statistic_, pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        Those of the test (see :class:`~nhtad.stats.BaseTest`); ``result_.details`` adds
        ``"mi_asymptotic"`` (the plain MI p-value and Z with its assumption), the
        decorrelation diagnostics and the test's own details.
    test_ : BaseTest
        The fitted test.
    scores_ : OutOfFoldScores
        Every event's out-of-fold score.
    mi_asymptotic_ : TestResult or None
        The plain asymptotic MI test of Kamenik & Szewc on the data's scores, on about
        20 x 20 equal-count bins (``None`` if the binning failed): valid only if the score were
        independent of m_jj in background, which a trained score is not. Reported so that the
        honest p-value can be read beside the one the method used to quote.
    decorrelation_ : DecorrelationReport
        AUC of signal region vs sidebands and the MI test on the simulation's scores.
    n_features_in_ : int
    """

    def __init__(
        self,
        classifier=None,
        null_test=None,
        region=None,
        cv=5,
        n_seeds=1,
        dependence_warning=3.0,
        random_state=None,
        n_jobs=None,
        verbose=0,
        **deprecated,
    ):
        if "test" in deprecated:
            warnings.warn(
                "SACWoLaTest(test=...) is deprecated: pass null_test=... (the parameter hid "
                "the method SACWoLaTest.test).",
                FutureWarning,
                stacklevel=2,
            )
            null_test = deprecated.pop("test")
        if deprecated:
            raise TypeError(f"SACWoLaTest got unexpected arguments {sorted(deprecated)}.")
        self.classifier = classifier
        self.null_test = null_test
        self.region = region
        self.cv = cv
        self.n_seeds = n_seeds
        self.dependence_warning = dependence_warning
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _region(self):
        region = SignalRegion() if self.region is None else self.region
        if not isinstance(region, SignalRegion):
            raise ValueError(
                f"region must be a nhtad.datasets.SignalRegion; got {type(region).__name__}."
            )
        return region

    def _check_inputs(self, X, mjj, is_simulation, *, reset):
        X = validate_data(self, X, reset=reset, dtype=np.float64)
        mjj = check_events_vector(mjj, "mjj")
        if mjj.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} events but mjj has {mjj.shape[0]}.")
        if is_simulation is None:
            raise ValueError(
                "SACWoLaTest needs is_simulation: one flag per event, True for the simulated "
                "background that blinds the classifier to the background's m_jj correlations "
                "(fit(X, mjj, is_simulation=...))."
            )
        sim = check_simulation_flags(is_simulation, X.shape[0])
        if sim.all() or not sim.any():
            raise ValueError(
                "SACWoLaTest needs both data (is_simulation False) and simulated background "
                f"(True) events; got {int((~sim).sum())} data and {int(sim.sum())} simulated."
            )
        region = self._region()
        outside = ~region.in_window(mjj)
        if outside.any():
            raise ValueError(
                f"{int(outside.sum())} of {mjj.size} events lie outside the window of {region}; "
                "select them with region.in_window(mjj) first."
            )
        return X, mjj, sim, region

    def _seeds(self):
        root = as_seed_sequence(self.random_state)
        return root, child_seed(root, 1)

    def out_of_fold_scores(self, X, mjj, *, is_simulation):
        """Train the classifier out-of-fold and return every event's score (no test).

        The same seeds as :meth:`fit`, so ``fit`` on the same input gives these scores.

        Returns
        -------
        OutOfFoldScores
        """
        X, mjj, sim, region = self._check_inputs(X, mjj, is_simulation, reset=True)
        return self._train(X, mjj, sim, region)

    def _train(self, X, mjj, sim, region):
        check_positive_int(self.n_seeds, "n_seeds")
        if self.classifier is None:
            from .scoring.sacwola import SACWoLaClassifier

            classifier = SACWoLaClassifier()
        else:
            classifier = clone(self.classifier)
        train_seed, _ = self._seeds()
        return out_of_fold_scores(
            classifier,
            X,
            region.labels(mjj),
            is_simulation=sim,
            cv=self.cv,
            n_seeds=self.n_seeds,
            random_state=train_seed,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
        )

    def fit(self, X, mjj, *, is_simulation=None):
        """Train out-of-fold on data + simulation and test the data's ``(s, m_jj)``.

        Parameters
        ----------
        X : array-like of shape (n_events, n_features)
            Features of data and simulated events (m_jj is not a feature).
        mjj : array-like of shape (n_events,)
            Resonant mass in GeV, inside the region's window.
        is_simulation : array-like of bool of shape (n_events,)
            True for simulated background events.

        Returns
        -------
        self
        """
        X, mjj, sim, region = self._check_inputs(X, mjj, is_simulation, reset=True)
        scores = self._train(X, mjj, sim, region)
        s_data, y_data = scores.data, mjj[~sim]
        s_sim, y_sim = scores.simulation, mjj[sim]
        test = (
            default_sacwola_null(region, s_data.size)
            if self.null_test is None
            else clone(self.null_test)
        )
        _, test_seed = self._seeds()
        if "random_state" in test.get_params():
            test.set_params(random_state=test_seed)
        if test._accepts_simulation():
            test.fit(s_data, y_data, s_simulation=s_sim, y_simulation=y_sim)
        else:
            test.fit(s_data, y_data)

        # The plain MI test on about 20 x 20 equal-count bins, whatever the chosen test: a
        # reference that keeps its chi^2 law at any sample size.
        rel = _rel_for(s_data.size)
        try:
            mi = MutualInformationIndependenceTest(rel_uncertainty=rel, y_bins=region).test(
                s_data, y_data
            )
        except ValueError as err:
            logger.info("plain asymptotic MI test not run: %s", err)
            mi = None
        try:
            report = decorrelation_report(
                scores.scores,
                mjj,
                is_simulation=sim,
                region=region,
                mi_test=MutualInformationIndependenceTest(rel_uncertainty=rel, y_bins=region),
            )
        except ValueError as err:
            logger.info("decorrelation report not made: %s", err)
            report = None
        self._warn_dependence(test, report)

        self.test_ = test
        self.scores_ = scores
        self.mi_asymptotic_ = mi
        self.decorrelation_ = report
        result = test.result_
        details = dict(result.details)
        details["test"] = type(test).__name__
        details["mi_asymptotic"] = (
            None
            if mi is None
            else {
                "pvalue": mi.pvalue,
                "log_pvalue": mi.log_pvalue,
                "significance": mi.significance,
                "assumption": "s independent of m_jj in background (not true of a trained "
                "score: fakes discoveries at large N)",
            }
        )
        if report is not None:
            details["decorrelation"] = report.as_dict()
        self.null_distribution_ = test.null_distribution_
        return self._set_result(
            result.statistic,
            result.log_pvalue,
            method=result.method,
            n_events=result.n_events,
            null_distribution=test.null_distribution_,
            details=details,
        )

    def summary(self) -> str:
        """The honest result in words, then the plain MI p-value and the decorrelation checks.

        :meth:`TestResult.summary` of ``result_``, followed by the asymptotic MI test of
        Kamenik & Szewc on the same scores (with the assumption it needs) and
        :meth:`DecorrelationReport.summary`, so the p-value nhtad quotes and the one the
        method used to quote are read side by side.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "result_")
        parts = [self.result_.summary()]
        mi = self.mi_asymptotic_
        if mi is not None:
            parts.append(
                f"Plain asymptotic MI test on the same scores: p = {mi.pvalue:.3g}, "
                f"Z = {mi.significance:.2f}; it assumes s independent of m_jj in background, "
                "which a trained score is not, so it is shown for comparison only."
            )
        if self.decorrelation_ is not None:
            parts.append(self.decorrelation_.summary())
        return "\n\n".join(parts)

    def _warn_dependence(self, test, report):
        limit = float(self.dependence_warning)
        messages = []
        if report is not None and report.mi_simulation is not None:
            z = report.mi_simulation.significance
            if z > limit:
                messages.append(
                    f"the asymptotic MI test on the simulation's scores gives Z = {z:.1f}"
                )
        trend = getattr(test, "trend_significance_", 0.0)
        if trend > limit:
            messages.append(
                f"the data's score follows m_jj with a fitted trend of degree {test.degree_} at "
                f"Z = {trend:.1f}"
            )
        spurious = getattr(test, "spurious_signal_", None)
        if spurious is not None and spurious["significance"] > limit:
            messages.append(
                f"the smooth model finds a signal-region term of Z = "
                f"{spurious['significance']:.1f} in the signal-free simulation"
            )
        if messages:
            warnings.warn(
                "the score depends on m_jj in background-like events: "
                + "; ".join(messages)
                + ". The p-value allows for a smooth m_jj trend only; check the degree "
                "selection (test_.degree_selection_) and narrow the window if the dependence "
                "is not smooth.",
                UserWarning,
                stacklevel=3,
            )
