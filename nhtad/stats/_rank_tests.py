"""Shared machinery of the pairwise independence tests with a Blum-Kiefer-Rosenblatt null."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..utils.random import as_seed_sequence, spawn_children
from ..utils.validation import check_not_constant, check_paired_vectors
from .base import ASYMPTOTIC, RESAMPLED, BaseTest
from .blum_kiefer_rosenblatt import bkr_log_sf
from .pvalues import empirical_log_pvalue
from .resampling import check_null_method, resample_null

_METHODS = ("asymptotic", "permutation")
_MIN_EVENTS = 5  # Hoeffding's D divides by n - 4, the U-statistic of dCov by n - 3


@dataclass
class Computed:
    """What a pairwise test computes on the data, for :meth:`BKRIndependenceTest.fit`."""

    statistic: float
    bkr_statistic: float | None  # the value referred to the BKR law; None without one
    # A module-level permutation_batch(rng, n, *permutation_args) -> n statistics with y
    # permuted against s (module-level so that joblib workers can unpickle it).
    permutation_batch: Callable
    permutation_args: tuple
    details: dict = field(default_factory=dict)


class BKRIndependenceTest(BaseTest):
    """Base of tests whose statistic is referred to the BKR law or to permutations of ``y``.

    Subclasses store ``method``, ``n_resamples``, ``n_jobs``, ``random_state`` and ``verbose``,
    and implement ``_compute(s, y, rng) -> Computed`` (``rng`` breaks ties).
    """

    def _check_params(self):
        check_null_method(self.method, _METHODS, self.n_resamples)

    def fit(self, s, y):
        """Run the test on scores ``s`` and resonant-variable values ``y``.

        Parameters
        ----------
        s : array-like of shape (n_events,)
            Anomaly score per event.
        y : array-like of shape (n_events,)
            Resonant variable per event (m_jj).

        Returns
        -------
        self
        """
        self._check_params()
        s, y = check_paired_vectors(s, y)
        if s.size < _MIN_EVENTS:
            raise ValueError(
                f"{type(self).__name__} needs at least {_MIN_EVENTS} events; got {s.size}."
            )
        for name, values in (("s", s), ("y", y)):
            check_not_constant(
                values, name, "there is no dependence to test; check the score or the selection."
            )
        tie_seed, resample_seed = spawn_children(as_seed_sequence(self.random_state), 2)
        computed = self._compute(s, y, np.random.default_rng(tie_seed))
        null = None
        if self.method == "asymptotic":
            log_p, kind = bkr_log_sf(computed.bkr_statistic), ASYMPTOTIC
        else:
            null = resample_null(
                computed.permutation_batch,
                self.n_resamples,
                args=computed.permutation_args,
                batch_size=10,
                random_state=resample_seed,
                n_jobs=self.n_jobs,
                verbose=self.verbose,
                desc=f"{type(self).__name__} permutations",
            )
            log_p, kind = empirical_log_pvalue(null, computed.statistic), RESAMPLED
        return self._set_result(
            computed.statistic,
            log_p,
            method=kind,
            n_events=s.size,
            null_distribution=null,
            details={"bkr_statistic": computed.bkr_statistic, **computed.details},
        )
