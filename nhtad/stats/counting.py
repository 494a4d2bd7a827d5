"""Counting statistics of a cut-and-count: Z of an anomaly cut, one-count likelihood ratio, tails.

The p-values are summed in log space below 1e-250, so Z of tens to hundreds is a number.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special, stats

from ..utils.validation import check_paired_vectors

__all__ = [
    "anomaly_cut_significance",
    "poisson_likelihood_ratio",
    "binomial_log_sf",
    "poisson_log_sf",
]

# Below exp(-575) ~ 1e-250 the library survival functions are no longer trusted (they return
# log(sf), which is -inf once sf underflows at ~1e-308 and imprecise among denormals just
# above); the log-space sums below take over. Same floor as pvalues._GAMMAINCC_FLOOR.
_LOG_SF_FLOOR = math.log(1e-250)
# A tail sum stops once its last term is this far (in log) below the running total: the
# remaining terms fall geometrically, so they change log p by < e^-50 relative.
_TAIL_LOG_TOLERANCE = 50.0


# -- counting statistics ----------------------------------------------------------------------
def anomaly_cut_significance(n1_selected, n1, n2_selected, n2, *, efficiency_uncertainty=False):
    """Significance of an SR excess after an anomaly cut, Kamenik & Szewc's baseline.

    With ``eps2 = n2_selected / n2`` the measured sideband efficiency, the background expected
    in the SR after the cut is ``b = eps2 N1`` and

    ``Z = max(n1_selected - eps2 N1, 0) / sqrt(eps2 N1 + n2_selected)``
    ``  = (eps1 - eps2) N1 / sqrt(eps2 (N1 + N2))``   (``eps1 >= eps2``, else 0),

    the formula of Kamenik & Szewc (PLB 840 (2023) 137836) and their public code. With
    ``efficiency_uncertainty=True`` the variance is instead

    ``Var = eps2 N1 + N1^2 eps2 (1 - eps2) / N2``,

    the Poisson variance of ``b`` plus the binomial variance of the measured ``eps2`` scaled to
    the SR. Their ``n2_selected = eps2 N2`` stands in for that second term only when
    ``N1 ~ N2``: for ``N1 > N2`` the seed formula under-covers the null (too many false
    discoveries), for ``N1 < N2`` it is conservative.

    Parameters
    ----------
    n1_selected, n1 : int
        SR events passing the cut, and all SR events.
    n2_selected, n2 : int
        SB events passing the cut (> 0), and all SB events.
    efficiency_uncertainty : bool, default=False
        Use the variance with the binomial error of ``eps2``.

    Returns
    -------
    z : float
        The significance, >= 0.
    variance : float
        The variance in the denominator.
    """
    eps2 = n2_selected / n2
    expected = eps2 * n1
    if efficiency_uncertainty:
        variance = expected + n1 * n1 * eps2 * (1.0 - eps2) / n2
    else:
        variance = expected + n2_selected
    return max(n1_selected - expected, 0.0) / math.sqrt(variance), variance


def poisson_likelihood_ratio(n_observed, expected):
    """One-sided Poisson log-likelihood ratio ``t_cc = 2 [N ln(N/b) - (N - b)]`` for ``N > b``.

    The discovery statistic of a single count with background ``b`` (q0 of one count, Cowan,
    Cranmer, Gross, Vitells, EPJC 71 (2011) 1554): the likelihood ratio of the best-fit signal
    ``N - b`` against none; 0 for a deficit, so only excesses count as evidence.
    """
    if not n_observed > expected:
        return 0.0
    return 2.0 * (n_observed * math.log(n_observed / expected) - (n_observed - expected))


def _log_tail_sum(log_terms_from, start, stop):
    # log sum_{j=start}^{stop} exp(log_terms_from(j)), for terms that fall monotonically past
    # the mode: evaluate blocks of doubling length (vectorised) until the last term is
    # negligible against the running total or the support ends.
    total, lo, size = -math.inf, start, 256
    while lo <= stop:
        hi = min(stop, lo + size - 1)
        terms = log_terms_from(np.arange(lo, hi + 1, dtype=np.float64))
        total = float(np.logaddexp(total, special.logsumexp(terms)))
        if terms[-1] < total - _TAIL_LOG_TOLERANCE and terms[-1] <= terms[0]:
            break
        lo, size = hi + 1, size * 2
    return total


def binomial_log_sf(k, n, p):
    """``log P(X >= k)`` for ``X ~ Binomial(n, p)``, finite far past the underflow of ``P``.

    ``scipy.stats.binom.logsf(k - 1, n, p)`` in the body; where ``P < 1e-250`` the upper tail
    ``sum_{j >= k} C(n, j) p^j (1 - p)^(n - j)`` is summed in log space, the terms written
    with ``log C(n, j) = -log(n + 1) - betaln(n - j + 1, j + 1)`` so that no factor underflows.
    """
    k, n = int(k), int(n)
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    log_p = float(stats.binom.logsf(k - 1, n, p))
    if log_p > _LOG_SF_FLOOR:
        return log_p
    log_q, log_1mq = math.log(p), math.log1p(-p)

    def log_pmf(j):
        return (
            -math.log(n + 1.0)
            - special.betaln(n - j + 1.0, j + 1.0)
            + j * log_q
            + (n - j) * log_1mq
        )

    return _log_tail_sum(log_pmf, k, n)


def poisson_log_sf(k, mean):
    """``log P(X >= k)`` for ``X ~ Poisson(mean)``, finite far past the underflow of ``P``.

    ``P(X >= k)`` is the regularised lower incomplete gamma function ``P(k, mean)``;
    ``scipy.stats.poisson.logsf(k - 1, mean)`` in the body, and where ``P < 1e-250`` the
    tail ``sum_{j >= k} e^-mean mean^j / j!`` summed in log space.
    """
    k = int(k)
    if k <= 0:
        return 0.0
    log_p = float(stats.poisson.logsf(k - 1, mean))
    if log_p > _LOG_SF_FLOOR:
        return log_p
    log_mean = math.log(mean)

    def log_pmf(j):
        return -mean + j * log_mean - special.gammaln(j + 1.0)

    return _log_tail_sum(log_pmf, k, math.inf)


# -- selections shared by the cut-and-count tests ------------------------------------------
def split_by_label(s, labels, name, classes, usage):
    # Validate (s, labels) and return s with the mask of label 1; both classes must be present.
    s, labels = check_paired_vectors(s, labels, y_name=name)
    bad = (labels != 0) & (labels != 1)
    if bad.any():
        raise ValueError(
            f"{usage}; got other values {np.unique(labels[bad])[:5].tolist()} "
            f"({int(bad.sum())} events)."
        )
    ones = labels == 1
    n_ones = int(np.count_nonzero(ones))
    for count, cls, label in ((n_ones, classes[0], 1), (s.size - n_ones, classes[1], 0)):
        if count == 0:
            raise ValueError(
                f"the {cls} has no events (no {name} == {label} among {s.size}); {usage}, and "
                f"the test needs both."
            )
    return s, ones


def quantile_threshold(s_ref, q, sample, parameter):
    # The q quantile with numpy's default (linear) interpolation; an event passes if s > it.
    threshold = float(np.quantile(s_ref, q))
    n_pass = int(np.count_nonzero(s_ref > threshold))
    if n_pass == 0:
        n_tied = int(np.count_nonzero(s_ref == threshold))
        raise ValueError(
            f"no {sample} event scores above the threshold {threshold:g}: {n_tied} of "
            f"{s_ref.size} {sample} scores are tied at it (the score saturates). Change "
            f"{parameter} or use a score without ties (e.g. the logit rather than a clipped "
            f"probability)."
        )
    return threshold, n_pass
