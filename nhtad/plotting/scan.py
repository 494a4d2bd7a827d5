"""Local significance along a signal-region scan, with the global significance levels marked."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from ._style import new_axes, set_title

__all__ = ["plot_scan"]


def _levels(scan, gross_vitells, levels):
    """Local Z at which the global Z reaches each level: from the toys where they resolve it,
    else from the Gross-Vitells estimate; ``{level: (local Z, source)}``."""
    out = {}
    null = scan.result_.null_distribution
    for level in levels:
        p = float(norm.sf(level))
        if null is not None and p >= 1.0 / (null.size + 1):
            out[level] = (float(np.quantile(null, 1.0 - p)), "toys")
        elif gross_vitells is not None:
            grid = np.linspace(0.0, 12.0, 2401)
            with np.errstate(invalid="ignore"):
                reached = np.flatnonzero(gross_vitells.significance(grid) >= level)
            if reached.size:
                out[level] = (float(grid[reached[0]]), "Gross-Vitells")
    return out


def plot_scan(scan, *, gross_vitells=None, levels=(1.0, 2.0, 3.0), ax=None):
    """Local Z against the signal-region centre, with the local Z of global 1, 2, 3 sigma.

    Parameters
    ----------
    scan : SignalRegionScan
        A fitted scan.
    gross_vitells : GrossVitells, optional
        The analytic estimate (:func:`~nhtad.stats.gross_vitells`), used for the levels the
        scan's toys do not resolve (a global p below ``1 / (n_toys + 1)``).
    levels : sequence of float, default=(1, 2, 3)
        Global significances to mark, as the local Z a window needs to reach them.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(scan, "local_significances_")
    ax = new_axes(ax)
    centres, z = scan.window_centres_, scan.local_significances_
    ax.plot(centres, z, marker="o", markersize=4, label="local Z per window")
    best = scan.best_window_
    ax.plot(
        [centres[best]],
        [z[best]],
        marker="*",
        markersize=12,
        linestyle="none",
        label=f"best window: global Z = {scan.significance_:.2f} ({scan.result_.method})",
    )
    for level, (local, source) in _levels(scan, gross_vitells, levels).items():
        ax.axhline(local, color="grey", linestyle=":", linewidth=1)
        ax.annotate(
            f"global {level:g}$\\sigma$ ({source})",
            (1.0, local),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=8,
            color="grey",
        )
    ax.set_xlabel(r"signal-region centre $m_{jj}$ [GeV]")
    ax.set_ylabel(r"local significance $Z$ [$\sigma$]")
    set_title(ax, f"Signal-region scan: {len(z)} windows, trials factor {scan.trials_factor_:.3g}")
    ax.legend(loc="best", fontsize=8)
    return ax
