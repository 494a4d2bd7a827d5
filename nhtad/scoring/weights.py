"""Targets and per-event weights of the SA-CWoLa loss (Kamenik & Szewc, PLB 840 (2023), eq. 6).

Data events learn their region (signal region M1 -> 1, sidebands M2 -> 0). Simulated background
events get the *inverted* label (M1 -> 0, M2 -> 1) and the weight ``lam``, so that whatever the
classifier gains by learning background feature/m_jj correlations in data it loses on the
simulation. The four subsets (data/simulation x M1/M2) are reweighted to equal total weight,
as in the reference code, so the loss's optimum does not depend on the subset sizes.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_region_labels", "check_simulation_flags", "sacwola_targets_and_weights"]

_SUBSET_NAMES = (
    "data sidebands (y=0)",
    "data signal region (y=1)",
    "simulation sidebands (y=0)",
    "simulation signal region (y=1)",
)


def check_region_labels(y) -> np.ndarray:
    """Return the region label as an int8 array of 0 (sideband) and 1 (signal region).

    Raises
    ------
    ValueError
        If any label is not 0 or 1: the label is a region, not an arbitrary class.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one region label per event); got shape {y.shape}.")
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"y is the region label (1 = signal region M1, 0 = sidebands M2) and must be numeric "
            f"0/1; got dtype {y.dtype}. Build it with SignalRegion().labels(mjj)."
        )
    bad = (y != 0) & (y != 1)
    if bad.any():
        values = np.unique(y[bad])[:5].tolist()
        raise ValueError(
            f"y is the region label and must be 0 (sidebands) or 1 (signal region); got other "
            f"values {values}. Build it with SignalRegion().labels(mjj) after keeping only "
            f"events in the window."
        )
    return y.astype(np.int8)


def check_simulation_flags(is_simulation, n_events: int) -> np.ndarray:
    """Return ``is_simulation`` as a bool array of length ``n_events``."""
    flags = np.asarray(is_simulation)
    if flags.ndim != 1 or flags.shape[0] != n_events:
        raise ValueError(
            f"is_simulation must hold one flag per event ({n_events}); got shape {flags.shape}."
        )
    if flags.dtype.kind not in "biuf" or ((flags != 0) & (flags != 1)).any():
        raise ValueError(
            "is_simulation must be boolean (True for simulated background events, False for "
            "data events)."
        )
    return flags.astype(bool)


def sacwola_targets_and_weights(y, is_simulation=None, sample_weight=None, *, lam=1.0):
    """Targets and weights of the SA-CWoLa loss, eq. 6 of Kamenik & Szewc.

    ``L = sum_data w BCE(s, y) + lam * sum_sim w BCE(s, 1 - y)``, each of the four subsets
    (data/simulation x signal region/sidebands) scaled to the same total weight before ``lam``
    is applied; user ``sample_weight`` multiplies the events inside each subset. With
    ``is_simulation=None`` or ``lam=0`` this is plain CWoLa with balanced regions. Weights are
    normalised to mean 1 over the events that carry weight, so a mini-batch mean of
    ``w * BCE`` estimates the full loss at the optimiser's usual scale.

    Parameters
    ----------
    y : array-like of shape (n_events,)
        Region label: 1 = signal region (M1), 0 = sidebands (M2).
    is_simulation : array-like of bool of shape (n_events,), default=None
        True for simulated background events. Required when ``lam > 0``.
    sample_weight : array-like of shape (n_events,), default=None
        Non-negative per-event weights.
    lam : float, default=1.0
        Weight of the simulation term.

    Returns
    -------
    targets : ndarray of float32, shape (n_events,)
    weights : ndarray of float32, shape (n_events,)
        Zero for events that do not enter the loss (simulation when ``lam=0``).

    Raises
    ------
    ValueError
        On labels other than 0/1, a missing ``is_simulation`` when ``lam > 0``, negative or
        non-finite weights, or an empty subset.
    """
    if not isinstance(lam, numbers.Real) or isinstance(lam, bool) or not np.isfinite(lam):
        raise ValueError(f"lam must be a finite non-negative number; got {lam!r}.")
    if lam < 0:
        raise ValueError(
            f"lam must be >= 0; got {lam}. lam weighs the simulation term with inverted labels "
            f"(eq. 6); a negative value would reward learning the background correlations."
        )
    y = check_region_labels(y)
    n = y.shape[0]
    if is_simulation is None:
        if lam > 0:
            raise ValueError(
                f"lam={lam} needs the simulated background: pass fit(..., is_simulation=mask) "
                f"with True for simulation rows (with a Pipeline, enable metadata routing and "
                f"call set_fit_request(is_simulation=True)), or set lam=0 for plain CWoLa."
            )
        sim = np.zeros(n, dtype=bool)
    else:
        sim = check_simulation_flags(is_simulation, n)
    if sample_weight is None:
        user = np.ones(n)
    else:
        user = np.asarray(sample_weight, dtype=np.float64)
        if user.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},); got {user.shape}.")
        if not np.isfinite(user).all() or (user < 0).any():
            raise ValueError("sample_weight must be finite and non-negative.")

    subset = y + 2 * sim  # 0 data SB, 1 data SR, 2 sim SB, 3 sim SR
    totals = np.bincount(subset, weights=user, minlength=4)
    used = (0, 1, 2, 3) if (lam > 0) else (0, 1)
    for k in used:
        if totals[k] <= 0:
            raise ValueError(
                f"The {_SUBSET_NAMES[k]} subset is empty (or has zero total weight), so the "
                f"{'SA-' if k >= 2 else ''}CWoLa loss is undefined: only one class is present "
                f"there. Every training fold needs signal-region and sideband events"
                f"{' in data and in simulation' if lam > 0 else ''}; use a stratified split "
                f"(nhtad.scoring.out_of_fold_scores stratifies by subset) or a wider window."
            )
    scale = np.zeros(4)
    scale[list(used)] = 1.0 / totals[list(used)]
    scale[2:] *= lam
    weights = user * scale[subset]
    carried = weights > 0
    if not carried.any():
        raise ValueError("All sample weights are zero: nothing to train on.")
    weights /= weights[carried].mean()
    targets = np.where(sim, 1 - y, y)
    return targets.astype(np.float32), weights.astype(np.float32)
