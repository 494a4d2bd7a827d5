"""The degree of the smooth trend, chosen from tables that carry no signal.

The null of :class:`~nhtad.stats.SmoothTrendIndependenceTest` is honest when the background's
m_jj dependence lies inside the trend model, and useful when the model cannot absorb a
resonance. ``degree="auto"`` therefore takes the smallest degree that the signal-free tables
accept: the data's sideband columns and, when given, the simulation's whole table passed
through the same score. A degree stands when neither one more degree (the likelihood ratio
``K -> K+1``, the Fisher-test practice of choosing a dijet function's number of parameters) nor
a signal-region term in the simulation improves their fits significantly. The simulation's
signal-region term at the chosen degree is the "spurious signal" of resonance searches (ATLAS,
Phys. Rev. D 90 (2014) 112015, Sec. 6).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..utils.validation import check_open_unit_interval
from ._trend_model import fit_trend_model, trend_design
from .pvalues import chi2_log_sf, log_pvalue_to_significance

__all__ = [
    "check_degree_settings",
    "degree_sources",
    "select_degree",
    "signal_free_check",
    "spurious_signal",
]

_DEGREE_FROM = ("auto", "simulation", "sidebands", "both")


def _check_degree(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    return int(value)


def check_degree_settings(
    degree, min_degree, max_degree, selection_alpha, degree_from, *, have_region
) -> None:
    """Validate the degree settings of the smooth-trend test (its parameters of these names).

    ``have_region``: whether ``y_bins`` is a SignalRegion, whose sidebands
    ``degree_from="sidebands"`` and ``"both"`` need.
    """
    if not isinstance(degree, str):
        _check_degree(degree, "degree")
        return
    if degree != "auto":
        raise ValueError(f"degree must be 'auto' or an integer >= 0; got {degree!r}.")
    low = _check_degree(min_degree, "min_degree")
    high = _check_degree(max_degree, "max_degree")
    if low > high:
        raise ValueError(f"min_degree ({low}) must not exceed max_degree ({high}).")
    check_open_unit_interval(selection_alpha, "selection_alpha")
    if degree_from not in _DEGREE_FROM:
        raise ValueError(f"degree_from must be one of {_DEGREE_FROM}; got {degree_from!r}.")
    if degree_from in ("sidebands", "both") and not have_region:
        raise ValueError(
            f"degree_from={degree_from!r} needs the sidebands: pass y_bins=SignalRegion(...)."
        )


def signal_free_check(table, u, degree, in_sr=None, *, higher=True):
    """The degree-K trend model on a signal-free table: is a higher degree or an SR term needed?

    Score bins that the table leaves empty (a simulation that never reaches the data's top
    score bin) carry no information on the trend and are left out.

    Parameters
    ----------
    table : ndarray of shape (d_s, d_y)
        A signal-free table (the data's sideband columns, or the simulation's table).
    u : ndarray of shape (d_y,)
        Positions of its y bins in [-1, 1].
    degree : int
    in_sr : ndarray of bool of shape (d_y,), optional
        The signal-region bins; adds the test of a signal-region term (the spurious signal).
    higher : bool, default=True
        Also test one more degree (``K -> K+1``, chi^2 with ``d_s - 1`` dof).

    Returns
    -------
    dict or None
        ``gof_pvalue`` (goodness of fit of the degree-K model, a diagnostic), ``rows`` (the
        score bins kept) and, where tested, ``higher_degree_pvalue`` and the
        ``signal_region_*`` p-value, log p-value, statistic and fit. None when too few bins
        remain for a test.
    """
    rows = np.flatnonzero(table.sum(axis=1) > 0)
    sub = table[rows]
    d_s, d_y = sub.shape
    if d_s < 2 or d_y - 1 - degree < 1:
        return None
    fit = fit_trend_model(sub, trend_design(u, degree))
    out = {
        "gof_pvalue": float(np.exp(chi2_log_sf(fit.g2, (d_s - 1) * (d_y - 1 - degree)))),
        "rows": rows,
    }
    if higher and d_y - 2 - degree >= 1:
        up = fit_trend_model(sub, trend_design(u, degree + 1))
        out["higher_degree_pvalue"] = float(np.exp(chi2_log_sf(max(fit.g2 - up.g2, 0.0), d_s - 1)))
    if in_sr is not None and in_sr.any() and (~in_sr).sum() > degree + 1:
        sr_fit = fit_trend_model(sub, trend_design(u, degree, in_sr))
        lr = max(fit.g2 - sr_fit.g2, 0.0)
        sr_log_p = chi2_log_sf(lr, d_s - 1)
        out.update(
            signal_region_pvalue=float(np.exp(sr_log_p)),
            signal_region_log_pvalue=sr_log_p,
            signal_region_statistic=lr,
            signal_region_fit=sr_fit,
        )
    return out


def degree_sources(degree_from, have_region, have_simulation) -> tuple[str, ...]:
    """Which signal-free tables choose the degree: ``"sidebands"`` and/or ``"simulation"``.

    ``degree_from="auto"`` takes the simulation when there is one, else the sidebands; a source
    that is asked for but not given is an error.
    """
    wanted = degree_from
    if wanted == "auto":
        wanted = "simulation" if have_simulation else "sidebands"
    sources = ("sidebands", "simulation") if wanted == "both" else (wanted,)
    if "simulation" in sources and not have_simulation:
        raise ValueError(
            f"degree='auto' with degree_from={degree_from!r} needs the simulation: "
            "pass fit(..., s_simulation=, y_simulation=), or give an integer degree."
        )
    if "sidebands" in sources and not have_region:
        raise ValueError(
            "degree='auto' chooses the degree from signal-free tables: pass y_bins="
            "SignalRegion(...) (its sidebands) and/or fit(..., s_simulation=, y_simulation=), "
            "or give an integer degree."
        )
    return sources


def select_degree(
    table, u, sideband_sr, sim_table, sim_u, sim_sr, *, min_degree, max_degree, alpha
):
    """The smallest degree in ``[min_degree, max_degree]`` the signal-free tables accept.

    Parameters
    ----------
    table, u : ndarray
        The data's table and its y positions.
    sideband_sr : ndarray of bool or None
        The data's signal-region bins, to test its sideband columns; None leaves them out.
    sim_table, sim_u : ndarray or None
        The simulation's table and its y positions; None leaves it out.
    sim_sr : ndarray of bool or None
        The signal-region bins for the simulation's spurious-signal check (None: no check).
    min_degree, max_degree : int
    alpha : float
        Level at which a degree is rejected.

    Returns
    -------
    degree : int
        ``max_degree``, with a warning, when no degree is accepted.
    selection : list of dict
        Per degree tried: the p-values of the checks on each table and whether it was accepted.
    """
    selection = []
    for degree in range(min_degree, max_degree + 1):
        higher = degree < max_degree
        sources = []
        if sideband_sr is not None:
            side = ~sideband_sr
            sources.append(
                ("sideband", signal_free_check(table[:, side], u[side], degree, higher=higher))
            )
        if sim_table is not None:
            sources.append(
                ("simulation", signal_free_check(sim_table, sim_u, degree, sim_sr, higher=higher))
            )
        row = {"degree": degree}
        deciding = []
        for name, checked in sources:
            if checked is None:
                continue
            row[f"{name}_gof_pvalue"] = checked["gof_pvalue"]
            for key in ("higher_degree_pvalue", "signal_region_pvalue"):
                if key in checked:
                    row[f"{name}_{key}"] = checked[key]
                    deciding.append(checked[key])
        # A degree stands when neither one more degree nor a signal-region term improves the
        # signal-free fits significantly; the global goodness of fit is reported only, as its
        # failures (noise, a binning effect) do not depend on the degree.
        row["accepted"] = min(deciding, default=1.0) >= alpha
        selection.append(row)
        if row["accepted"]:
            return degree, selection
    warnings.warn(
        f"no trend degree in [{min_degree}, {max_degree}] describes the signal-free tables at "
        f"level {alpha:g}: the simulation shows a signal-region term (a spurious signal) "
        f"even at degree {max_degree} ({selection[-1]}). The background's m_jj dependence may "
        "lie outside the model: narrow the window, or check the score and the simulation.",
        UserWarning,
        stacklevel=4,
    )
    return max_degree, selection


def spurious_signal(sim_table, sim_u, degree, in_sr):
    """The simulation's signal-region term at the chosen degree, or None where it is not tested.

    Returns
    -------
    dict or None
        ``coefficients`` and ``errors`` per score bin (NaN for bins the simulation leaves
        empty; bin 0 is the reference), the likelihood-ratio ``statistic`` and its
        ``significance`` Z.
    """
    checked = signal_free_check(sim_table, sim_u, degree, in_sr)
    if checked is None or "signal_region_fit" not in checked:
        return None
    rows = checked["rows"]
    coefficients = np.full(sim_table.shape[0], np.nan)
    errors = np.full(sim_table.shape[0], np.nan)
    coefficients[rows], errors[rows] = checked["signal_region_fit"].last_term()
    return {
        "coefficients": coefficients,
        "errors": errors,
        "statistic": checked["signal_region_statistic"],
        "significance": log_pvalue_to_significance(checked["signal_region_log_pvalue"]),
    }
