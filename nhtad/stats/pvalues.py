"""p-values and significances in log space.

A discovery-level significance corresponds to p-values far below the smallest double
(``Z = 38`` is ``p ~ 1e-316``), so nhtad carries ``log p`` everywhere and converts it to the
one-sided Gaussian significance ``Z = Phi^{-1}(1 - p)`` without ever forming ``p``:
``Z = -ndtri_exp(log p)``, the inverse of :func:`scipy.special.log_ndtr`. This stays finite
and monotone far beyond ``Z = 100``.

The regularised upper incomplete gamma function ``Q(a, x)`` (the survival function of a Gamma
or chi-square variable) is computed as ``log Q`` with a continued fraction in its tail, because
both ``scipy.special.gammaincc`` and ``scipy.stats.gamma.logsf`` return ``0``/``-inf`` once
``Q < 1e-308``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = [
    "log_gamma_sf",
    "chi2_log_sf",
    "log_pvalue_to_significance",
    "significance_to_log_pvalue",
    "pvalue_to_significance",
    "empirical_pvalue",
    "empirical_log_pvalue",
]

# Below this value gammaincc is trusted no longer and the log-space continued fraction takes over;
# the two agree to ~1e-14 relative in the overlap (checked in the tests).
_GAMMAINCC_FLOOR = 1e-250
_TINY = 1e-300


def _log_q_continued_fraction(a: float, x: float, *, eps: float = 1e-15, max_iter: int = 100_000):
    # Modified Lentz evaluation of the continued fraction of Q(a, x) (Numerical Recipes
    # `gcf`); it converges for x > a + 1, the only place it is used. Its prefactor
    # exp(-x) x^a / Gamma(a) is kept in log space, which is where the underflow lived.
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, max_iter + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    else:  # pragma: no cover - the fraction converges in O(sqrt(a)) steps for x > a + 1
        raise RuntimeError(f"continued fraction for Q({a}, {x}) did not converge")
    return -x + a * math.log(x) - special.gammaln(a) + math.log(h)


def _log_gamma_sf_scalar(a: float, x: float) -> float:
    if not a > 0:
        raise ValueError(f"the Gamma shape must be positive; got {a}.")
    if math.isnan(x):
        raise ValueError("log_gamma_sf got x = NaN.")
    if x <= 0.0:
        return 0.0
    if math.isinf(x):
        return -math.inf
    if x < a:
        # Body of the distribution: Q = 1 - P is best formed from the small P.
        return math.log1p(-special.gammainc(a, x))
    q = special.gammaincc(a, x)
    if q > _GAMMAINCC_FLOOR:
        return math.log(q)
    # Q this small means x lies far beyond a + 1, where the continued fraction converges.
    return _log_q_continued_fraction(a, x)


def log_gamma_sf(a, x):
    """Logarithm of the regularised upper incomplete gamma function, ``log Q(a, x)``.

    ``Q(a, x)`` is the survival function at ``x`` of a Gamma variable with shape ``a`` and unit
    scale. The result is finite for any finite ``x``, far past the underflow of ``Q`` itself.

    Parameters
    ----------
    a : float or array-like
        Shape parameter, > 0.
    x : float or array-like
        Argument; ``x <= 0`` gives ``log Q = 0``.

    Returns
    -------
    float or ndarray
    """
    a_arr, x_arr = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(x, dtype=float))
    out = np.array(
        [_log_gamma_sf_scalar(float(ai), float(xi)) for ai, xi in zip(a_arr.ravel(), x_arr.ravel())]
    ).reshape(a_arr.shape)
    return float(out) if out.ndim == 0 else out


def chi2_log_sf(statistic, dof):
    """``log P(chi2_dof >= statistic)``, finite deep into the tail.

    Parameters
    ----------
    statistic : float or array-like
    dof : float or array-like
        Degrees of freedom, > 0.
    """
    return log_gamma_sf(
        np.asarray(dof, dtype=float) / 2.0, np.asarray(statistic, dtype=float) / 2.0
    )


def log_pvalue_to_significance(log_pvalue):
    """One-sided Gaussian significance ``Z = Phi^{-1}(1 - p)`` from ``log p``.

    Computed as ``-ndtri_exp(log p)`` so it never forms ``p``: finite and monotone for any
    finite ``log p`` (``log p = -5005.5`` gives ``Z = 100``). ``p > 1/2`` gives ``Z < 0``;
    ``log p = -inf`` (p = 0) gives ``Z = inf`` and ``log p = 0`` (p = 1) gives ``Z = -inf``.

    Raises
    ------
    ValueError
        If a ``log p`` is NaN or positive.
    """
    log_p = np.asarray(log_pvalue, dtype=float)
    if np.any(np.isnan(log_p)) or np.any(log_p > 0):
        raise ValueError(f"log p-values must be <= 0 and not NaN; got {log_pvalue!r}.")
    z = -special.ndtri_exp(log_p)
    return float(z) if z.ndim == 0 else z


def significance_to_log_pvalue(significance):
    """``log p`` of a one-sided Gaussian significance ``Z``: ``log Phi(-Z)``.

    ``Z = inf`` gives ``log p = -inf`` (p = 0) and ``Z = -inf`` gives ``log p = 0`` (p = 1),
    the inverses of :func:`log_pvalue_to_significance`.

    Raises
    ------
    ValueError
        If a significance is NaN: it has no p-value, and a NaN passed on would compare as
        neither significant nor not.
    """
    z = np.asarray(significance, dtype=float)
    if np.any(np.isnan(z)):
        raise ValueError(
            f"significance must not be NaN; got {significance!r}. A NaN Z usually comes from "
            f"a failed fit or a p-value outside [0, 1] upstream: check where it was computed."
        )
    log_p = special.log_ndtr(-z)
    return float(log_p) if log_p.ndim == 0 else log_p


def pvalue_to_significance(pvalue):
    """One-sided Gaussian significance of a p-value (``p = 0`` gives ``inf``)."""
    p = np.asarray(pvalue, dtype=float)
    if np.any(~((p >= 0) & (p <= 1))):
        raise ValueError(f"p-values must lie in [0, 1]; got {pvalue!r}.")
    with np.errstate(divide="ignore"):
        return log_pvalue_to_significance(np.log(p))


def _count_at_least(null_distribution, observed):
    null = np.asarray(null_distribution, dtype=float)
    if null.ndim != 1 or null.size == 0:
        raise ValueError("the null distribution must be a non-empty 1-D array of statistics.")
    if np.isnan(null).any() or np.isnan(observed):
        raise ValueError("the null distribution and the observed statistic must not be NaN.")
    # A relative tolerance, as scipy.stats.permutation_test uses, so that a null value equal to
    # the observed one up to floating-point noise counts as "at least as extreme".
    tol = max(np.finfo(float).eps, abs(observed) * 1e-12)
    return int(np.count_nonzero(null >= observed - tol)), null.size


def empirical_pvalue(null_distribution, observed) -> float:
    """Conservative empirical p-value ``(1 + #{t_null >= t_obs}) / (1 + n)``.

    The observed statistic counts as one draw of the null (scikit-learn's
    ``permutation_test_score``, scipy's ``permutation_test``, hyppo), so ``p >= 1/(n + 1)``
    and the p-value is exactly valid (super-uniform) under the null.
    """
    k, n = _count_at_least(null_distribution, observed)
    return (1.0 + k) / (1.0 + n)


def empirical_log_pvalue(null_distribution, observed) -> float:
    """Logarithm of :func:`empirical_pvalue`."""
    k, n = _count_at_least(null_distribution, observed)
    return math.log1p(k) - math.log1p(n)
