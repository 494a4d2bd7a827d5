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

from ..utils.random import as_seed_sequence
from .toy_floor import ToyFloorWarning, warn_toy_floor

__all__ = [
    "log_gamma_sf",
    "chi2_log_sf",
    "log_pvalue_to_significance",
    "significance_to_log_pvalue",
    "pvalue_to_significance",
    "empirical_pvalue",
    "empirical_log_pvalue",
    "TIES",
    "TIE_RTOL",
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


#: Ways of counting null values tied with the observed one, see :func:`empirical_log_pvalue`.
TIES = ("conservative", "randomized")
#: Default relative tolerance within which a null value ties with the observed one.
TIE_RTOL = 1e-12


def _check_null(null_distribution, observed, leave_one_out: bool):
    null = np.asarray(null_distribution, dtype=float)
    if null.ndim not in (1, 2) or null.shape[0] < 1 + leave_one_out or null.size == 0:
        raise ValueError(
            "the null distribution must be a non-empty 1-D array of statistics, or 2-D with one "
            f"column per statistic{' and at least 2 rows to leave one out' * leave_one_out}; "
            f"got shape {null.shape}."
        )
    obs = null if leave_one_out else np.asarray(observed, dtype=float)
    if null.ndim == 2 and obs.shape[-1:] != null.shape[1:]:
        raise ValueError(
            f"observed must end in the {null.shape[1]} statistic(s) of the null's columns; got "
            f"shape {obs.shape}."
        )
    if np.isnan(null).any() or np.isnan(obs).any():
        raise ValueError("the null distribution and the observed statistic must not be NaN.")
    return null, obs


def _tail_counts(null, obs, rtol, *, strict: bool):
    """``#{null >= t - tol}`` (and ``#{null > t + tol}`` if ``strict``) per observed ``t``.

    One sort per column and a binary search per observed value: ``O((n + k) log n)`` for ``k``
    observed values against ``n`` null values, where a direct comparison is ``O(n k)``.
    """
    # A relative tolerance, as scipy.stats.permutation_test uses, so that a null value equal to
    # the observed one up to floating-point noise counts as tied: e.g. Fisher statistics of two
    # toys whose p-values are permutations of each other differ in the last bits only.
    # An infinite value carries no round-off; inf - inf would make it NaN, tied with nothing.
    tol = np.where(np.isinf(obs), 0.0, np.maximum(np.finfo(float).eps, np.abs(obs) * rtol))
    columns = null.reshape(null.shape[0], -1)
    n, m = columns.shape
    t, tol = obs.reshape(-1, m), tol.reshape(-1, m)
    at_least = np.empty(t.shape, dtype=np.int64)
    above = np.empty(t.shape, dtype=np.int64)
    for j in range(m):  # a handful of statistics; each is vectorised over its values
        column = np.sort(columns[:, j])
        at_least[:, j] = n - np.searchsorted(column, t[:, j] - tol[:, j], side="left")
        if strict:
            above[:, j] = n - np.searchsorted(column, t[:, j] + tol[:, j], side="right")
    return at_least.reshape(obs.shape), (above.reshape(obs.shape) if strict else None)


def _libm(function, values: np.ndarray) -> np.ndarray:
    # The C library's log / log1p for every element, so that an array gives bit for bit what
    # the scalar call always gave (numpy's SIMD log1p differs from libm's in the last bit for
    # ~1% of integers).
    return np.fromiter(map(function, values.ravel().tolist()), float, values.size).reshape(
        values.shape
    )


def _empirical(null_distribution, observed, *, ties, random_state, rtol, warn_floor, log: bool):
    if ties not in TIES:
        raise ValueError(f"ties must be 'conservative' or 'randomized'; got {ties!r}.")
    leave_one_out = observed is None
    null, obs = _check_null(null_distribution, observed, leave_one_out)
    at_least, above = _tail_counts(null, obs, rtol, strict=ties == "randomized")
    n = null.shape[0]
    if warn_floor is None:
        warn_floor = not leave_one_out and obs.ndim == 0
    if warn_floor and not leave_one_out:
        at_floor = int(np.count_nonzero(at_least == 0))
        if at_floor:
            warn_toy_floor(ToyFloorWarning.at_floor(n, n_at_floor=at_floor, n_observed=obs.size))
    if leave_one_out:
        # Each value is one of the null draws: it is compared with the n - 1 others, so it
        # leaves its own count (it always ties with itself) and the size of its reference.
        at_least, n = at_least - 1, n - 1
    if ties == "conservative":
        if log:
            out = _libm(math.log1p, at_least) - math.log1p(n)
        else:
            out = (1.0 + at_least) / (1.0 + n)
    else:
        tied = at_least - above
        # The observed value ranks uniformly at random among the null values it ties with: the
        # p-value is then exactly uniform under the null even for a discrete statistic (a
        # cut-and-count that is 0 whenever the data fall short of the background). 1 - U lies
        # in (0, 1], so the count, and log p, is never zero.
        u = 1.0 - np.random.default_rng(as_seed_sequence(random_state)).uniform(size=obs.size)
        count = above + u.reshape(obs.shape) * (tied + 1.0)
        out = _libm(math.log, count) - math.log1p(n) if log else count / (1.0 + n)
    return float(out) if out.ndim == 0 else out


def empirical_log_pvalue(
    null_distribution,
    observed=None,
    *,
    ties="conservative",
    random_state=None,
    rtol=TIE_RTOL,
    warn_floor=None,
):
    """Logarithm of :func:`empirical_pvalue` (same arguments), without forming ``p``."""
    return _empirical(
        null_distribution,
        observed,
        ties=ties,
        random_state=random_state,
        rtol=rtol,
        warn_floor=warn_floor,
        log=True,
    )


def empirical_pvalue(
    null_distribution,
    observed=None,
    *,
    ties="conservative",
    random_state=None,
    rtol=TIE_RTOL,
    warn_floor=None,
):
    """Empirical p-value of observed statistics against a sample of the null distribution.

    ``p = (1 + #{t_null >= t_obs}) / (1 + n)`` for ``n`` null values: the observed statistic
    counts as one more draw of the null (Phipson & Smyth, "Permutation p-values should never
    be zero", Stat. Appl. Genet. Mol. Biol. 9 (2010) 39; scikit-learn's
    ``permutation_test_score``, scipy's ``permutation_test``), so
    ``p >= 1/(n + 1)`` and the p-value is exactly valid (super-uniform) under the null. A null
    value within a relative ``rtol`` of ``t_obs`` counts as tied with it.

    Parameters
    ----------
    null_distribution : array-like of shape (n,) or (n, m)
        Statistics of ``n`` null draws (resamples, toys), larger = more anomalous; with ``m``
        columns, ``m`` statistics per draw, each calibrated on its own column.
    observed : float or array-like, optional
        Statistics to calibrate: any shape against a 1-D null, shape ``(..., m)`` against
        ``m`` columns. ``None`` gives every null value's p-value against the ``n - 1`` others
        (leave one out, as Grosso & Letizia, arXiv:2408.12296, calibrate a combination of
        tests on the same toys): ``(1 + #{others >= t_i}) / n``.
    ties : {"conservative", "randomized"}, default="conservative"
        ``"conservative"`` counts every tie as at least as extreme (the formula above).
        ``"randomized"`` ranks the observed value uniformly at random among the null values it
        ties with, ``p = (#{t_null > t_obs} + U (#{tied} + 1)) / (1 + n)`` with ``U`` uniform
        on ``(0, 1]``: exactly uniform under the null even for a discrete statistic.
    random_state : None, int or SeedSequence
        Draws ``U`` (one per observed value) when ``ties="randomized"``.
    rtol : float, default=1e-12
        Relative tie tolerance (at least the machine epsilon in absolute terms).
    warn_floor : bool or None, default=None
        Whether to warn with :class:`~nhtad.stats.ToyFloorWarning` when an observed value is
        beyond every null value, so that its p-value is the floor ``1/(n + 1)`` and its Z a
        cap set by ``n``. ``None`` warns for a scalar ``observed``, the p-value a test
        reports; an array of observed values (signal toys of a power curve, rows before a
        combination) is a bulk evaluation in which values at the floor are expected and
        counted by the caller. ``True`` warns for arrays too, ``False`` never. Leave-one-out
        p-values (``observed=None``) never warn: the largest null value is at the floor by
        construction.

    Returns
    -------
    float or ndarray
        A float for a scalar ``observed``, else an array of ``observed``'s shape (the null's
        shape for ``observed=None``).

    Raises
    ------
    ValueError
        For an empty or NaN null, a NaN observed value, a shape mismatch, or an unknown ``ties``.

    Warns
    -----
    ToyFloorWarning
        When ``warn_floor`` and an observed value exceeds every null value (see above).
    """
    return _empirical(
        null_distribution,
        observed,
        ties=ties,
        random_state=random_state,
        rtol=rtol,
        warn_floor=warn_floor,
        log=False,
    )


def _count_at_least(null_distribution, observed):
    """``(#{t_null >= t_obs}, n)`` of a 1-D null, with the tie tolerance of the p-values."""
    null, obs = _check_null(null_distribution, observed, False)
    if null.ndim != 1:
        raise ValueError("the null distribution must be a non-empty 1-D array of statistics.")
    at_least, _ = _tail_counts(null, obs, TIE_RTOL, strict=False)
    return int(at_least), null.size
