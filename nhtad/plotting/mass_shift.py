"""The relative shift of the mean jet mass in bins of m_jj (Kamenik & Szewc 2023, Fig. 1)."""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np

from ..utils.validation import check_paired_vectors, check_positive_int
from ._checks import check_edges, check_labels
from ._style import legend_if_several, new_axes, set_title

__all__ = ["plot_mass_shift"]

logger = logging.getLogger(__name__)


def _bin_index(x, edges):
    """Bin of each value for bins ``[e_k, e_{k+1})``, the last closed; -1 outside."""
    index = np.searchsorted(edges, x, side="right") - 1
    index[x == edges[-1]] = edges.size - 2
    index[(x < edges[0]) | (x > edges[-1])] = -1
    return index


def _weighted_bin_means(index, values, weights, n_bins):
    """Weighted mean and its standard error per bin (NaN where a bin has < 2 events).

    The standard error is ``sigma / sqrt(n_eff)``, with the unbiased weighted variance and
    Kish's effective size ``n_eff = (sum w)^2 / sum w^2``; for unit weights it is the usual
    ``std(ddof=1) / sqrt(N)``.
    """
    counts = np.bincount(index, minlength=n_bins)
    sum_w = np.bincount(index, weights, minlength=n_bins)
    sum_wx = np.bincount(index, weights * values, minlength=n_bins)
    sum_ww = np.bincount(index, weights * weights, minlength=n_bins)
    mean = np.full(n_bins, np.nan)
    err = np.full(n_bins, np.nan)
    ok = counts >= 2
    mean[ok] = sum_wx[ok] / sum_w[ok]
    dev = values - np.where(ok, mean, 0.0)[index]
    sum_wdd = np.bincount(index, weights * dev * dev, minlength=n_bins)
    n_eff = np.ones(n_bins)
    n_eff[ok] = sum_w[ok] ** 2 / sum_ww[ok]
    ok &= n_eff > 1.0
    var = np.zeros(n_bins)
    var[ok] = sum_wdd[ok] / sum_w[ok] * n_eff[ok] / (n_eff[ok] - 1.0)
    err[ok] = np.sqrt(var[ok] / n_eff[ok])
    mean[~ok] = np.nan
    return mean, err


def plot_mass_shift(
    mjj,
    jet_mass,
    truth=None,
    *,
    signal_to_background=None,
    bins=16,
    region=None,
    jet_label="m_{j1}",
    ax=None,
):
    """Relative shift of the mean jet mass in bins of m_jj.

    Reproduces Fig. 1 of Kamenik & Szewc, "Null hypothesis test for anomaly detection",
    PLB 840 (2023) 137836: for each m_jj bin, ``<m_j>_bin / <m_j>_all - 1``, where
    ``<m_j>_all`` is the mean over all events in the binned range (the analysis window). A
    background whose jet mass rises with m_jj shows a slope; a resonant signal adds a bump in
    the signal region.

    Error bars are the standard error of the bin mean, ``sigma / sqrt(N)``, divided by
    ``<m_j>_all`` (the uncertainty of ``<m_j>_all`` itself, common to all bins, is left out).
    The paper's figure drew ``std / N``, error bars about ``sqrt(N)`` times too small.
    Horizontal bars show the bin widths.

    Parameters
    ----------
    mjj : array-like of shape (n_events,)
        Dijet invariant mass per event, in GeV.
    jet_mass : array-like of shape (n_events,)
        Jet mass per event, in GeV (the heavier jet ``mj1`` in the paper).
    truth : array-like of shape (n_events,), optional
        1 for signal, 0 for background. Without it all events form one series; with it the
        background alone and the mixture background + signal are drawn.
    signal_to_background : float, optional
        Only with ``truth``: reweight the signal events so that the mixture has this S/B in
        the binned range (signal weight ``S/B * N_bkg / N_sig``). Default: the events as given.
    bins : int or array-like, default=16
        Number of equal-width m_jj bins over ``region.window`` (over the range of ``mjj``
        without a region; 16 bins of the default 3.1-3.9 TeV window are 50 GeV wide), or the
        bin edges in GeV. Events outside the bins are left out, also of ``<m_j>_all``.
    region : SignalRegion, optional
        Shades the signal region ``[region.low, region.high)`` and sets the default range.
    jet_label : str, default="m_{j1}"
        Mathtext name of the jet mass in the y label.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: one error-bar series per sample, the signal region shaded.

    Raises
    ------
    ValueError
        On non-finite or mismatched inputs, truth values other than 0/1, bad bins, a
        ``signal_to_background`` without ``truth`` or without signal events, or no event in
        the bins.
    """
    mjj, mass = check_paired_vectors(mjj, jet_mass, s_name="mjj", y_name="jet_mass")
    is_signal = None if truth is None else check_labels(truth, mjj.size, "truth", "1 = signal")
    if signal_to_background is not None:
        if is_signal is None:
            raise ValueError(
                "signal_to_background reweights the signal events, so it needs truth labels; "
                "pass truth=... or leave signal_to_background=None."
            )
        if (
            isinstance(signal_to_background, bool)
            or not isinstance(signal_to_background, numbers.Real)
            or not math.isfinite(signal_to_background)
            or signal_to_background <= 0
        ):
            raise ValueError(
                f"signal_to_background must be a positive finite number; got "
                f"{signal_to_background!r}."
            )
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        n_bins = check_positive_int(bins, "bins")
        lo, hi = region.window if region is not None else (mjj.min(), mjj.max())
        if not hi > lo:
            raise ValueError(f"mjj is constant ({lo:g} GeV): there is no range to bin.")
        edges = np.linspace(lo, hi, n_bins + 1)
    else:
        edges = check_edges(bins, "bins")
    n_bins = edges.size - 1

    index = _bin_index(mjj, edges)
    inside = index >= 0
    if not inside.any():
        raise ValueError(
            f"no event has mjj inside the bins [{edges[0]:g}, {edges[-1]:g}] GeV; check the "
            f"units of mjj (GeV) and the bins or region."
        )
    logger.debug("plot_mass_shift: %d of %d events inside the bins", inside.sum(), mjj.size)

    series = []
    if is_signal is None:
        series.append(("events", inside, np.ones(mjj.size), "o"))
    else:
        bkg = inside & ~is_signal
        sig = inside & is_signal
        n_bkg, n_sig = int(bkg.sum()), int(sig.sum())
        if n_bkg == 0:
            raise ValueError("no background event (truth == 0) lies inside the bins.")
        series.append(("background", bkg, np.ones(mjj.size), "o"))
        if n_sig == 0:
            if signal_to_background is not None:
                raise ValueError(
                    f"signal_to_background={signal_to_background:g} needs signal events "
                    f"(truth == 1) inside the bins; there are none."
                )
            logger.info("plot_mass_shift: no signal event inside the bins; background only")
        else:
            w_sig = 1.0 if signal_to_background is None else signal_to_background * n_bkg / n_sig
            weights = np.where(is_signal, w_sig, 1.0)
            ratio = w_sig * n_sig / n_bkg
            series.append((f"background + signal (S/B = {ratio:.3g})", inside, weights, "s"))

    centers = 0.5 * (edges[:-1] + edges[1:])
    half = 0.5 * np.diff(edges)
    ax = new_axes(ax)
    drawn = []
    for label, mask, weights, marker in series:
        w = weights[mask]
        m = mass[mask]
        overall = np.sum(w * m) / np.sum(w)
        mean, err = _weighted_bin_means(index[mask], m, w, n_bins)
        shown = np.isfinite(mean)
        if not shown.all():
            logger.info(
                "plot_mass_shift: %d m_jj bins of %r hold fewer than 2 events; not drawn",
                int((~shown).sum()),
                label,
            )
        container = ax.errorbar(
            centers[shown],
            mean[shown] / overall - 1.0,
            yerr=err[shown] / overall,
            xerr=half[shown],
            fmt=marker,
            markersize=4,
            capsize=2,
            label=label,
        )
        drawn.append(container)
    ax.axhline(0.0, color="0.5", linewidth=0.8, zorder=0)
    if region is not None:
        ax.axvspan(
            region.low,
            region.high,
            color="tab:orange",
            alpha=0.12,
            zorder=0,
            label=f"signal region [{region.low:g}, {region.high:g}) GeV",
        )
    ax.set_xlabel(r"$m_{jj}$ [GeV]")
    ax.set_ylabel(rf"relative shift of $\langle {jet_label} \rangle$ (fraction)")
    set_title(
        ax,
        rf"$\langle {jet_label} \rangle_{{\rm bin}} / \langle {jet_label} \rangle_{{\rm all}} - 1$"
        rf" in bins of $m_{{jj}}$",
    )
    legend_if_several(ax, first=drawn)
    return ax
