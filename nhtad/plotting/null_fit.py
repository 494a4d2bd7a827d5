"""Null toys against the chi-square fitted to them, with the observed statistic: floor or tail.

The NPLM recipe (Letizia et al., EPJC 82, 879 (2022), arXiv:2204.02317) fits the degrees of
freedom of a chi-square to the null toys of t and quotes that law's p-values beyond them. This
figure shows what that rests on: the toys (log scale, so the tail is visible), the fitted law
scaled to them, and the observed t with both of its significances, the toys' (capped at the
floor ``1 / (n + 1)``) and the extrapolated one.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..utils.validation import check_events_vector
from ._style import legend_if_several, new_axes, set_title

__all__ = ["plot_null_fit"]

#: Lowest expected toy count per bin drawn: the curve goes on below it, toward the observed
#: value, but a y range down to its value there (1e-100 toys) would flatten the toys.
_Y_FLOOR = 1e-3


def _check_observed(observed):
    if observed is None:
        return None
    if isinstance(observed, bool) or not isinstance(observed, numbers.Real):
        raise ValueError(f"observed must be a number; got {observed!r}.")
    if not math.isfinite(observed):
        raise ValueError(f"observed must be finite; got {observed!r}.")
    return float(observed)


def plot_null_fit(
    null, observed=None, fit=None, ax=None, *, bins=None, statistic="t", min_ks_pvalue=0.05
):
    """Histogram of null toys (log y) against their fitted chi-square, with the observed value.

    Parameters
    ----------
    null : array-like of shape (n_toys,)
        Null statistics of the toys, > 0.
    observed : float, optional
        Observed statistic, drawn as a vertical line whose legend entry gives its empirical Z
        (``(1 + #{t_null >= t}) / (1 + n)``, marked ``>=`` at the floor ``1 / (n + 1)``, where
        the toys only bound it) and its Z under the fitted chi-square.
    fit : Chi2Fit, optional
        The chi-square to draw; ``None`` fits one, :func:`nhtad.stats.fit_chi2_dof(null)
        <nhtad.stats.fit_chi2_dof>`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.
    bins : int or array-like, optional
        Bins of the histogram (``numpy.histogram_bin_edges``); by default ``sqrt(n_toys)``
        bins, between 10 and 60, over the toys' range.
    statistic : str, default="t"
        Name of the statistic in the labels.
    min_ks_pvalue : float, default=0.05
        A fit whose KS p-value is lower has its extrapolated Z marked as a poor fit in the
        legend (what :func:`nhtad.stats.chi2_extrapolation` would refuse).

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: the toys' histogram (counts per bin, log scale), the chi-square
        density times ``n_toys`` times the bin width, and the observed value, with a legend.
        The y range stops at 1e-3 expected toys per bin.

    Raises
    ------
    ValueError
        On fewer than 2 toys, a non-finite or non-positive toy, a non-finite observed value,
        or a ``fit`` that is not a :class:`~nhtad.stats.Chi2Fit`.
    """
    from scipy import stats as sps

    from ..stats.chi2_fit import Chi2Fit, fit_chi2_dof
    from ..stats.pvalues import empirical_log_pvalue, log_pvalue_to_significance

    toys = check_events_vector(null, "null")
    observed = _check_observed(observed)
    if fit is None:
        fit = fit_chi2_dof(toys)
    elif not isinstance(fit, Chi2Fit):
        raise ValueError(
            f"fit must be a Chi2Fit (nhtad.stats.fit_chi2_dof(null)); got {type(fit).__name__}."
        )
    n_bins = int(np.clip(np.sqrt(toys.size), 10, 60)) if bins is None else bins
    edges = np.histogram_bin_edges(toys, bins=n_bins)
    ax = new_axes(ax)
    ax.hist(
        toys,
        bins=edges,
        histtype="stepfilled",
        color="tab:blue",
        alpha=0.35,
        edgecolor="tab:blue",
        label=f"null toys (n = {toys.size})",
    )
    law = sps.chi2(fit.dof)
    right = max(edges[-1], law.isf(1e-6), 1.05 * observed if observed is not None else 0.0)
    x = np.linspace(max(0.0, min(edges[0], law.ppf(1e-6))), right, 2048)
    # Expected toys per bin of the histogram's mean width, so curve and bars share a scale.
    expected = toys.size * np.diff(edges).mean() * np.exp(law.logpdf(x))
    ax.plot(
        x,
        expected,
        color="tab:red",
        linewidth=1.5,
        label=rf"$\chi^2$(dof = {fit.dof:.4g}) fit, KS p = {fit.ks_pvalue:.2g}",
    )
    if observed is not None:
        log_p = empirical_log_pvalue(toys, observed, warn_floor=False)
        at_floor = log_p == -math.log1p(toys.size)
        z_toys = log_pvalue_to_significance(log_p)
        z_fit = float(fit.significance(observed).significance)
        poor = "" if fit.ks_pvalue >= min_ks_pvalue else " (poor fit)"
        toys_text = f"Z {'>=' if at_floor else '='} {z_toys:.2f}" + (" (floor)" if at_floor else "")
        ax.axvline(
            observed,
            color="k",
            linestyle="--",
            linewidth=1.5,
            label=(
                f"observed {statistic} = {observed:.4g}: toys {toys_text}, "
                rf"$\chi^2$ Z = {z_fit:.2f}{poor}"
            ),
        )
    ax.set_yscale("log")
    counts, _ = np.histogram(toys, bins=edges)
    ax.set_ylim(_Y_FLOOR, 10.0 * max(counts.max(), 1))
    ax.set_xlabel(f"test statistic {statistic}")
    ax.set_ylabel("toys per bin")
    set_title(ax, r"Null toys against their fitted $\chi^2$")
    legend_if_several(ax, loc="best", fontsize="small")
    return ax
