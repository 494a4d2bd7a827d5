r"""The four-parameter dijet fit to the sidebands of a resonance search.

The background model of the bump hunt (:class:`~nhtad.stats.BumpHuntTest`): the dijet function
(CDF, PRD 79 (2009) 112002; :mod:`nhtad.stats.dijet_function`) fitted by a binned Poisson
likelihood to the bin integrals in the sidebands, interpolated into the signal region.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import NamedTuple

import numpy as np
from iminuit import Minuit
from scipy import linalg, special

from .dijet_function import dijet_log_basis
from .pvalues import chi2_log_sf

__all__ = [
    "fit_dijet_sidebands",
    "histogram_window",
    "Binned",
    "window_bins",
    "SidebandFit",
    "BackgroundFitError",
    "N_PARAMS",
]

logger = logging.getLogger(__name__)

N_PARAMS = 4
_N_PARAMS = N_PARAMS
# Keeps exp() of the log-linear model finite while migrad probes far-off parameters; at the
# minimum the model is many orders of magnitude inside these bounds.
_LOG_F_BOUND = 600.0


class BackgroundFitError(RuntimeError):
    """The dijet fit to the sidebands did not converge, so no background prediction exists.

    Raised instead of returning a significance computed from an unconverged fit.
    """


class Binned(NamedTuple):
    """Events of a window histogrammed for the dijet fit (:func:`histogram_window`)."""

    counts: np.ndarray  # events per bin of the window
    index: np.ndarray  # bin of each window event
    in_window: np.ndarray  # which events lie in the window
    n_window: int
    n_signal_region: int


class SidebandFit(NamedTuple):
    """Result of :func:`fit_dijet_sidebands`.

    ``params`` are ``(ln p0, p1, p2, p3)`` with their ``covariance``; ``expected`` the fitted
    events per bin (signal region included); ``background`` and ``background_error`` the
    signal-region prediction; ``deviance`` (Poisson), ``pearson_chi2``, ``ndf`` and
    ``log_pvalue`` (of the deviance) the goodness of fit; ``n_calls`` and ``attempts`` what
    MIGRAD needed.
    """

    params: np.ndarray
    covariance: np.ndarray
    expected: np.ndarray
    background: float
    background_error: float
    deviance: float
    pearson_chi2: float
    ndf: int
    log_pvalue: float
    n_calls: int
    attempts: int


def fit_dijet_sidebands(counts, x_edges, sr_bins, quadrature, what="the data") -> SidebandFit:
    """Binned Poisson fit of the 4-parameter dijet function to the sideband bins.

    The model of bin ``k`` is the integral of ``f(x) = p0 (1-x)^p1 / x^(p2 + p3 ln x)`` over
    the bin (Gauss-Legendre ``quadrature``); ``ln f`` is linear in ``(ln p0, p1, p2, p3)``, so
    the fit runs in the linear reparametrisation ``c = R theta`` (``R`` from the QR
    decomposition of the basis weighted by a least-squares start) in which the Fisher
    information is close to the identity, and MIGRAD/HESSE (iminuit) only polish it. The
    signal-region background is the fitted model summed over ``sr_bins``, its error
    propagated through the full covariance.

    Parameters
    ----------
    counts : ndarray of shape (n_bins,)
        Events per bin.
    x_edges : ndarray of shape (n_bins + 1,)
        Bin edges in ``x = m_jj / sqrt_s``.
    sr_bins : ndarray of bool, shape (n_bins,)
        Bins of the signal region (left out of the fit).
    quadrature : (nodes, weights)
        :func:`~nhtad.stats.dijet_function.bin_quadrature` of ``x_edges``.
    what : str
        What is fitted, for messages.

    Returns
    -------
    SidebandFit

    Raises
    ------
    ValueError
        If the sidebands hold too few events to fit four parameters.
    BackgroundFitError
        If MIGRAD does not converge from three starting points.
    """
    nodes, weights = quadrature
    sideband = ~sr_bins
    observed = counts[sideband].astype(np.float64)
    filled = sideband & (counts > 0)
    low_side = np.arange(sr_bins.size) < np.argmax(sr_bins)
    if (
        np.count_nonzero(filled) < _N_PARAMS + 1
        or not np.any(filled & low_side)
        or not np.any(filled & ~low_side)
    ):
        raise ValueError(
            f"too few sideband events in {what} to fit the {_N_PARAMS}-parameter dijet "
            f"function: {int(observed.sum())} events in {np.count_nonzero(filled)} non-empty "
            f"sideband bins (need >= {_N_PARAMS + 1} non-empty bins and events on both "
            f"sides of the signal region). Use more events, wider bins, a wider window, or a "
            f"looser cut (larger efficiency, or cut_strategy='scale_by_efficiency')."
        )
    basis = dijet_log_basis(nodes)  # (n_bins, n_nodes, 4)

    # Starting point: weighted least squares of ln(counts / width) at the bin centres, with
    # the Poisson weights of ln(counts); close enough that MIGRAD only polishes it.
    centres = 0.5 * (x_edges[:-1] + x_edges[1:])[filled]
    root_w = np.sqrt(counts[filled].astype(np.float64))
    design = dijet_log_basis(centres) * root_w[:, None]
    target = np.log(counts[filled] / np.diff(x_edges)[filled]) * root_w
    theta_start = linalg.lstsq(design, target)[0]

    # Reparametrise theta = R^{-1} c with R from the QR decomposition of the basis weighted
    # by the starting model: the Fisher information in c is then ~identity, which removes
    # the near-degeneracy of (p1, p2, p3) on a narrow window from MIGRAD's problem.
    sb_basis = basis[sideband]
    sb_weights = weights[sideband]
    start_density = np.exp(np.clip(sb_basis @ theta_start, -_LOG_F_BOUND, _LOG_F_BOUND))
    scaled = (np.sqrt(sb_weights * start_density)[..., None] * sb_basis).reshape(-1, _N_PARAMS)
    r = linalg.qr(scaled, mode="r")[0][:_N_PARAMS]
    # Psi = Phi R^{-1}: ln f = Psi c.
    psi = linalg.solve_triangular(r, basis.reshape(-1, _N_PARAMS).T, trans="T").T.reshape(
        basis.shape
    )
    psi_sb = psi[sideband]

    def model(c, psi_part, weights_part):
        log_f = np.clip(psi_part @ c, -_LOG_F_BOUND, _LOG_F_BOUND)
        return weights_part * np.exp(log_f)  # per-node contributions to the bin integral

    def nll(c):
        # Half the Poisson deviance: the Poisson NLL up to a constant, ~ndf/2 at the minimum,
        # so MIGRAD's EDM tolerance is meaningful however large the counts.
        expected = model(c, psi_sb, sb_weights).sum(axis=1)
        return float(special.kl_div(observed, expected).sum())

    def gradient(c):
        contrib = model(c, psi_sb, sb_weights)
        expected = contrib.sum(axis=1)
        return np.einsum("i,ik,ikj->j", 1.0 - observed / expected, contrib, psi_sb)

    flat = np.zeros(_N_PARAMS)
    flat[0] = math.log(max(observed.sum(), 1.0) / np.diff(x_edges)[sideband].sum())
    starts = [(r @ theta_start, 1), (None, 2), (r @ flat, 2)]
    minuit = None
    for attempt, (start, strategy) in enumerate(starts, start=1):
        if start is not None:
            minuit = Minuit(nll, start, grad=gradient)
            minuit.errordef = Minuit.LIKELIHOOD
            minuit.errors = np.ones(_N_PARAMS)
        minuit.strategy = strategy
        minuit.migrad()
        if minuit.valid:
            minuit.hesse()
        if minuit.valid and minuit.accurate:
            break
        logger.debug("sideband fit attempt %d invalid:\n%s", attempt, minuit.fmin)
    else:
        raise BackgroundFitError(
            f"the dijet fit to the sidebands of {what} did not converge after "
            f"{len(starts)} attempts (last MIGRAD state: valid={minuit.valid}, "
            f"accurate covariance={minuit.accurate}, edm={minuit.fmin.edm:.3g}); no "
            f"background prediction and no significance. Inspect the sideband spectrum "
            f"(np.histogram of mjj), use wider bins, a different window, or more events."
        )

    c_hat = np.array(minuit.values)
    cov_c = np.array(minuit.covariance)
    contrib = weights * np.exp(np.clip(psi @ c_hat, -_LOG_F_BOUND, _LOG_F_BOUND))
    expected = contrib.sum(axis=1)
    background = float(expected[sr_bins].sum())
    grad_b = np.einsum("ik,ikj->j", contrib[sr_bins], psi[sr_bins])
    background_error = math.sqrt(max(float(grad_b @ cov_c @ grad_b), 0.0))

    r_inv = linalg.solve_triangular(r, np.eye(_N_PARAMS))
    params = r_inv @ c_hat  # (ln p0, p1, p2, p3)
    covariance = r_inv @ cov_c @ r_inv.T

    deviance = 2.0 * minuit.fval
    fitted_sb = expected[sideband]
    ndf = int(observed.size - _N_PARAMS)
    return SidebandFit(
        params=params,
        covariance=covariance,
        expected=expected,
        background=background,
        background_error=background_error,
        deviance=deviance,
        pearson_chi2=float(((observed - fitted_sb) ** 2 / fitted_sb).sum()),
        ndf=ndf,
        log_pvalue=float(chi2_log_sf(deviance, ndf)),
        n_calls=int(minuit.nfcn),
        attempts=attempt,
    )


def real_number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}.")
    return float(value)


def real_pair(value, name: str) -> tuple[float, float]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) in GeV; got {value!r}.") from None
    low, high = real_number(low, f"{name}[0]"), real_number(high, f"{name}[1]")
    if not low < high:
        raise ValueError(f"{name} must be ordered as (low, high) with low < high; got {value!r}.")
    return low, high


def window_bins(window, signal_region, bin_width, sqrt_s):
    """Bin edges of the window and which bins form the signal region, checked.

    Parameters
    ----------
    window, signal_region : (float, float)
        In GeV; the signal region strictly inside the window, its edges on bin edges.
    bin_width, sqrt_s : float
        In GeV; the window must be a whole number of bins, and the sidebands hold at least
        ``N_PARAMS + 1`` bins so that the dijet function can be fitted.

    Returns
    -------
    edges : ndarray of shape (n_bins + 1,)
    sr_bins : ndarray of bool, shape (n_bins,)
    """
    given_sqrt_s, given_width = sqrt_s, bin_width
    sqrt_s = real_number(sqrt_s, "sqrt_s")
    if sqrt_s <= 0:
        raise ValueError(f"sqrt_s must be > 0 (GeV); got {given_sqrt_s!r}.")
    width = real_number(bin_width, "bin_width")
    if width <= 0:
        raise ValueError(f"bin_width must be > 0 (GeV); got {given_width!r}.")
    low, high = window
    if not 0 < low < high < sqrt_s:
        raise ValueError(
            f"the window must satisfy 0 < low < high < sqrt_s={sqrt_s:g} GeV; got {window!r}."
        )
    n_bins_float = (high - low) / width
    n_bins = round(n_bins_float)
    if n_bins < 1 or abs(n_bins_float - n_bins) > 1e-9 * max(n_bins, 1):
        raise ValueError(
            f"the window {window!r} is not a whole number of bins of width {width:g} "
            f"GeV ({n_bins_float:.4g} bins); choose bin_width dividing {high - low:g}."
        )
    sr_low, sr_high = signal_region
    if not low < sr_low < sr_high < high:
        raise ValueError(
            f"the signal region {signal_region!r} must lie strictly inside the window "
            f"{window!r}, leaving a sideband on each side."
        )
    positions = []
    for value in (sr_low, sr_high):
        k = (value - low) / width
        if abs(k - round(k)) > 1e-9 * max(abs(k), 1.0):
            below = low + math.floor(k) * width
            raise ValueError(
                f"signal-region edges must lie on bin edges window[0] + k * bin_width; "
                f"{value:g} does not (nearest edges {below:g} and {below + width:g}). Use "
                f"e.g. SignalRegion({low + round((sr_low - low) / width) * width:g}, "
                f"{low + round((sr_high - low) / width) * width:g}) or another bin_width."
            )
        positions.append(round(k))
    edges = low + width * np.arange(n_bins + 1, dtype=np.float64)
    edges[-1] = high
    sr_bins = np.zeros(n_bins, dtype=bool)
    sr_bins[positions[0] : positions[1]] = True
    n_sideband_bins = n_bins - int(sr_bins.sum())
    if n_sideband_bins < _N_PARAMS + 1:
        raise ValueError(
            f"the sidebands hold {n_sideband_bins} bins, but the {_N_PARAMS}-parameter "
            f"dijet fit needs at least {_N_PARAMS + 1}; use a smaller bin_width, a wider "
            f"window or a narrower signal region."
        )
    return edges, sr_bins


def histogram_window(mjj, edges, sr_bins) -> Binned:
    """Counts per bin of the events in the window ``[edges[0], edges[-1])``.

    Raises
    ------
    ValueError
        If the signal region holds no event (m_jj in the wrong units, or the wrong region).
    """
    n_bins = sr_bins.size
    in_window = (mjj >= edges[0]) & (mjj < edges[-1])
    n_window = int(np.count_nonzero(in_window))
    index = np.searchsorted(edges, mjj[in_window], side="right") - 1
    counts = np.bincount(index, minlength=n_bins)
    n_sr = int(counts[sr_bins].sum())
    if n_sr == 0:
        sr = np.flatnonzero(sr_bins)
        raise ValueError(
            f"the signal region ({edges[sr[0]]:g}, {edges[sr[-1] + 1]:g}) holds no events "
            f"({n_window} of {mjj.size} events lie in the window ({edges[0]:g}, {edges[-1]:g})); "
            "check that mjj is in GeV and that the signal region covers the mass range of the "
            "data."
        )
    return Binned(counts, index, in_window, n_window, n_sr)
