"""The event-table columns of the LHCO high-level features, and the events they leave undefined.

Jet by jet with ``E = sqrt(px^2 + py^2 + pz^2 + m^2)``: ``mjj`` the invariant mass of the two
jets' four-momenta, the jet masses and ``tau21 = tau2 / tau1`` ordered by mass, and
``dR_jj = sqrt(delta_eta^2 + delta_phi^2)`` with ``eta = arcsinh(pz / pT)``. An event is invalid
where an input is not finite, a jet mass is negative, ``tau1 = 0`` or a jet has no transverse
momentum (:func:`invalid_reasons`).
"""

from __future__ import annotations

import numpy as np

from ._lhco_files import LHCO_FEATURE_COLUMNS, N_SHOWN

__all__ = ["event_columns", "invalid_reasons", "describe_invalid"]


def event_columns(jets: dict) -> dict:
    """The columns of :data:`~nhtad.datasets.events.EVENT_COLUMNS` from the jets' features."""
    p1 = (jets["pxj1"], jets["pyj1"], jets["pzj1"])
    p2 = (jets["pxj2"], jets["pyj2"], jets["pzj2"])
    m1, m2 = jets["mj1"], jets["mj2"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tau21_j1 = jets["tau2j1"] / jets["tau1j1"]
        tau21_j2 = jets["tau2j2"] / jets["tau1j2"]
        mjj = _dijet_mass(p1, m1, p2, m2)
        dr = _delta_r(p1, p2)
    swap = m2 > m1  # on a tie (or NaN) the file's jet 1 stays first
    return {
        "mjj": mjj,
        "mj1": np.where(swap, m2, m1),
        "mj2": np.where(swap, m1, m2),
        "tau21_1": np.where(swap, tau21_j2, tau21_j1),
        "tau21_2": np.where(swap, tau21_j1, tau21_j2),
        "dR_jj": dr,
    }


def _energy(p, m) -> np.ndarray:
    px, py, pz = p
    return np.sqrt(np.clip(px**2 + py**2 + pz**2 + m**2, 0.0, None))


def _dijet_mass(p1, m1, p2, m2) -> np.ndarray:
    e = _energy(p1, m1) + _energy(p2, m2)
    px, py, pz = (a + b for a, b in zip(p1, p2, strict=True))
    # E^2 - p^2 can come out slightly negative by round-off for nearly massless systems.
    return np.sqrt(np.clip(e**2 - px**2 - py**2 - pz**2, 0.0, None))


def _eta_phi(p):
    px, py, pz = p
    return np.arcsinh(pz / np.hypot(px, py)), np.arctan2(py, px)


def _delta_r(p1, p2) -> np.ndarray:
    eta1, phi1 = _eta_phi(p1)
    eta2, phi2 = _eta_phi(p2)
    dphi = np.remainder(phi1 - phi2 + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def invalid_reasons(jets: dict, columns: dict) -> dict:
    """Boolean masks of invalid events, one per reason (reasons may overlap)."""
    inputs = np.column_stack([jets[name] for name in LHCO_FEATURE_COLUMNS])
    outputs = np.column_stack(list(columns.values()))
    pt1 = np.hypot(jets["pxj1"], jets["pyj1"])
    pt2 = np.hypot(jets["pxj2"], jets["pyj2"])
    reasons = {
        "a NaN or inf input": ~np.isfinite(inputs).all(axis=1),
        "a negative jet mass": (jets["mj1"] < 0) | (jets["mj2"] < 0),
        "tau1 == 0 (tau21 undefined)": (jets["tau1j1"] == 0) | (jets["tau1j2"] == 0),
        "a jet with zero pT (eta undefined)": (pt1 == 0) | (pt2 == 0),
    }
    explained = np.logical_or.reduce(list(reasons.values()))
    reasons["a derived column overflowing to inf"] = ~np.isfinite(outputs).all(axis=1) & ~explained
    return reasons


def describe_invalid(reasons: dict, bad: np.ndarray, row_index: np.ndarray, path) -> str:
    counts = ", ".join(
        f"{int(mask.sum())} with {reason}" for reason, mask in reasons.items() if mask.any()
    )
    return (
        f"{int(bad.sum())} of {bad.size} events read from {path} are invalid ({counts}); "
        f"first row indices {row_index[bad][:N_SHOWN].tolist()}."
    )
