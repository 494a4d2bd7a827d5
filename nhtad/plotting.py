"""Figures of the seed analyses: jet-mass shift, score PDFs, the MI null, power curves.

Every plotting function takes arrays or nhtad result objects and an optional ``ax``; without
one it draws on a new :class:`matplotlib.figure.Figure` that is *not* registered with pyplot,
so nothing global is created, shown or closed (safe in scripts, notebooks and tests). Save it
with :func:`save_figure` or ``ax.figure.savefig``. Axes are labelled with units, a legend is
drawn where there is more than one series, and no function sets ``text.usetex`` (the seed's
notebooks needed a LaTeX installation for that).

matplotlib is imported inside the functions, so ``import nhtad`` (and ``import
nhtad.plotting``) does not import it.

- :func:`plot_mass_shift`: seed 000 (Kamenik & Szewc, PLB 840 (2023) 137836) Fig. 1;
- :func:`plot_score_distributions`: seed 000 Fig. 2;
- :func:`plot_mi_null`: seed 000 Fig. 3;
- :func:`plot_power_curves`: the power curves of seed 004 (Grosso & Letizia, arXiv:2408.12296);
- :func:`plot_smooth_trend`: the score-bin shares per m_jj bin against the fitted smooth trend
  of a :class:`~nhtad.stats.SmoothTrendIndependenceTest`;
- :func:`median_significance_table`: seed 004's table of median Z, as markdown or CSV text;
- :func:`save_figure`: write a PNG atomically, creating the folders.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import numbers
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .utils.atomic import atomic_output
from .utils.validation import (
    check_events_vector,
    check_not_constant,
    check_paired_vectors,
    check_positive_int,
)

__all__ = [
    "plot_mass_shift",
    "plot_score_distributions",
    "plot_mi_null",
    "plot_power_curves",
    "plot_smooth_trend",
    "median_significance_table",
    "save_figure",
]

logger = logging.getLogger(__name__)

_FIGSIZE = (6.4, 4.8)


# -- helpers ------------------------------------------------------------------------------
def _new_axes(ax):
    """``ax`` itself, or the axes of a new pyplot-free Figure."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=_FIGSIZE, layout="constrained")
    return fig.add_subplot()


def _root_figure(fig_or_ax):
    """The top-level Figure of an Axes, SubFigure or Figure."""
    from matplotlib.figure import Figure

    obj = fig_or_ax
    for _ in range(8):
        if isinstance(obj, Figure):
            return obj
        try:
            obj = obj.get_figure(root=True)  # matplotlib >= 3.10
        except TypeError:
            obj = obj.figure
        except AttributeError:
            break
    raise ValueError(
        f"expected a matplotlib Figure or Axes; got {type(fig_or_ax).__name__}: {fig_or_ax!r}."
    )


def _set_title(ax, title):
    # Keep a title the caller already set on their own axes.
    if not ax.get_title():
        ax.set_title(title)


def _legend_if_several(ax, first=(), **kwargs):
    """A legend when more than one series is labelled; the handles in ``first`` lead."""
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) <= 1:
        return
    first = [h for h in first if h in handles]
    rest = [(h, lab) for h, lab in zip(handles, labels) if h not in first]
    handles = first + [h for h, _ in rest]
    labels = [h.get_label() for h in first] + [lab for _, lab in rest]
    ax.legend(handles, labels, **kwargs)


def _check_labels(values, n, name, meaning):
    """A per-event 0/1 vector of length ``n`` as a bool array."""
    arr = check_events_vector(values, name)
    if arr.size != n:
        raise ValueError(
            f"{name} must have one entry per event: got {arr.size} entries for {n} events."
        )
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise ValueError(
            f"{name} must be 0 or 1 per event ({meaning}); got {int(bad.sum())} other values, "
            f"e.g. {arr[bad][:3].tolist()}."
        )
    return arr == 1


def _check_edges(edges, name):
    try:
        edges = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers; got {edges!r}.") from None
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(
            f"{name} must be a 1-D array of at least 2 bin edges; got shape {edges.shape}."
        )
    if not np.isfinite(edges).all() or not (np.diff(edges) > 0).all():
        raise ValueError(f"{name} must be finite and strictly increasing; got {edges}.")
    return edges


def _bin_index(x, edges):
    """Bin of each value for bins ``[e_k, e_{k+1})``, the last closed; -1 outside."""
    index = np.searchsorted(edges, x, side="right") - 1
    index[x == edges[-1]] = edges.size - 2
    index[(x < edges[0]) | (x > edges[-1])] = -1
    return index


def _format_number(value):
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


# -- seed 000 Fig. 1 ----------------------------------------------------------------------
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
    """Relative shift of the mean jet mass in bins of m_jj (seed 000, Fig. 1).

    Reproduces Fig. 1 of Kamenik & Szewc, "Null hypothesis test for anomaly detection",
    PLB 840 (2023) 137836 (``plotter_mass_difference.ipynb``): for each m_jj bin,
    ``<m_j>_bin / <m_j>_all - 1``, where ``<m_j>_all`` is the mean over all events in the
    binned range (the analysis window). A background whose jet mass rises with m_jj shows a
    slope; a resonant signal adds a bump in the signal region.

    Error bars are the standard error of the bin mean, ``sigma / sqrt(N)``, divided by
    ``<m_j>_all`` (the uncertainty of ``<m_j>_all`` itself, common to all bins, is left out).
    The seed drew ``std / N``, error bars about ``sqrt(N)`` times too small. Horizontal bars
    show the bin widths.

    Parameters
    ----------
    mjj : array-like of shape (n_events,)
        Dijet invariant mass per event, in GeV.
    jet_mass : array-like of shape (n_events,)
        Jet mass per event, in GeV (the heavier jet ``mj1`` in the seed).
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

    Raises
    ------
    ValueError
        On non-finite or mismatched inputs, truth values other than 0/1, bad bins, a
        ``signal_to_background`` without ``truth`` or without signal events, or no event in
        the bins.
    """
    mjj, mass = check_paired_vectors(mjj, jet_mass, s_name="mjj", y_name="jet_mass")
    is_signal = None if truth is None else _check_labels(truth, mjj.size, "truth", "1 = signal")
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
        edges = _check_edges(bins, "bins")
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
    ax = _new_axes(ax)
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
    _set_title(
        ax,
        rf"$\langle {jet_label} \rangle_{{\rm bin}} / \langle {jet_label} \rangle_{{\rm all}} - 1$"
        rf" in bins of $m_{{jj}}$",
    )
    _legend_if_several(ax, first=drawn)
    return ax


# -- seed 000 Fig. 2 ----------------------------------------------------------------------
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
    """Distributions of the anomaly score in equal-statistics bins (seed 000, Fig. 2).

    Reproduces Fig. 2 of Kamenik & Szewc, PLB 840 (2023) 137836
    (``plotter_learned_output.ipynb``): histograms of the score ``s`` in the signal region and
    the sidebands and, with truth labels, for background and signal, on the equal-count
    binning the mutual-information test uses. Under the null the SR and SB curves agree.

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

    Raises
    ------
    ValueError
        On non-finite or mismatched inputs, labels other than 0/1, a SignalRegion without
        ``mjj``, bad edges, or no event to plot.
    """
    from .stats.binning import equal_count_edges

    if mjj is None:
        s = check_events_vector(s, "s")
    else:
        s, mjj = check_paired_vectors(s, mjj, s_name="s", y_name="mjj")
    n = s.size
    keep = np.ones(n, dtype=bool)
    in_sr = None
    if region_labels is None and mjj is not None:
        from .datasets.regions import SignalRegion

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
        in_sr = _check_labels(region_labels, n, "region_labels", "1 = signal region")
    is_signal = None if truth is None else _check_labels(truth, n, "truth", "1 = signal")

    s_kept = s[keep]
    if edges is None or (isinstance(edges, numbers.Integral) and not isinstance(edges, bool)):
        n_edges = 20 if edges is None else check_positive_int(edges, "edges")
        check_not_constant(s_kept, "s", "there is no distribution to bin.")
        edges = equal_count_edges(s_kept, max(1, s_kept.size // (2 * n_edges)), n_bins=n_edges)
    else:
        edges = _check_edges(edges, "edges")
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
    ax = _new_axes(ax)
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
    _set_title(ax, f"Score distributions, {edges.size - 1} equal-statistics bins")
    _legend_if_several(ax)
    return ax


# -- seed 000 Fig. 3 ----------------------------------------------------------------------
def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def plot_mi_null(result_or_null, observed=None, *, dof=None, n_events=None, ax=None):
    """Null distribution of the mutual information against its Gamma law (seed 000, Fig. 3).

    Reproduces Fig. 3 of Kamenik & Szewc, PLB 840 (2023) 137836: the histogram (density) of
    the MI statistic ``Î`` on null resamples, the asymptotic density of ``Î``,
    ``Gamma(shape=dof/2, scale=1/N)`` (equivalently ``2 N Î ~ chi2(dof)``), the observed value
    as a vertical line and a box with p and Z. The seed's toys were a parametric Poisson
    bootstrap; a permutation null (``MutualInformationIndependenceTest(method="permutation")``)
    is exact given the marginals.

    Parameters
    ----------
    result_or_null : TestResult or array-like of shape (n_resamples,)
        A :class:`~nhtad.stats.TestResult` of
        :class:`~nhtad.stats.MutualInformationIndependenceTest` (statistic, null resamples,
        ``n_events``, ``details["dof"]``, p and Z are read from it; an asymptotic result has no
        histogram), or the null statistics themselves, in nats.
    observed : float, optional
        Observed MI in nats, with a null array only; its p-value is
        ``(1 + #{null >= observed}) / (1 + n)``.
    dof : int, optional
        ``(d_s - 1)(d_y - 1)``, with a null array only; needed, with ``n_events``, for the
        Gamma curve.
    n_events : int, optional
        Number of events N of the test, with a null array only.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        On a non-finite null or observed value, a non-positive ``dof`` or ``n_events``, or
        ``observed``/``dof``/``n_events`` passed together with a TestResult.
    """
    from scipy import stats as sps

    from .stats.pvalues import empirical_log_pvalue, log_gamma_sf, log_pvalue_to_significance

    xlabel = r"mutual information $\hat{I}$ [nats]"
    lines = []
    if hasattr(result_or_null, "null_distribution") and hasattr(result_or_null, "details"):
        result = result_or_null
        given = {"observed": observed, "dof": dof, "n_events": n_events}
        clash = [k for k, v in given.items() if v is not None]
        if clash:
            raise ValueError(
                f"{', '.join(clash)} are read from the TestResult; pass them only with a plain "
                f"array of null statistics."
            )
        details = result.details
        null = result.null_distribution
        observed = float(result.statistic)
        kind = details.get("null", result.method)
        if kind == "simulation":
            # I_data - I_sim has no Gamma law; only the relabelling null applies.
            dof = n_events = None
            xlabel = r"$\hat{I}_{\rm data} - \hat{I}_{\rm sim}$ [nats]"
        else:
            dof = details.get("dof")
            n_events = result.n_events or None
        lines.append(f"p = {result.pvalue:.3g} ({kind})")
        lines.append(f"Z = {result.significance:.2f}")
        gamma_p_shown = kind == "asymptotic"
    else:
        null = check_events_vector(result_or_null, "null distribution")
        kind = "resampled"
        if observed is not None:
            if isinstance(observed, bool) or not isinstance(observed, numbers.Real):
                raise ValueError(f"observed must be a number; got {observed!r}.")
            observed = float(observed)
            if not math.isfinite(observed):
                raise ValueError(f"observed must be finite; got {observed!r}.")
            log_p = empirical_log_pvalue(null, observed)
            lines.append(f"p = {math.exp(log_p):.3g} (toys)")
            lines.append(f"Z = {log_pvalue_to_significance(log_p):.2f}")
        dof = None if dof is None else _check_count(dof, "dof")
        n_events = None if n_events is None else _check_count(n_events, "n_events")
        gamma_p_shown = False
    has_gamma = dof is not None and n_events is not None
    if observed is not None and has_gamma and not gamma_p_shown:
        log_p = float(log_gamma_sf(dof / 2.0, n_events * observed))
        lines.append(
            f"Gamma: p = {math.exp(log_p):.3g}, Z = {log_pvalue_to_significance(log_p):.2f}"
        )

    ax = _new_axes(ax)
    right = []
    if null is not None:
        n_hist = int(np.clip(np.sqrt(null.size), 10, 60))
        ax.hist(
            null,
            bins=n_hist,
            density=True,
            histtype="stepfilled",
            color="tab:blue",
            alpha=0.35,
            edgecolor="tab:blue",
            label=f"null resamples ({kind}, n = {null.size})",
        )
        right.append(null.max())
    if has_gamma:
        law = sps.gamma(a=dof / 2.0, scale=1.0 / n_events)
        lo = law.ppf(1e-7)
        hi = max([law.isf(1e-6), *right, observed if observed is not None else 0.0])
        x = np.linspace(lo, hi, 1024)
        ax.plot(
            x,
            law.pdf(x),
            color="tab:red",
            linewidth=1.5,
            label=rf"Gamma(dof/2 = {dof / 2:g}, scale = 1/N), N = {n_events}",
        )
    if observed is not None:
        ax.axvline(
            observed,
            color="k",
            linestyle="--",
            linewidth=1.5,
            label=rf"observed $\hat{{I}}$ = {observed:.3g} nats",
        )
    if lines:
        ax.text(
            0.97,
            0.97,
            "\n".join(lines),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize="small",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6", "alpha": 0.9},
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability density [1/nats]")
    _set_title(ax, "Mutual information under the null")
    # Head room for the legend (top left) and the p/Z box (top right) above the curves.
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, bottom + 1.45 * (top - bottom))
    _legend_if_several(ax, loc="upper left", fontsize="small")
    return ax


# -- seed 004 power curves and median significance ------------------------------------------
def plot_power_curves(curves, *, ax=None):
    """Power against the significance Z_alpha, with Clopper-Pearson bands (seed 004).

    The power curves of Grosso & Letizia, arXiv:2408.12296 (``powers.ipynb``): for each test
    or combination, the fraction of signal toys rejected at ``alpha = 1 - Phi(Z)`` on a
    threshold calibrated with null toys, and its Clopper-Pearson interval as a band.

    Parameters
    ----------
    curves : mapping of str to PowerAtSignificance
        Label of each curve and its :class:`~nhtad.calibration.PowerAtSignificance`, computed
        with :func:`~nhtad.calibration.power_at_significance` at one or (for a curve) several
        significances.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``curves`` is empty or not a mapping, an entry lacks the fields of
        ``PowerAtSignificance`` or holds non-finite or mismatched values.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(
            "curves must be a non-empty mapping {label: PowerAtSignificance}; got "
            f"{type(curves).__name__}."
        )
    ax = _new_axes(ax)
    confidences = set()
    for label, curve in curves.items():
        try:
            fields = [
                np.atleast_1d(np.asarray(getattr(curve, f), dtype=float))
                for f in ("significance", "power", "low", "high")
            ]
        except (AttributeError, TypeError, ValueError):
            raise ValueError(
                f"curves[{label!r}] must be a PowerAtSignificance (significance, power, low, "
                f"high); got {type(curve).__name__}."
            ) from None
        z, power, low, high = fields
        if not all(f.ndim == 1 and f.shape == z.shape for f in fields):
            raise ValueError(
                f"curves[{label!r}]: significance, power, low and high must have the same "
                f"1-D shape; got {[f.shape for f in fields]}."
            )
        if not all(np.isfinite(f).all() for f in fields):
            raise ValueError(f"curves[{label!r}] holds NaN or inf values.")
        confidences.add(getattr(curve, "confidence", None))
        order = np.argsort(z, kind="stable")
        (line,) = ax.plot(z[order], power[order], marker="o", markersize=4, label=str(label))
        ax.fill_between(
            z[order], low[order], high[order], color=line.get_color(), alpha=0.2, linewidth=0
        )
    ax.set_xlabel(r"significance $Z_\alpha$ [$\sigma$]")
    ax.set_ylabel(r"power $P(p \leq \alpha)$ (fraction of signal toys)")
    ax.set_ylim(0.0, 1.0)
    title = "Power at significance"
    if len(confidences) == 1 and None not in confidences:
        title += f" (bands: {next(iter(confidences)):.0%} Clopper-Pearson)"
    _set_title(ax, title)
    ax.legend(loc="best")
    return ax


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
    ax = _new_axes(ax)
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
    _set_title(ax, f"Smooth-trend null: Z = {test.significance_:.2f}")
    _legend_if_several(ax, fontsize="small")
    return ax


def _median_cell(value, where):
    if hasattr(value, "significance") and hasattr(value, "low") and hasattr(value, "high"):
        triple = (value.significance, value.low, value.high)
    else:
        try:
            triple = tuple(value)
        except TypeError:
            triple = ()
        if len(triple) != 3:
            raise ValueError(
                f"{where} must be a MedianSignificance or a (median, low, high) triple; got "
                f"{value!r}."
            )
    try:
        triple = tuple(float(v) for v in triple)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must hold numbers; got {value!r}.") from None
    if any(math.isnan(v) for v in triple):
        raise ValueError(f"{where} holds NaN: {value!r}.")
    return triple


def median_significance_table(rows, *, fmt="markdown", digits=2):
    """Table of median significances "median (low–high)" per strategy and injection.

    The summary table of seed 004 (Grosso & Letizia, arXiv:2408.12296): one row per test or
    combination, one column per signal injection, each cell the Z of the median signal toy
    with its interval (:class:`~nhtad.calibration.MedianSignificance`).

    Parameters
    ----------
    rows : mapping of str to mapping
        ``{strategy: {injection: MedianSignificance or (median, low, high)}}``. Columns are the
        injections in order of first appearance; a missing cell is written "—".
    fmt : {"markdown", "csv"}, default="markdown"
        A GitHub-flavoured markdown table or CSV text (the first column is "strategy").
    digits : int, default=2
        Decimals of every Z.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        On an unknown ``fmt``, an empty or malformed ``rows``, or NaN values.

    Examples
    --------
    >>> print(median_significance_table({"MI": {"S/B=0.005": (2.314, 1.9, 2.71)}}))
    | strategy | S/B=0.005 |
    |---|---:|
    | MI | 2.31 (1.90–2.71) |
    """
    if fmt not in ("markdown", "csv"):
        raise ValueError(f"fmt must be 'markdown' or 'csv'; got {fmt!r}.")
    digits = check_positive_int(digits, "digits", minimum=0)
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError("rows must be a non-empty mapping {strategy: {injection: value}}.")
    columns = []
    cells = {}
    for strategy, row in rows.items():
        if not isinstance(row, Mapping):
            raise ValueError(
                f"rows[{strategy!r}] must be a mapping {{injection: value}}; got "
                f"{type(row).__name__}."
            )
        for injection, value in row.items():
            if injection not in columns:
                columns.append(injection)
            median, low, high = _median_cell(value, f"rows[{strategy!r}][{injection!r}]")
            cells[strategy, injection] = f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"
    if not columns:
        raise ValueError("rows holds no cell: every strategy maps to an empty mapping.")
    header = ["strategy", *(_format_number(c) for c in columns)]
    body = [[str(strategy), *(cells.get((strategy, c), "—") for c in columns)] for strategy in rows]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
        return out.getvalue()

    def _row(values):
        return "| " + " | ".join(v.replace("|", r"\|") for v in values) + " |"

    lines = [_row(header), "|---|" + "---:|" * len(columns), *(_row(r) for r in body)]
    return "\n".join(lines)


# -- saving --------------------------------------------------------------------------------
def save_figure(fig_or_ax, path, *, dpi=120, overwrite=False):
    """Save a figure (or the figure of an Axes) as a PNG, creating parent folders.

    Nothing is closed and no pyplot state is touched. A ``path`` without a suffix gets
    ``.png``; another suffix (``.pdf``, ``.svg``) saves in that format. The figure is written
    to a temporary file in the same folder and renamed onto ``path`` when complete, so an
    interrupted save leaves no partial image and an existing one intact.

    Parameters
    ----------
    fig_or_ax : matplotlib.figure.Figure or matplotlib.axes.Axes
        The figure, or any Axes of it (the whole top-level figure is saved).
    path : str or os.PathLike
        File to write; missing parent folders are created.
    dpi : int, default=120
        Resolution in dots per inch.
    overwrite : bool, default=False
        Replace an existing ``path``; without it an existing file is refused.

    Raises
    ------
    ValueError
        If ``fig_or_ax`` is neither a Figure nor an Axes, or ``dpi`` is not a positive integer.
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    fig = _root_figure(fig_or_ax)
    dpi = check_positive_int(dpi, "dpi")
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=overwrite) as fh:
        # A file object carries no suffix, so the format is passed explicitly.
        fig.savefig(fh, format=path.suffix[1:].lower(), dpi=dpi)
    logger.debug("saved figure to %s", path)
    return path
