"""Score-bin shares per m_jj bin against the fitted trend of the smooth-trend null."""

from __future__ import annotations

import numpy as np

from ._style import legend_if_several, new_axes, set_title

__all__ = ["plot_smooth_trend"]


def plot_smooth_trend(test, *, score_bins=None, ax=None):
    """Share of events in score bins per m_jj bin, against the fitted smooth trend.

    For each chosen score bin ``i`` of a fitted
    :class:`~nhtad.stats.SmoothTrendIndependenceTest`: the observed share
    ``n_ij / n_.j`` in every m_jj bin with its binomial error, and the null model's share
    (``trend_``), a polynomial of degree ``degree_`` in the log. A resonance shows as points
    in the signal region (shaded) above the curve of the top score bins; a background the
    model does not follow shows as a misfit everywhere.

    Parameters
    ----------
    test : SmoothTrendIndependenceTest
        A fitted test.
    score_bins : sequence of int, optional
        Score bins to draw (0 = lowest scores); default the three highest.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: per chosen score bin, the observed shares as points and the
        trend as steps.

    Raises
    ------
    ValueError
        If ``test`` is not a fitted :class:`~nhtad.stats.SmoothTrendIndependenceTest` or a
        score bin lies outside ``[0, d_s)``.
    """
    try:
        table = np.asarray(test.contingency_, dtype=float)
        trend = np.asarray(test.trend_, dtype=float)
        y_edges = np.asarray(test.y_edges_, dtype=float)
    except AttributeError:
        raise ValueError(
            "plot_smooth_trend needs a fitted SmoothTrendIndependenceTest (call fit first); "
            f"got {type(test).__name__}."
        ) from None
    d_s = table.shape[0]
    if score_bins is None:
        score_bins = list(range(max(d_s - 3, 0), d_s))
    score_bins = [int(i) for i in np.atleast_1d(score_bins)]
    bad = [i for i in score_bins if not 0 <= i < d_s]
    if bad:
        raise ValueError(f"score_bins must lie in [0, {d_s}); got {bad}.")
    ax = new_axes(ax)
    centres = 0.5 * (y_edges[1:] + y_edges[:-1])
    widths = np.diff(y_edges)
    columns = table.sum(axis=0)
    in_sr = getattr(test, "in_signal_region_", None)
    if in_sr is not None and np.any(in_sr):
        lo, hi = y_edges[:-1][in_sr].min(), y_edges[1:][in_sr].max()
        ax.axvspan(lo, hi, color="0.9", zorder=0, label="signal region")
    for i in score_bins:
        share = table[i] / columns
        error = np.sqrt(np.clip(share * (1 - share), 0, None) / columns)
        points = ax.errorbar(
            centres,
            share,
            yerr=error,
            xerr=widths / 2,
            fmt="o",
            markersize=3,
            label=f"score bin {i}: data",
        )
        ax.step(
            y_edges,
            np.r_[trend[i], trend[i][-1]],
            where="post",
            color=points[0].get_color(),
            label=f"score bin {i}: trend (degree {test.degree_})",
        )
    ax.set_yscale("log")
    ax.set_xlabel(r"$m_{jj}$ [GeV]")
    ax.set_ylabel("share of the m_jj bin's events in the score bin")
    set_title(ax, f"Smooth-trend null: Z = {test.significance_:.2f}")
    legend_if_several(ax, fontsize="small")
    return ax
