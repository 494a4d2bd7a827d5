"""Anomaly-score distributions in equal-statistics bins (Kamenik & Szewc 2023, Fig. 2)."""

from __future__ import annotations

import logging
import numbers

import numpy as np

from ..utils.validation import (
    check_events_vector,
    check_not_constant,
    check_paired_vectors,
    check_positive_int,
)
from ._checks import check_edges, check_labels
from ._style import legend_if_several, new_axes, set_title

__all__ = ["plot_score_distributions"]

logger = logging.getLogger(__name__)


def plot_score_distributions(
    s,
    mjj=None,
    region_labels=None,
    truth=None,
    *,
    edges=None,
    density=True,
    log=False,
    ax=None,
):
    """Distributions of the anomaly score in equal-statistics bins.

    Reproduces Fig. 2 of Kamenik & Szewc, PLB 840 (2023) 137836: histograms of the score ``s``
    in the signal region and the sidebands and, with truth labels, for background and signal,
    on the equal-count binning the mutual-information test uses. Under the null the SR and SB
    curves agree.

    Parameters
    ----------
    s : array-like of shape (n_events,)
        Anomaly score per event (out-of-fold).
    mjj : array-like of shape (n_events,), optional
        Dijet mass in GeV; turns ``region_labels`` given as a
        :class:`~nhtad.datasets.SignalRegion` (by default ``SignalRegion()``, 3.3-3.7 TeV in a
        3.1-3.9 TeV window) into SR/SB labels. Events outside the window are then left out of
        every histogram.
    region_labels : array-like of shape (n_events,) or SignalRegion, optional
        1 for the signal region, 0 for the sidebands, or the region that defines them from
        ``mjj``.
    truth : array-like of shape (n_events,), optional
        1 for signal, 0 for background.
    edges : None, int or array-like, default=None
        Score bin edges. ``None``: 20 equal-count bins of the plotted events from
        :func:`nhtad.stats.equal_count_edges` (bins are cut only between distinct values, so a
        point mass of the score becomes one bin); int: that many equal-count bins; array: the
        edges (events outside them are left out and logged).
    density : bool, default=True
        Probability density (each histogram integrates to 1) or events per bin.
    log : bool, default=False
        Logarithmic y axis: a well-trained score piles the background into a narrow peak and
        spreads the signal over wide tail bins, orders of magnitude lower.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: one step histogram per series of events.

    Raises
    ------
    ValueError
        On non-finite or mismatched inputs, labels other than 0/1, a SignalRegion without
        ``mjj``, bad edges, or no event to plot.
    """
    from ..stats.binning import equal_count_edges

    if mjj is None:
        s = check_events_vector(s, "s")
    else:
        s, mjj = check_paired_vectors(s, mjj, s_name="s", y_name="mjj")
    n = s.size
    keep = np.ones(n, dtype=bool)
    in_sr = None
    if region_labels is None and mjj is not None:
        from ..datasets.regions import SignalRegion

        region_labels = SignalRegion()
        logger.info("plot_score_distributions: SR/SB from the default %s", region_labels)
    if region_labels is not None and hasattr(region_labels, "in_signal_region"):
        if mjj is None:
            raise ValueError(
                "region_labels is a SignalRegion, which needs mjj (GeV) to label the events; "
                "pass mjj=... or per-event 0/1 region labels."
            )
        keep = region_labels.in_window(mjj)
        in_sr = region_labels.in_signal_region(mjj)
        if not keep.any():
            raise ValueError(
                f"no event lies in the window of {region_labels}; check the units of mjj (GeV)."
            )
        if not keep.all():
            logger.info(
                "plot_score_distributions: %d of %d events outside %s left out",
                int((~keep).sum()),
                n,
                region_labels,
            )
    elif region_labels is not None:
        in_sr = check_labels(region_labels, n, "region_labels", "1 = signal region")
    is_signal = None if truth is None else check_labels(truth, n, "truth", "1 = signal")

    s_kept = s[keep]
    if edges is None or (isinstance(edges, numbers.Integral) and not isinstance(edges, bool)):
        n_edges = 20 if edges is None else check_positive_int(edges, "edges")
        check_not_constant(s_kept, "s", "there is no distribution to bin.")
        edges = equal_count_edges(s_kept, max(1, s_kept.size // (2 * n_edges)), n_bins=n_edges)
    else:
        edges = check_edges(edges, "edges")
        outside = keep & ((s < edges[0]) | (s > edges[-1]))
        if outside.any():
            logger.warning(
                "plot_score_distributions: %d scores outside the edges [%g, %g] are left out",
                int(outside.sum()),
                edges[0],
                edges[-1],
            )

    series = []
    if in_sr is not None:
        series.append(("signal region (SR)", keep & in_sr, "tab:red", "-"))
        series.append(("sidebands (SB)", keep & ~in_sr, "tab:blue", "-"))
    if is_signal is not None:
        series.append(("background (truth)", keep & ~is_signal, "0.3", "--"))
        series.append(("signal (truth)", keep & is_signal, "tab:green", "--"))
    if not series:
        series.append(("all events", keep, "k", "-"))

    widths = np.diff(edges)
    ax = new_axes(ax)
    drawn = 0
    for label, mask, color, style in series:
        counts = np.histogram(s[mask], bins=edges)[0]
        total = counts.sum()
        if total == 0:
            logger.info("plot_score_distributions: no event in %r; not drawn", label)
            continue
        values = counts / (total * widths) if density else counts
        ax.stairs(
            values,
            edges,
            color=color,
            linestyle=style,
            linewidth=1.5,
            label=f"{label}, N = {total:,}",
        )
        drawn += 1
    if drawn == 0:
        raise ValueError("no event falls inside the score bins: nothing to plot.")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(r"anomaly score $s$ (dimensionless)")
    ax.set_ylabel("probability density [1/unit of s]" if density else "events per bin")
    set_title(ax, f"Score distributions, {edges.size - 1} equal-statistics bins")
    legend_if_several(ax)
    return ax
