"""A sliding signal-region scan: local p-values per window and a calibrated global p-value.

A resonance search that does not know the resonance mass slides the signal region across m_jj
and runs its test in every window. The smallest local p-value then overstates the evidence:
under the background-only hypothesis some window fluctuates up (the look-elsewhere effect).
:class:`SignalRegionScan` runs any nhtad test (or a whole chain that trains its score, such as
:class:`~nhtad.SACWoLaTest`) in each window and reports

- per window: the local p-value and Z (``local_log_pvalues_``, ``local_significances_``);
- the scan statistic ``max_w Z_w`` (equivalently the smallest local p);
- the global p-value ``P(max_w Z_w >= observed | background only)``, from background-only toys
  that rerun the whole scan (``null=``: :class:`~nhtad.calibration.ToyCalibrator` with
  ``statistic="local_significances_"``), or, without toys, the Bonferroni bound
  ``min(1, n_windows * p_min)`` (``method="bound"``);
- the trials factor ``p_global / p_min``.

Beside the toys, :func:`gross_vitells` gives the analytic estimate of Gross & Vitells,
"Trial factors for the look elsewhere effect in high energy physics", EPJC 70 (2010) 525,
eq. 2 for a one-sided test with one degree of freedom: ``p_global ~= p_local(Z) +
<N(u0)> exp(-(Z^2 - u0^2) / 2)``, with ``<N(u0)>`` the mean number of upcrossings of the local
Z curve over a low level ``u0``, counted on a few toys. It holds for a test whose local Z is
asymptotically normal along a smooth scan; it is a cross-check of the toys, not a substitute.
Over a finite grid of windows it is capped by the grid's Bonferroni bound, which it exceeds at
large Z.
"""

from __future__ import annotations

import logging
import numbers

import numpy as np
from sklearn.base import clone

from ..utils.random import as_seed_sequence, spawn_children
from .base import BOUND, TOYS, BaseTest
from .pvalues import empirical_log_pvalue, log_pvalue_to_significance, significance_to_log_pvalue

__all__ = ["SignalRegionScan", "sliding_regions", "gross_vitells", "GrossVitells"]

logger = logging.getLogger(__name__)


def sliding_regions(*, width, sideband_width, step, mjj_range=None, centres=None, relative=False):
    """A grid of signal regions sliding across m_jj, as a list of :class:`SignalRegion`.

    Parameters
    ----------
    width : float
        Signal-region width in GeV (with ``relative``: as a fraction of the centre).
    sideband_width : float
        Width of each sideband in GeV (with ``relative``: fraction of the centre).
    step : float
        Distance between neighbouring centres in GeV (ignored with ``centres``). Windows may
        overlap (a step below ``width + 2 sideband_width``), as a resonance search's do.
    mjj_range : tuple of float, optional
        ``(low, high)``: every window lies inside it; the first centre sits where the first
        window starts at ``low``. Required without ``centres``.
    centres : array-like of float, optional
        Explicit centres instead of the grid.
    relative : bool, default=False
        Widths relative to the centre (a constant fraction of the m_jj resolution).

    Returns
    -------
    list of SignalRegion

    Examples
    --------
    >>> [r.window for r in sliding_regions(width=400, sideband_width=200, step=400,
    ...                                    mjj_range=(2700, 4300))]
    [(2700.0, 3500.0), (3100.0, 3900.0), (3500.0, 4300.0)]
    """
    from ..datasets import SignalRegion

    for name, value in (("width", width), ("sideband_width", sideband_width)):
        if not _positive(value):
            raise ValueError(f"{name} must be a positive number; got {value!r}.")

    def half_widths(c):
        scale = c if relative else 1.0
        return 0.5 * width * scale, sideband_width * scale

    if centres is None:
        if mjj_range is None or not _positive(step):
            raise ValueError(
                "give the centres, or a grid: mjj_range=(low, high) and a positive step; got "
                f"mjj_range={mjj_range!r}, step={step!r}."
            )
        lo, hi = (float(v) for v in mjj_range)
        if relative:
            # First centre c with c (1 - width/2 - sideband) = lo.
            first = lo / (1.0 - 0.5 * width - sideband_width)
        else:
            first = lo + 0.5 * width + sideband_width
        centres = np.arange(first, hi, float(step))
        centres = [c for c in centres if c + sum(half_widths(c)) <= hi * (1 + 1e-12)]
        if not centres:
            raise ValueError(
                f"no window of width {width} with sidebands of {sideband_width} fits in "
                f"mjj_range {mjj_range}."
            )
    regions = []
    for c in np.asarray(centres, dtype=float):
        half, side = half_widths(c)
        regions.append(SignalRegion(c - half, c + half, (c - half - side, c + half + side)))
    return regions


def _positive(value):
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and np.isfinite(value)
        and value > 0
    )


class GrossVitells:
    """The Gross-Vitells estimate of a scan's global p-value (:func:`gross_vitells`).

    Attributes
    ----------
    level : float
        The low level ``u0`` (in local Z) whose upcrossings were counted.
    mean_upcrossings : float
        ``<N(u0)>``, the mean number of upcrossings per toy.
    n_toys : int
    n_windows : int or None
        Windows of the scan: the estimate is capped at the Bonferroni bound
        ``n_windows * p_local``, which the global p of a scan of that many windows never
        exceeds (``None``: no cap).
    """

    def __init__(self, level, mean_upcrossings, n_toys, n_windows=None):
        self.level = float(level)
        self.mean_upcrossings = float(mean_upcrossings)
        self.n_toys = int(n_toys)
        self.n_windows = None if n_windows is None else int(n_windows)

    def log_pvalue(self, significance):
        """``log p_global`` at local significance Z (Gross & Vitells, eq. 2, one-sided).

        ``min(p_local + <N(u0)> exp(-(Z^2 - u0^2) / 2), n_windows p_local, 1)``. The
        upcrossing term describes a continuous scan; over a finite grid of windows it
        overshoots at large Z (``exp(-Z^2/2)`` is about ``Z sqrt(2 pi)`` times ``p_local``),
        where the Bonferroni bound of the grid is the tighter statement. NaN at or below the
        counting level ``u0``, where the estimate does not apply.
        """
        z = np.asarray(significance, dtype=float)
        local = significance_to_log_pvalue(z)
        with np.errstate(divide="ignore"):
            excursion = np.log(self.mean_upcrossings) - 0.5 * (z**2 - self.level**2)
        # The estimate describes excursions above the counting level; below it, it says
        # nothing (its p would exceed 1): NaN there.
        out = np.minimum(np.logaddexp(local, excursion), 0.0)
        if self.n_windows is not None:
            out = np.minimum(out, local + np.log(self.n_windows))
        return np.where(z > self.level, out, np.nan)

    def significance(self, significance):
        """Global Z at local significance Z (NaN at or below ``u0``)."""
        log_p = np.asarray(self.log_pvalue(significance), dtype=float)
        out = np.full(log_p.shape, np.nan)
        ok = ~np.isnan(log_p)
        out[ok] = log_pvalue_to_significance(log_p[ok])
        return float(out) if out.ndim == 0 else out

    def __repr__(self):
        return (
            f"GrossVitells(level={self.level:g}, mean_upcrossings={self.mean_upcrossings:.4g}, "
            f"n_toys={self.n_toys}, n_windows={self.n_windows})"
        )


def gross_vitells(local_significances, level=1.0):
    """Count the upcrossings of ``level`` by toys' local-Z curves: the Gross-Vitells estimate.

    Parameters
    ----------
    local_significances : array-like of shape (n_toys, n_windows)
        Local Z along the scan (windows in the order of their centres) for background-only
        toys.
    level : float, default=1.0
        The low level ``u0``: low enough that every toy crosses it a few times, so that a few
        toys estimate ``<N(u0)>`` well.

    Returns
    -------
    GrossVitells
    """
    z = np.asarray(local_significances, dtype=float)
    if z.ndim != 2 or z.shape[1] < 2 or z.shape[0] < 1:
        raise ValueError(
            "local_significances must be (n_toys, n_windows) with at least 2 windows; got shape "
            f"{z.shape}."
        )
    if not np.all(np.isfinite(z)):
        raise ValueError("local_significances must be finite (a window's test failed?).")
    above = z > level
    crossings = (above[:, 1:] & ~above[:, :-1]).sum(axis=1)
    return GrossVitells(level, crossings.mean(), z.shape[0], n_windows=z.shape[1])


class SignalRegionScan(BaseTest):
    """Run a test in every window of a signal-region scan; local and global p-values.

    Parameters
    ----------
    local_test : BaseTest or callable
        The test run in each window, cloned per window (named so that it does not hide the
        method :meth:`test`). A ``region`` parameter (or a
        ``y_bins`` holding a :class:`SignalRegion`) is set to the window's region; a
        ``random_state`` parameter gets a seed of its own per window when the scan has one.
        A chain that trains its score (:class:`~nhtad.SACWoLaTest`) retrains in every
        window, as the method requires. A callable ``test(region, n_events)`` returning a test
        builds one per window instead, for settings that depend on the window's size (the
        falling spectrum puts ten times fewer events in a high window than in a low one), e.g.
        :func:`~nhtad.default_sacwola_null`.
    windows : list of SignalRegion
        The scan, e.g. :func:`sliding_regions`; in the order of their centres.
    target : {"mjj", "region"}, default="mjj"
        What the test receives as ``y`` when ``fit`` is given no ``y``: the events' m_jj, or
        their region label (1 signal region, 0 sidebands), as
        :class:`~nhtad.stats.AnomalyCutTest` takes it.
    select : {"window", "signal_region"}, default="window"
        Which events enter a window's test: the whole window, or its signal region only (a
        data-vs-reference test such as NPLM's, whose ``y`` is then given to ``fit``).
    null : array-like of shape (n_toys, n_windows), ToyCalibrator or None
        Local significances of background-only toys of the whole scan (a fitted
        :class:`~nhtad.calibration.ToyCalibrator` of this scan with
        ``statistic="local_significances_"``, or its ``null_distribution_``). ``None``: the
        global p-value is the Bonferroni bound ``min(1, n_windows p_min)``.
    random_state : None, int or SeedSequence
        Seeds the windows' tests (one child seed per window).

    Attributes
    ----------
    local_log_pvalues_, local_significances_ : ndarray of shape (n_windows,)
    local_results_ : list of TestResult
    best_window_ : int
        Index of the most significant window.
    statistic_ : float
        ``max_w Z_w``.
    log_pvalue_, pvalue_, significance_ : float
        The global p-value and Z.
    trials_factor_ : float
        ``p_global / p_min`` (1 for a single window).
    """

    def __init__(
        self,
        local_test,
        windows,
        *,
        target="mjj",
        select="window",
        null=None,
        random_state=None,
    ):
        self.local_test = local_test
        self.windows = windows
        self.target = target
        self.select = select
        self.null = null
        self.random_state = random_state

    # -- inputs ------------------------------------------------------------------------------
    def _check_settings(self):
        from ..datasets import SignalRegion

        windows = list(self.windows) if self.windows is not None else []
        if not windows or not all(isinstance(w, SignalRegion) for w in windows):
            raise ValueError(
                "windows must be a non-empty list of SignalRegion (e.g. sliding_regions(...)); "
                f"got {self.windows!r}."
            )
        if self.target not in ("mjj", "region"):
            raise ValueError(f"target must be 'mjj' or 'region'; got {self.target!r}.")
        if self.select not in ("window", "signal_region"):
            raise ValueError(f"select must be 'window' or 'signal_region'; got {self.select!r}.")
        is_test = hasattr(self.local_test, "fit") and hasattr(self.local_test, "get_params")
        if not is_test and not callable(self.local_test):
            raise ValueError(
                "local_test must be an nhtad test (fit, get_params) or a callable (region, "
                "n_events) "
                f"returning one; got {self.local_test!r}."
            )
        return windows

    def _null_matrix(self, n_windows):
        null = self.null
        if null is None:
            return None
        if hasattr(null, "null_distribution_"):
            null = null.null_distribution_
        null = np.asarray(null, dtype=float)
        if null.ndim != 2 or null.shape[1] != n_windows or null.shape[0] < 1:
            raise ValueError(
                f"null must hold the local significances of background-only toys, shape "
                f"(n_toys, {n_windows}); got shape {null.shape}. Calibrate with "
                "ToyCalibrator(scan, generator, statistic='local_significances_')."
            )
        if not np.all(np.isfinite(null)):
            raise ValueError("null holds NaN or inf: some toy's window test failed.")
        return null

    def _window_test(self, region, n_events, seed):
        if hasattr(self.local_test, "fit") and hasattr(self.local_test, "get_params"):
            test = clone(self.local_test)
        else:
            test = self.local_test(region, n_events)
            if not (hasattr(test, "fit") and hasattr(test, "get_params")):
                raise ValueError(
                    f"the local_test factory {self.local_test!r} returned {test!r}, not a test."
                )
        params = test.get_params(deep=False)
        update = {}
        if "region" in params:
            update["region"] = region
        elif "y_bins" in params and _is_region(params["y_bins"]):
            update["y_bins"] = region
        if seed is not None and "random_state" in params:
            update["random_state"] = seed
        return test.set_params(**update)

    # -- fit -----------------------------------------------------------------------------------
    def fit(self, X, mjj, y=None, **fit_params):
        """Run the test in every window; set the local and global p-values.

        Parameters
        ----------
        X : array-like of shape (n_events, ...) or None
            What the test takes as its first argument (a score, features; ``None`` for a
            bump hunt without a cut), one row per event.
        mjj : array-like of shape (n_events,)
            The resonant mass of every event (GeV), over the whole scanned range.
        y : array-like of shape (n_events,), optional
            The test's ``y`` when it is not m_jj nor the region label (e.g. data/reference
            labels for ``select="signal_region"``).
        **fit_params : array-like of shape (n_events,)
            Per-event inputs of the test's ``fit`` (e.g. ``is_simulation``), cut to each
            window with the events.

        Returns
        -------
        self
        """
        from ..utils.validation import check_events_vector

        windows = self._check_settings()
        null = self._null_matrix(len(windows))
        mjj = check_events_vector(mjj, "mjj")
        n = mjj.size
        arrays = {"X": X, "y": y, **fit_params}
        for name, value in arrays.items():
            if value is not None and len(value) != n:
                raise ValueError(
                    f"{name} has {len(value)} rows but mjj has {n}: give one row per event."
                )
        seeds = (
            [None] * len(windows)
            if self.random_state is None
            else spawn_children(as_seed_sequence(self.random_state), len(windows))
        )
        results = []
        for k, (region, seed) in enumerate(zip(windows, seeds, strict=True)):
            rows = (
                region.in_window(mjj) if self.select == "window" else region.in_signal_region(mjj)
            )
            if not rows.any():
                raise ValueError(
                    f"window {k} ({region.window[0]:g}-{region.window[1]:g} GeV) holds no event; "
                    "scan inside the range of the data."
                )
            if y is not None:
                target = np.asarray(y)[rows]
            elif self.target == "region":
                target = region.labels(mjj[rows])
            else:
                target = mjj[rows]
            first = None if X is None else _rows(X, rows)
            params = {name: _rows(value, rows) for name, value in fit_params.items()}
            test = self._window_test(region, int(rows.sum()), seed)
            results.append(test.fit(first, target, **params).result_)
            logger.debug("window %d: Z = %.3f", k, results[-1].significance)
        self._set_scan(results, windows, null)
        return self

    def _set_scan(self, results, windows, null):
        log_p = np.array([r.log_pvalue for r in results])
        z = np.array([r.significance for r in results])
        self.local_results_ = results
        self.local_log_pvalues_ = log_p
        self.local_significances_ = z
        self.window_centres_ = np.array([0.5 * (w.low + w.high) for w in windows])
        best = int(np.argmax(z))
        self.best_window_ = best
        z_max = float(z[best])
        details = {
            "n_windows": len(windows),
            "best_window": best,
            "best_window_signal_region": (windows[best].low, windows[best].high),
            "local_significance": z_max,
            "local_log_pvalue": float(log_p[best]),
        }
        if null is not None:
            null_max = null.max(axis=1)
            global_log_p = empirical_log_pvalue(null_max, z_max)
            method = TOYS
            details["n_toys"] = int(null.shape[0])
        else:
            global_log_p = min(0.0, float(log_p[best]) + np.log(len(windows)))
            method = BOUND
            null_max = None
            details["bound"] = "Bonferroni: n_windows x p_min"
        trials = float(np.exp(global_log_p - log_p[best]))
        self.trials_factor_ = trials
        details["trials_factor"] = trials
        self._set_result(
            z_max,
            global_log_p,
            method=method,
            n_events=int(sum(r.n_events for r in results)),
            null_distribution=null_max,
            details=details,
        )

    def _accepts_simulation(self):
        return False


def _rows(values, rows):
    if hasattr(values, "iloc"):
        return values.iloc[np.flatnonzero(rows)]
    return np.asarray(values)[rows]


def _is_region(value):
    from ..datasets import SignalRegion

    return isinstance(value, SignalRegion)
