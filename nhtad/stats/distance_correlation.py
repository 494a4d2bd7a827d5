"""Distance-correlation test of independence, O(n log^2 n) for one-dimensional variables.

Distance covariance (Szekely, Rizzo & Bakirov, Ann. Statist. 35 (2007) 2769) is zero if and
only if two variables are independent. This module uses its unbiased (U-statistic) estimator
``Omega_n`` (Szekely & Rizzo, Ann. Statist. 42 (2014) 2382) computed with the fast algorithm of
Huo & Szekely (Technometrics 58 (2016) 435), so that N = 250k events take a fraction of a second
instead of the O(N^2) pairwise matrix.

On ranks (the default), distance covariance is ``4 int int (C(u, v) - u v)^2 du dv`` of the copula
and ``n Omega_n / 4 + 1/36`` converges under independence to the Blum-Kiefer-Rosenblatt law
(:mod:`.blum_kiefer_rosenblatt`): an exact, distribution-free asymptotic null. On raw values the
null law depends on the marginals, so only the permutation null is offered.
"""

from __future__ import annotations

import numpy as np

from ._pair_sums import dominance_sums, random_ranks
from ._rank_tests import BKRIndependenceTest, Computed
from .blum_kiefer_rosenblatt import BKR_MEAN

__all__ = ["DistanceCorrelationTest", "distance_covariance_u"]


def _abs_row_sums(values):
    # sum_j |v_i - v_j| for every i from one sort: (2k - n) v + S - 2 P_k at sorted position k,
    # P_k the sum of the k smaller values (tied values contribute 0 on either side).
    n = values.size
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    prefix = np.concatenate(([0.0], np.cumsum(ordered)[:-1]))
    sums = np.empty(n)
    sums[order] = (2.0 * np.arange(n) - n) * ordered + ordered.sum() - 2.0 * prefix
    return sums


def _u_statistic(cross, row_a, row_b, n):
    # Omega_n of Szekely & Rizzo (2014), eq. (3.3) / Huo & Szekely (2016), eq. (2.3).
    return (
        cross / (n * (n - 3.0))
        - 2.0 * np.dot(row_a, row_b) / (n * (n - 2.0) * (n - 3.0))
        + row_a.sum() * row_b.sum() / (n * (n - 1.0) * (n - 2.0) * (n - 3.0))
    )


def _cross_sum(x_sorted, y_by_x):
    # sum_{i != j} |x_i - x_j| |y_i - y_j| with the events in ascending x: for j < i the first
    # factor is x_i - x_j, and |y_i - y_j| = (y_i - y_j)(2 [y_j < y_i] - 1), so everything reduces
    # to prefix sums and dominance sums of 1, x, y, xy (tied pairs contribute zero either way).
    n = x_sorted.size
    _, y_rank = np.unique(y_by_x, return_inverse=True)
    weights = np.column_stack([np.ones(n), x_sorted, y_by_x, x_sorted * y_by_x])
    below = dominance_sums(y_rank, weights)
    prefix = np.cumsum(weights, axis=0) - weights
    x, y = x_sorted, y_by_x

    def pair_terms(c):
        return x * y * c[:, 0] - x * c[:, 2] - y * c[:, 1] + c[:, 3]

    return 2.0 * float(np.sum(2.0 * pair_terms(below) - pair_terms(prefix)))


def _dvar(values):
    n = values.size
    rows = _abs_row_sums(values)
    cross = 2.0 * n * np.dot(values, values) - 2.0 * values.sum() ** 2
    return _u_statistic(cross, rows, rows, n)


def distance_covariance_u(x, y) -> float:
    """Unbiased distance covariance ``Omega_n(x, y)`` of two 1-D samples in O(n log^2 n).

    Parameters
    ----------
    x, y : ndarray of shape (n,)
        n >= 4.

    Returns
    -------
    float
        ``Omega_n``; its expectation is ``dCov^2(X, Y)``, zero under independence.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    return _u_statistic(_cross_sum(x[order], y[order]), _abs_row_sums(x), _abs_row_sums(y), x.size)


def _permutation_batch(rng, n_draws, x_sorted, y_by_x, row_x, scale):
    n = x_sorted.size
    out = np.empty(n_draws)
    for k in range(n_draws):
        perm = rng.permutation(n)
        y_perm = y_by_x[perm]
        # The row sums of y travel with the y values; only the cross term must be recomputed.
        row_y = _abs_row_sums(y_perm)
        out[k] = _u_statistic(_cross_sum(x_sorted, y_perm), row_x, row_y, n) / scale
    return out


class DistanceCorrelationTest(BKRIndependenceTest):
    """Test independence of a score ``s`` and the resonant variable ``y`` by distance correlation.

    The statistic is the bias-corrected distance correlation
    ``R*_n = Omega_n(s, y) / sqrt(Omega_n(s, s) Omega_n(y, y))`` (Szekely & Rizzo 2014), computed
    in O(n log^2 n). Unlike binned mutual information it needs no binning and detects any
    dependence, but it weighs all of the score's range alike rather than its signal-like tail.

    Parameters
    ----------
    rank : bool, default=True
        Compute it on ranks (ties broken at random with ``random_state``): invariant under any
        monotone transformation of ``s`` or ``y`` and with an exact distribution-free asymptotic
        null (:mod:`~nhtad.stats.blum_kiefer_rosenblatt`). ``False`` uses the raw values, whose
        null law depends on the marginals: only ``method="permutation"`` then.
    method : {"asymptotic", "permutation"}, default="asymptotic"
        Null distribution: the Blum-Kiefer-Rosenblatt limit of ``n Omega_n / 4 + 1/36`` (ranks),
        or permutations of ``y`` against ``s``.
    n_resamples : int, default=999
        Permutations for ``method="permutation"`` (each costs one O(n log^2 n) evaluation).
    n_jobs : int, default=None
        Parallel workers for permutations, through joblib.
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Seeds tie-breaking and permutations; identical results for any ``n_jobs``.
    verbose : int, default=0
        Progress bar for permutations when > 0.

    Attributes
    ----------
    statistic_ : float
        Bias-corrected distance correlation ``R*_n`` (near 0 under independence).
    dcov_ : float
        ``Omega_n(s, y)`` of the (ranked) data.
    pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> y = rng.random(5000)
    >>> test = DistanceCorrelationTest(random_state=0).fit(y + rng.normal(size=5000), y)
    >>> bool(test.significance_ > 5)
    True
    """

    def __init__(
        self,
        rank=True,
        method="asymptotic",
        n_resamples=999,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.rank = rank
        self.method = method
        self.n_resamples = n_resamples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        super()._check_params()
        if self.method == "asymptotic" and not self.rank:
            raise ValueError(
                "the asymptotic null of distance correlation on raw values depends on the unknown "
                "marginal distributions; use rank=True (exact distribution-free null) or "
                "method='permutation'."
            )

    def _compute(self, s, y, rng):
        n = s.size
        if self.rank:
            # Ranks scaled to (0, 1): the copula scale on which the BKR limit is stated.
            u = (random_ranks(s, rng) + 0.5) / n
            v = (random_ranks(y, rng) + 0.5) / n
        else:
            u = (s - s.mean()) / s.std()
            v = (y - y.mean()) / y.std()
        order = np.argsort(u, kind="stable")
        u_sorted, v_by_u = u[order], v[order]
        row_u = _abs_row_sums(u_sorted)
        dcov = _u_statistic(_cross_sum(u_sorted, v_by_u), row_u, _abs_row_sums(v_by_u), n)
        scale = np.sqrt(_dvar(u) * _dvar(v))
        self.dcov_ = dcov
        return Computed(
            statistic=dcov / scale,
            bkr_statistic=n * dcov / 4.0 + BKR_MEAN if self.rank else None,
            permutation_batch=_permutation_batch,
            permutation_args=(u_sorted, v_by_u, row_u, scale),
            details={"dcov": dcov, "rank": bool(self.rank)},
        )
