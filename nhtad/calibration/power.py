"""Power and median significance of a test from null and alternative toys.

The definitions follow Grosso & Letizia, arXiv:2408.12296 and its public code, which quote for
every test, and every combination of tests, the power at ``Z = 2`` and ``Z = 3`` and its
68% Clopper-Pearson interval, and the significance of the median alternative toy. Larger
statistics are more anomalous throughout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import stats

from ..stats.pvalues import empirical_log_pvalue, log_pvalue_to_significance
from ..utils.validation import check_events_vector, check_open_unit_interval

__all__ = [
    "ONE_SIGMA",
    "ClopperPearsonInterval",
    "PowerAtSignificance",
    "MedianSignificance",
    "power_at_significance",
    "clopper_pearson",
    "median_significance",
]

logger = logging.getLogger(__name__)

#: Probability of a standard Gaussian within one sigma, ``erf(1/sqrt(2))``, rounded as usual.
ONE_SIGMA = 0.6827


class ClopperPearsonInterval(NamedTuple):
    """Bounds of an exact binomial confidence interval on a proportion."""

    low: float | np.ndarray
    high: float | np.ndarray


def clopper_pearson(k, n, confidence: float = ONE_SIGMA) -> ClopperPearsonInterval:
    """Exact (Clopper-Pearson, 1934) central confidence interval of a binomial proportion.

    With ``a = (1 - confidence) / 2``: ``low = B^{-1}(a; k, n - k + 1)`` and
    ``high = B^{-1}(1 - a; k + 1, n - k)``, ``B^{-1}`` the quantile function of the Beta
    distribution; ``low = 0`` for ``k = 0`` and ``high = 1`` for ``k = n``. The same interval as
    ``scipy.stats.binomtest(k, n).proportion_ci(confidence, method="exact")``, vectorised.

    arXiv:2408.12296 quotes ``BetaPPF(0.84; k, n - k + 1)`` as the upper end instead, the lower
    end's Beta at the other quantile, which is narrower than this textbook bound; its lower end
    equals this one at ``confidence=0.68``.

    Parameters
    ----------
    k : int or array-like of int
        Successes, ``0 <= k <= n``.
    n : int or array-like of int
        Trials, >= 1.
    confidence : float, default=0.6827
        Central coverage, in (0, 1); the default is one Gaussian sigma.

    Returns
    -------
    ClopperPearsonInterval
        ``(low, high)``, floats or arrays broadcast from ``k`` and ``n``.
    """
    confidence = check_open_unit_interval(confidence, "confidence")
    k_arr, n_arr = np.broadcast_arrays(np.asarray(k), np.asarray(n))
    if (
        not np.issubdtype(k_arr.dtype, np.integer)
        or not np.issubdtype(n_arr.dtype, np.integer)
        or (n_arr < 1).any()
        or (k_arr < 0).any()
        or (k_arr > n_arr).any()
    ):
        raise ValueError(
            f"k and n must be integers with n >= 1 and 0 <= k <= n; got k={k!r}, n={n!r}."
        )
    k_f = k_arr.astype(float)
    n_f = n_arr.astype(float)
    a = 0.5 * (1.0 - confidence)
    # The Beta shapes k and n - k vanish at the edges, where the bounds are 0 and 1 by
    # definition; clamping them to 1 only avoids evaluating an undefined Beta there.
    low = np.where(k_arr == 0, 0.0, stats.beta.ppf(a, np.maximum(k_f, 1.0), n_f - k_f + 1.0))
    high = np.where(k_arr == n_arr, 1.0, stats.beta.isf(a, k_f + 1.0, np.maximum(n_f - k_f, 1.0)))
    if low.ndim == 0:
        return ClopperPearsonInterval(float(low), float(high))
    return ClopperPearsonInterval(low, high)


# eq=False: the fields may be arrays, for which field-wise == is ambiguous.
@dataclass(frozen=True, eq=False)
class PowerAtSignificance:
    """Result of :func:`power_at_significance`; arrays when several Z were asked for.

    Attributes
    ----------
    significance : float or ndarray
        The Gaussian significance Z.
    alpha : float or ndarray
        Its one-sided tail probability ``1 - Phi(Z)``.
    threshold : float or ndarray
        Null quantile at ``1 - alpha`` (``np.quantile(..., method="higher")``).
    n_passed : int or ndarray of int
        Alternative toys with a statistic ``>= threshold``.
    n_toys : int
        Number of alternative toys.
    power : float or ndarray
        ``n_passed / n_toys``.
    low, high : float or ndarray
        Clopper-Pearson interval of the power at ``confidence``.
    confidence : float
        Coverage of ``(low, high)``.
    """

    significance: float | np.ndarray
    alpha: float | np.ndarray
    threshold: float | np.ndarray
    n_passed: int | np.ndarray
    n_toys: int
    power: float | np.ndarray
    low: float | np.ndarray
    high: float | np.ndarray
    confidence: float


def power_at_significance(
    null_statistic, alt_statistic, significance, *, confidence: float = ONE_SIGMA
) -> PowerAtSignificance:
    """Fraction of alternative toys that a test calibrated on null toys rejects at Z.

    arXiv:2408.12296: ``alpha = 1 - Phi(Z)``,
    ``threshold = np.quantile(null, 1 - alpha, method="higher")`` (an actual null value, never
    an interpolation), ``n_passed = #{alt >= threshold}`` and ``power = n_passed / n_alt``. The
    comparison is exact, as published, without the tie tolerance of
    :func:`nhtad.stats.empirical_pvalue`. ``alpha`` comes from ``scipy.stats.norm.sf``,
    which keeps its relative precision for large Z.

    When ``alpha < 1 / n_null`` the threshold is the largest null value, so the test's actual
    size is not ``alpha`` and the power is not that of a level-``alpha`` test; a warning is
    logged (about 1/alpha null toys are needed, e.g. 741 at Z = 3 and 31,574 at Z = 4).

    Parameters
    ----------
    null_statistic : array-like of shape (n_null,)
        Statistic of each null toy (a single test, or a combined statistic such as
        :attr:`nhtad.stats.MultipleTestCombination.null_combined_`).
    alt_statistic : array-like of shape (n_alt,)
        The same statistic on the alternative (signal) toys.
    significance : float or array-like
        One or several Z.
    confidence : float, default=0.6827
        Coverage of the Clopper-Pearson interval.

    Returns
    -------
    PowerAtSignificance
        Scalars for a scalar Z, arrays shaped like Z otherwise.
    """
    null = check_events_vector(null_statistic, "null_statistic")
    alt = check_events_vector(alt_statistic, "alt_statistic")
    confidence = check_open_unit_interval(confidence, "confidence")
    try:
        z = np.asarray(significance, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(
            f"significance must be a number or an array of numbers; got {significance!r}."
        ) from None
    if not np.isfinite(z).all():
        raise ValueError(f"significance must be finite; got {significance!r}.")
    alpha = stats.norm.sf(z)
    # The relative tolerance keeps Z = Phi^-1(1 - 1/n_null) itself, which round-off in
    # sf(isf(.)) can push a few ulps below 1 / n_null, on the calibrated side.
    too_few = alpha * null.size < 1.0 - 1e-12
    if too_few.any():
        logger.warning(
            "%d null toys cannot calibrate Z = %s (alpha = %s): the threshold is the largest "
            "null statistic and the quoted power is not that of a test at that level. Use "
            "about 1/alpha null toys or more.",
            null.size,
            np.atleast_1d(z)[np.atleast_1d(too_few)].tolist(),
            np.atleast_1d(alpha)[np.atleast_1d(too_few)].tolist(),
        )
    threshold = np.quantile(null, 1.0 - alpha, method="higher")
    n_passed = alt.size - np.searchsorted(np.sort(alt), threshold, side="left")
    low, high = clopper_pearson(n_passed, alt.size, confidence)
    power = n_passed / alt.size
    if z.ndim == 0:
        return PowerAtSignificance(
            significance=float(z),
            alpha=float(alpha),
            threshold=float(threshold),
            n_passed=int(n_passed),
            n_toys=alt.size,
            power=float(power),
            low=low,
            high=high,
            confidence=confidence,
        )
    return PowerAtSignificance(
        significance=z,
        alpha=alpha,
        threshold=threshold,
        n_passed=n_passed,
        n_toys=alt.size,
        power=power,
        low=low,
        high=high,
        confidence=confidence,
    )


@dataclass(frozen=True)
class MedianSignificance:
    """Result of :func:`median_significance`.

    Attributes
    ----------
    significance : float
        Z of the empirical p-value of the median alternative statistic.
    low, high : float
        Z of the empirical p-values of the order statistics of the alternative at ranks
        ``rank_low`` and ``rank_high``: an interval of at least ``confidence`` coverage for the
        Z of the alternative's population median, with the null sample held fixed.
    log_pvalue : float
        Log of the empirical p-value of the median.
    median_statistic : float
        Sample median of the alternative statistics.
    rank_low, rank_high : int
        0-based ranks, in the ascending alternative sample, of the order statistics used.
    confidence : float
        The coverage asked for.
    at_floor : bool
        The median lies beyond every null value, so ``significance`` is the floor
        ``Phi^{-1}(1 - 1/(n_null + 1))`` of the null sample, a lower bound: more null toys, or a
        fitted law (:func:`nhtad.stats.chi2_extrapolation`), are needed to resolve it.
    """

    significance: float
    low: float
    high: float
    log_pvalue: float
    median_statistic: float
    rank_low: int
    rank_high: int
    confidence: float
    at_floor: bool = False


def median_significance(
    null_statistic, alt_statistic, *, confidence: float = ONE_SIGMA
) -> MedianSignificance:
    """Significance of the median alternative toy, with an order-statistic interval.

    The central value is the "median Z" of arXiv:2408.12296: the empirical p-value
    ``(1 + #{null >= x}) / (1 + n_null)`` (:func:`nhtad.stats.empirical_pvalue`) of
    ``x = median(alt)``, turned into ``Z = Phi^{-1}(1 - p)``.

    The interval needs no bootstrap. For ``n`` alternative toys, the number ``B`` of them below
    the population median ``m`` is Binomial(n, 1/2). With ``a = (1 - confidence) / 2``,
    ``rank_low = F^{-1}(a) - 1`` and ``rank_high = F^{-1}(1 - a)`` (``F`` the Binomial(n, 1/2)
    CDF, ranks 0-based in the sorted alternative sample, clipped to ``[0, n - 1]``), the order
    statistics satisfy ``P(x_(rank_low) < m <= x_(rank_high)) = F(rank_high) - F(rank_low)
    >= confidence``, whatever the distribution of the statistic. Z is monotone in x, so the Z of
    those two order statistics bracket the Z of ``m`` with the same probability. This is the
    uncertainty from the finite number of alternative toys only: the null sample is held fixed
    (its own uncertainty, and the saturation of Z at ``p = 1/(n_null + 1)``, are not included).

    Parameters
    ----------
    null_statistic : array-like of shape (n_null,)
    alt_statistic : array-like of shape (n_alt,)
    confidence : float, default=0.6827

    Returns
    -------
    MedianSignificance
    """
    null = check_events_vector(null_statistic, "null_statistic")
    alt = np.sort(check_events_vector(alt_statistic, "alt_statistic"))
    confidence = check_open_unit_interval(confidence, "confidence")
    n = alt.size
    a = 0.5 * (1.0 - confidence)
    # Subtracting one from the lower rank makes F(rank_low) < a, so the coverage is at least
    # `confidence` despite the discreteness of the binomial.
    rank_low = int(np.clip(stats.binom.ppf(a, n, 0.5) - 1, 0, n - 1))
    rank_high = int(np.clip(stats.binom.ppf(1.0 - a, n, 0.5), 0, n - 1))
    median = float(np.median(alt))
    # A summary of many toys: being at the floor is reported by at_floor, not by a warning per
    # order statistic.
    log_p = empirical_log_pvalue(null, median, warn_floor=False)

    def z(x):
        return log_pvalue_to_significance(empirical_log_pvalue(null, x, warn_floor=False))

    return MedianSignificance(
        significance=log_pvalue_to_significance(log_p),
        low=z(alt[rank_low]),
        high=z(alt[rank_high]),
        log_pvalue=log_p,
        median_statistic=median,
        rank_low=rank_low,
        rank_high=rank_high,
        confidence=confidence,
        at_floor=bool(median > null.max()),
    )
