"""Hoeffding's D test of independence in O(n log^2 n).

Hoeffding (Ann. Math. Statist. 19 (1948) 546) estimates ``30 int (F(x, y) - F(x) G(y))^2 dF``
without bias from ranks: with ``R_i``, ``S_i`` the ranks of ``x_i``, ``y_i`` and ``Q_i`` one plus
the number of events below event i in both variables,

    D = 30 [(n-2)(n-3) D1 + D2 - 2(n-2) D3] / [n(n-1)(n-2)(n-3)(n-4)],
    D1 = sum (Q-1)(Q-2),  D2 = sum (R-1)(R-2)(S-1)(S-2),  D3 = sum (R-2)(S-2)(Q-1).

The bivariate ranks ``Q`` are dominance counts (:mod:`._pair_sums`), so the whole statistic costs
O(n log^2 n). Under independence of continuous variables ``n D / 30 + 1/36`` converges to the
Blum-Kiefer-Rosenblatt law, an exact distribution-free null. Ties (a score's point mass) are
broken at random, which keeps that null exact.
"""

from __future__ import annotations

import numpy as np

from ..utils.random import as_seed_sequence
from ._pair_sums import dominance_sums, random_ranks
from ._rank_tests import BKRIndependenceTest, Computed
from .blum_kiefer_rosenblatt import BKR_MEAN

__all__ = ["HoeffdingDTest", "hoeffding_d"]


def _d_from_ranks(s_by_r):
    # Ranks R = 1..n are the positions in x order; S holds the y ranks (0-based) in that order.
    n = s_by_r.size
    q1 = dominance_sums(s_by_r, np.ones((n, 1)))[:, 0]  # Q - 1
    r = np.arange(1.0, n + 1.0)
    s = s_by_r + 1.0
    d1 = np.sum(q1 * (q1 - 1.0))
    d2 = np.sum((r - 1.0) * (r - 2.0) * (s - 1.0) * (s - 2.0))
    d3 = np.sum((r - 2.0) * (s - 2.0) * q1)
    numerator = (n - 2.0) * (n - 3.0) * d1 + d2 - 2.0 * (n - 2.0) * d3
    return 30.0 * numerator / (n * (n - 1.0) * (n - 2.0) * (n - 3.0) * (n - 4.0))


def _y_ranks_in_x_order(x, y, rng):
    # The statistic depends on the pairs of ranks only: list the y ranks in the order of x.
    rx, ry = random_ranks(x, rng), random_ranks(y, rng)
    s_by_r = np.empty_like(ry)
    s_by_r[rx] = ry
    return s_by_r


def hoeffding_d(x, y, *, random_state=None) -> float:
    """Hoeffding's D of two samples (ties broken at random), in O(n log^2 n); n >= 5."""
    rng = np.random.default_rng(as_seed_sequence(random_state))
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return _d_from_ranks(_y_ranks_in_x_order(x, y, rng))


def _permutation_batch(rng, n_draws, s_by_r):
    return np.array([_d_from_ranks(rng.permutation(s_by_r)) for _ in range(n_draws)])


class HoeffdingDTest(BKRIndependenceTest):
    """Test independence of a score ``s`` and the resonant variable ``y`` with Hoeffding's D.

    A rank statistic, invariant under monotone transformations of ``s`` and ``y``, consistent
    against every continuous dependence, and computed in O(n log^2 n) (see the module docstring).

    Parameters
    ----------
    method : {"asymptotic", "permutation"}, default="asymptotic"
        Null distribution: the Blum-Kiefer-Rosenblatt limit of ``n D / 30 + 1/36``, or
        permutations of ``y`` against ``s``.
    n_resamples : int, default=999
        Permutations for ``method="permutation"``.
    n_jobs : int, default=None
        Parallel workers for permutations, through joblib.
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Seeds tie-breaking and permutations; identical results for any ``n_jobs``.
    verbose : int, default=0
        Progress bar for permutations when > 0.

    Attributes
    ----------
    statistic_ : float
        Hoeffding's D (scaled by 30 as Hoeffding defined it; about 0 under independence).
    pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(2)
    >>> s, y = rng.random(2000), rng.random(2000)
    >>> bool(0 < HoeffdingDTest(random_state=0).fit(s, y).pvalue_ <= 1)
    True
    """

    def __init__(
        self, method="asymptotic", n_resamples=999, n_jobs=None, random_state=None, verbose=0
    ):
        self.method = method
        self.n_resamples = n_resamples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _compute(self, s, y, rng):
        s_by_r = _y_ranks_in_x_order(s, y, rng)
        d = _d_from_ranks(s_by_r)
        return Computed(
            statistic=d,
            bkr_statistic=s.size * d / 30.0 + BKR_MEAN,
            permutation_batch=_permutation_batch,
            permutation_args=(s_by_r,),
        )
