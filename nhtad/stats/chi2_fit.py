"""The chi-square that best describes a null sample of test statistics.

Wilks' theorem gives no dof for NPLM with a regularised kernel model (the effective number of
parameters is set by the regularisation, not counted), yet its null t follows a chi-square
closely. The NPLM-Falkon papers (Letizia et al., EPJC 82, 879 (2022), arXiv:2204.02317; the
NPLM-FLK code, ``return_best_chi2dof``) take the degrees of freedom that minimise the
Kolmogorov-Smirnov distance between the null toys and ``chi2(dof)``, and quote asymptotic
p-values of larger t with that dof. The fitted dof
comes out close to the null median of t (about 120 at sigma 4.6 on the LHCO 6D arrays).

That is also the way past the floor of toy p-values: ``n`` toys give no p-value below
``1 / (n + 1)`` (:class:`~nhtad.stats.ToyFloorWarning`), the fitted chi-square gives one for
any t. :func:`chi2_extrapolation` applies it, only where the fit describes the toys, and keeps
the empirical p-value beside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy import optimize, special, stats

from ..utils.validation import check_events_vector
from .pvalues import (
    TIE_RTOL,
    _tail_counts,
    chi2_log_sf,
    empirical_log_pvalue,
    log_pvalue_to_significance,
)
from .toy_floor import ToyFloorWarning, warn_toy_floor

__all__ = [
    "Chi2Fit",
    "Chi2Significance",
    "Chi2Extrapolation",
    "fit_chi2_dof",
    "chi2_significance",
    "chi2_extrapolation",
    "MIN_KS_PVALUE",
]

logger = logging.getLogger(__name__)

#: Smallest Kolmogorov-Smirnov p-value of the fit at which :func:`chi2_extrapolation` accepts
#: a chi-square as the law of the toys.
MIN_KS_PVALUE = 0.05

_DEFAULT_GRID_POINTS = 401
# Cap on the (dof, toy) matrix of chi2 CDFs held at once, ~16 MB of float64.
_MAX_CDF_CELLS = 2_000_000


class Chi2Significance(NamedTuple):
    """Asymptotic ``log p`` and one-sided Gaussian significance ``Z`` of a chi-square."""

    log_pvalue: float | np.ndarray
    significance: float | np.ndarray


def chi2_significance(statistic, dof) -> Chi2Significance:
    """Asymptotic p-value and significance of ``statistic`` under ``chi2(dof)``, in log space.

    ``log p = log P(chi2_dof >= statistic)`` from :func:`nhtad.stats.chi2_log_sf` and
    ``Z = Phi^{-1}(1 - p)`` from :func:`nhtad.stats.log_pvalue_to_significance`; both
    stay finite far beyond the underflow of ``p`` (NPLM-FLK's ``chi2_zscore`` forms
    ``norm.ppf(chi2.cdf(t))``, which saturates near Z = 8).

    Parameters
    ----------
    statistic : float or array-like
        Test statistics.
    dof : float or array-like
        Degrees of freedom, > 0, e.g. :attr:`Chi2Fit.dof`.

    Returns
    -------
    Chi2Significance
        ``(log_pvalue, significance)``, floats or arrays shaped like ``statistic``.
    """
    log_p = chi2_log_sf(statistic, dof)
    return Chi2Significance(log_p, log_pvalue_to_significance(log_p))


@dataclass(frozen=True)
class Chi2Fit:
    """Result of :func:`fit_chi2_dof`.

    Attributes
    ----------
    dof : float
        Degrees of freedom minimising the Kolmogorov-Smirnov distance.
    ks_statistic : float
        That minimal distance, ``sup_t |F_n(t) - F_chi2(t; dof)|``.
    ks_pvalue : float
        ``scipy.stats.kstest`` p-value at the fitted dof. The dof was tuned on the same sample,
        so this p-value is optimistic (too large); it is a goodness-of-fit indication, not a test.
    n_toys : int
        Number of statistics fitted.
    """

    dof: float
    ks_statistic: float
    ks_pvalue: float
    n_toys: int

    def significance(self, statistic) -> Chi2Significance:
        """Asymptotic ``(log_pvalue, significance)`` of ``statistic`` at the fitted dof."""
        return chi2_significance(statistic, self.dof)

    def require(self, min_ks_pvalue=MIN_KS_PVALUE) -> Chi2Fit:
        """``self`` if its KS p-value reaches ``min_ks_pvalue``, else a ``ValueError``.

        The dof is tuned on the same toys, which makes the KS p-value optimistic, so a fit
        below the threshold is clearly poor, and its tail would extrapolate nothing.
        """
        min_ks = float(min_ks_pvalue)
        if not 0.0 <= min_ks < 1.0:
            raise ValueError(f"min_ks_pvalue must lie in [0, 1); got {min_ks_pvalue!r}.")
        if self.ks_pvalue < min_ks:
            raise ValueError(
                f"the chi2(dof = {self.dof:.4g}) fitted to the {self.n_toys} null toys does not "
                f"describe them (KS distance {self.ks_statistic:.3g}, KS p = "
                f"{self.ks_pvalue:.3g} < min_ks_pvalue = {min_ks:g}), so its tail would "
                "extrapolate nothing. Run more toys, check that the statistic has a chi-square "
                "law, or pass a lower min_ks_pvalue if you accept the fit."
            )
        return self


def _ks_distances(sorted_t: np.ndarray, dofs: np.ndarray) -> np.ndarray:
    """Two-sided KS distance of the sample to ``chi2(dof)`` for every dof at once."""
    n = sorted_t.size
    # The empirical CDF jumps from i/n to (i+1)/n at the i-th order statistic; the distance is
    # the largest gap on either side of a jump, as in scipy.stats.kstest.
    below = np.arange(n) / n
    above = np.arange(1, n + 1) / n
    rows = max(1, _MAX_CDF_CELLS // n)
    out = np.empty(dofs.size)
    for start in range(0, dofs.size, rows):  # chunks bound the memory, not a loop over toys
        cdf = special.chdtr(dofs[start : start + rows, np.newaxis], sorted_t)
        out[start : start + rows] = np.maximum((cdf - below).max(axis=1), (above - cdf).max(axis=1))
    return out


def _default_grid(statistics: np.ndarray) -> np.ndarray:
    mean = statistics.mean()
    # A chi2 has mean = dof and sd = sqrt(2 dof): +-4 sd around the sample mean brackets the
    # best dof of any sample that looks chi2 at all; the floor of 10 mirrors the reference's
    # median +- 10 for small t.
    half_width = max(10.0, 4.0 * np.sqrt(2.0 * max(mean, 1.0)))
    low = max(mean - half_width, 1e-3 * max(mean, 1.0))
    return np.linspace(low, mean + half_width, _DEFAULT_GRID_POINTS)


def fit_chi2_dof(statistics, dof_grid=None) -> Chi2Fit:
    """Degrees of freedom of the chi-square closest to a null sample in KS distance.

    The NPLM recipe (NPLM-FLK ``return_best_chi2dof``; arXiv:2204.02317): the dof minimising
    ``kstest(t, chi2(dof).cdf).statistic``. The reference scans
    ``arange(median(t) - 10, median(t) + 10, 0.1)``; here the default scan covers the sample mean
    +- max(10, 4 sqrt(2 mean)) in 401 steps, and the best grid point is then refined by a
    bounded scalar minimisation between its two neighbours, so the result does not depend on
    the step. The KS distance is piecewise smooth in dof with kinks where the supremum moves to
    another toy, so the refinement is local by design.

    Parameters
    ----------
    statistics : array-like of shape (n_toys,)
        Null test statistics, > 0 (at least 2).
    dof_grid : array-like, optional
        Positive dof values to scan instead of the default grid. The refinement stays between
        the neighbours of the best one.

    Returns
    -------
    Chi2Fit
        ``dof``, ``ks_statistic``, ``ks_pvalue`` (scipy.stats.kstest at ``dof``), ``n_toys``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.random.default_rng(0).chisquare(50, size=2000)
    >>> round(fit_chi2_dof(t).dof)
    50
    """
    t = check_events_vector(statistics, "statistics")
    if t.size < 2:
        raise ValueError(f"fitting a chi-square needs at least 2 null statistics; got {t.size}.")
    if (t <= 0).any():
        raise ValueError(
            f"statistics must be > 0 to be fitted by a chi-square; {int((t <= 0).sum())} are "
            "not. A negative t usually means an unconverged fit."
        )
    if dof_grid is None:
        grid = _default_grid(t)
    else:
        grid = np.unique(np.asarray(dof_grid, dtype=float).ravel())
        if grid.size == 0 or not np.isfinite(grid).all() or (grid <= 0).any():
            raise ValueError(f"dof_grid must be non-empty, finite and > 0; got {dof_grid!r}.")
    sorted_t = np.sort(t)
    distances = _ks_distances(sorted_t, grid)
    best = int(np.argmin(distances))
    dof, distance = grid[best], distances[best]
    if grid.size > 1:
        lo = grid[max(best - 1, 0)]
        hi = grid[min(best + 1, grid.size - 1)]
        refined = optimize.minimize_scalar(
            lambda x: _ks_distances(sorted_t, np.array([x]))[0],
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-6 * max(1.0, dof)},
        )
        if refined.fun < distance:
            dof, distance = float(refined.x), float(refined.fun)
        if best in (0, grid.size - 1):
            logger.warning(
                "the best chi2 dof %.6g lies on the edge of the scanned grid [%.6g, %.6g]; "
                "the KS minimum may lie outside it. Pass a wider dof_grid.",
                dof,
                grid[0],
                grid[-1],
            )
    ks = stats.kstest(t, stats.chi2(dof).cdf)
    return Chi2Fit(
        dof=float(dof), ks_statistic=float(ks.statistic), ks_pvalue=float(ks.pvalue), n_toys=t.size
    )


@dataclass(frozen=True, eq=False)
class Chi2Extrapolation:
    """A chi-square fitted to null toys and applied to observed statistics, with their empirical p.

    Returned by :func:`chi2_extrapolation`.

    Attributes
    ----------
    statistic : float or ndarray
        The observed statistics.
    log_pvalue, significance : float or ndarray
        ``log p`` and Z under ``chi2(fit.dof)``: the extrapolation.
    empirical_log_pvalue, empirical_significance : float or ndarray
        ``log p`` and Z from the toys alone, ``(1 + #{t_null >= t}) / (1 + n)``, floored at
        ``1 / (n + 1)``.
    fit : Chi2Fit
        The fitted law: ``dof``, ``ks_statistic``, ``ks_pvalue``, ``n_toys``.
    min_ks_pvalue : float
        The KS p-value below which the fit is not accepted.
    """

    statistic: float | np.ndarray
    log_pvalue: float | np.ndarray
    significance: float | np.ndarray
    empirical_log_pvalue: float | np.ndarray
    empirical_significance: float | np.ndarray
    fit: Chi2Fit
    min_ks_pvalue: float = MIN_KS_PVALUE

    @property
    def acceptable(self) -> bool:
        """Whether the KS p-value of the fit reaches ``min_ks_pvalue``."""
        return self.fit.ks_pvalue >= self.min_ks_pvalue

    @property
    def details(self) -> dict:
        """The fit and the empirical p-value beside the extrapolated one, for a TestResult."""
        return {
            "extrapolation": "chi2",
            "chi2_dof": self.fit.dof,
            "ks_statistic": self.fit.ks_statistic,
            "ks_pvalue": self.fit.ks_pvalue,
            "min_ks_pvalue": self.min_ks_pvalue,
            "n_toys": self.fit.n_toys,
            "empirical_log_pvalue": self.empirical_log_pvalue,
            "empirical_pvalue": np.exp(self.empirical_log_pvalue),
            "empirical_significance": self.empirical_significance,
        }


def _extrapolate(null, observed, fit: Chi2Fit, min_ks_pvalue: float) -> Chi2Extrapolation:
    log_p, z = chi2_significance(observed, fit.dof)
    # The fit is the remedy for the floor, so the empirical p beside it need not warn again.
    empirical = empirical_log_pvalue(null, observed, warn_floor=False)
    statistic = np.asarray(observed, dtype=float)
    return Chi2Extrapolation(
        statistic=float(statistic) if statistic.ndim == 0 else statistic,
        log_pvalue=log_p,
        significance=z,
        empirical_log_pvalue=empirical,
        empirical_significance=log_pvalue_to_significance(empirical),
        fit=fit,
        min_ks_pvalue=float(min_ks_pvalue),
    )


def chi2_extrapolation(null, observed, *, min_ks_pvalue=MIN_KS_PVALUE, dof_grid=None, fit=None):
    """p-value of observed statistics from the chi-square fitted to null toys, beyond the toys.

    ``n`` toys give empirical p-values no smaller than ``1 / (n + 1)``. Where the statistic
    follows a chi-square (NPLM's t; Letizia et al., EPJC 82, 879 (2022), arXiv:2204.02317,
    quote ``chi2(dof)`` p-values with the dof fitted to the toys), the fitted law gives the
    p-value of any t, in log space so that Z stays finite far into the tail
    (:func:`chi2_significance`). The law is fitted by :func:`fit_chi2_dof` and used only when it
    describes the toys: its KS p-value must reach ``min_ks_pvalue``. That check sees the toys'
    range only; beyond it, the result rests on the chi-square shape of the tail.

    Parameters
    ----------
    null : array-like of shape (n_toys,)
        Null statistics, > 0 (at least 2).
    observed : float or array-like
        Statistics to extrapolate.
    min_ks_pvalue : float, default=0.05
        Smallest accepted KS p-value of the fit. The dof is tuned on the same toys, which makes
        this p-value optimistic, so a fit below it is clearly poor.
    dof_grid : array-like, optional
        Passed to :func:`fit_chi2_dof`.
    fit : Chi2Fit, optional
        A fit of ``null`` already made (``fit_chi2_dof(null)``), used instead of fitting again.

    Returns
    -------
    Chi2Extrapolation
        The chi-square ``log_pvalue`` and ``significance``, the empirical ones beside them,
        and the ``fit``.

    Raises
    ------
    ValueError
        If the fit's KS p-value is below ``min_ks_pvalue`` (the message names both), or the
        null cannot be fitted (see :func:`fit_chi2_dof`).

    Examples
    --------
    >>> import numpy as np
    >>> null = np.random.default_rng(0).chisquare(100, size=200)
    >>> result = chi2_extrapolation(null, 400.0)
    >>> bool(result.significance > 10 > result.empirical_significance)
    True
    """
    if fit is None:
        fit = fit_chi2_dof(null, dof_grid=dof_grid)
    fit.require(min_ks_pvalue)
    return _extrapolate(np.asarray(null, dtype=float), observed, fit, float(min_ks_pvalue))


def warn_floor_with_chi2(null, observed, *, what="toys", min_ks_pvalue=MIN_KS_PVALUE) -> None:
    """Warn with :class:`ToyFloorWarning` if observed statistics lie beyond every toy.

    For a statistic that may follow a chi-square: the warning quotes, for each observed value
    at the floor, the extrapolation of the chi-square fitted to its column of toys, or says
    that the fit is poor; a column that cannot be fitted (values <= 0) gets the generic advice.

    Parameters
    ----------
    null : array-like of shape (n_toys,) or (n_toys, m)
        Null statistics, one column per statistic.
    observed : float or array-like of shape (m,)
        One observed value per column.
    what : str, default="toys"
        What the draws are, for the message.
    min_ks_pvalue : float, default=0.05
        Smallest KS p-value at which the message quotes an extrapolation.
    """
    columns = np.asarray(null, dtype=float).reshape(np.shape(null)[0], -1)
    t = np.asarray(observed, dtype=float).reshape(-1)
    at_least, _ = _tail_counts(columns, t, TIE_RTOL, strict=False)
    floor = np.flatnonzero(at_least == 0)
    if floor.size == 0:
        return
    extrapolations = []
    for j in floor:  # the few statistics at the floor, each fitted to its own toys
        try:
            fit = fit_chi2_dof(columns[:, j])
        except ValueError:
            continue
        extrapolations.append(_extrapolate(columns[:, j], t[j], fit, min_ks_pvalue))
    warning = ToyFloorWarning.at_floor(
        columns.shape[0],
        n_at_floor=floor.size,
        n_observed=t.size,
        extrapolations=extrapolations,
        what=what,
    )
    warn_toy_floor(warning)
