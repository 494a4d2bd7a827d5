"""Write an event table as an LHC Olympics 2020 high-level feature file.

The inverse of :func:`~nhtad.datasets.load_lhco`: an event table holds only m_jj, the two jet
masses, their tau21 and the jets' distance dR, so one pair of jets with those values is built:
equal transverse momenta, pseudorapidities +-delta_eta/2, azimuths 0 and delta_phi with
``delta_phi = min(dR, pi)`` and ``delta_eta = sqrt(dR^2 - delta_phi^2)``, and the common pT
that gives the dijet mass m_jj. Reading the file back returns the same table to round-off. So
generated events (``nhtad generate events.h5``) go through every code path that the real files
take.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..utils.optional import import_optional
from .events import check_event_table
from .lhco import LHCO_FEATURE_COLUMNS

__all__ = ["write_lhco", "lhco_frame"]

#: tau1 of every written jet: only the ratio tau2/tau1 is in an event table.
_TAU1 = 0.5
#: tau3/tau2 of every written jet (unused by nhtad, present in the real files).
_TAU32 = 0.8
_BISECTIONS = 64  # halves the pT bracket to double-precision resolution


def _dijet_mass(pt, half_eta, delta_phi, m1, m2):
    # Jets (pT, +h, 0, m1) and (pT, -h, delta_phi, m2): E_i = sqrt(pT^2 cosh^2 h + m_i^2).
    p2 = (pt * np.cosh(half_eta)) ** 2
    dot = pt**2 * (np.cos(delta_phi) - np.sinh(half_eta) ** 2)
    e1e2 = np.sqrt((p2 + m1**2) * (p2 + m2**2))
    return np.sqrt(m1**2 + m2**2 + 2.0 * (e1e2 - dot))


def _common_pt(mjj, half_eta, delta_phi, m1, m2):
    """pT at which the jet pair has mass m_jj (the mass rises monotonically with pT)."""
    lo = np.zeros_like(mjj)
    hi = np.maximum(mjj, 1.0)
    # delta_phi >= 0 can be small when dR is; grow the bracket until it holds the root.
    for _ in range(60):
        short = _dijet_mass(hi, half_eta, delta_phi, m1, m2) < mjj
        if not short.any():
            break
        hi = np.where(short, 2.0 * hi, hi)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lo + hi)
        below = _dijet_mass(mid, half_eta, delta_phi, m1, m2) < mjj
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def lhco_frame(events, truth=None):
    """The LHCO feature DataFrame of an event table (columns of :data:`LHCO_FEATURE_COLUMNS`).

    Parameters
    ----------
    events : event table or Bunch
        Finite events with ``mjj > mj1 + mj2``, ``0 < tau21 <= 1 / 0.5`` and ``dR_jj > 0``.
    truth : array-like of shape (n_events,), optional
        Written as a float ``label`` column, as in the R&D file.

    Returns
    -------
    pandas.DataFrame
    """
    pd = import_optional("pandas", "lhco", "lhco_frame")
    table = check_event_table(events, "events")
    cols = {name: table[name] for name in table.dtype.names}
    finite = np.logical_and.reduce([np.isfinite(v) for v in cols.values()])
    if not finite.all():
        raise ValueError(
            f"{int((~finite).sum())} events have NaN or inf values; an LHCO file cannot hold "
            "them. Remove them first."
        )
    if np.any(cols["mjj"] <= cols["mj1"] + cols["mj2"]):
        raise ValueError("some events have mjj <= mj1 + mj2, which no pair of jets can have.")
    if np.any(cols["dR_jj"] <= 0) or np.any(cols["tau21_1"] <= 0) or np.any(cols["tau21_2"] <= 0):
        raise ValueError("dR_jj and tau21 must be > 0 to be written as jets.")
    delta_phi = np.minimum(cols["dR_jj"], np.pi)
    half_eta = 0.5 * np.sqrt(np.clip(cols["dR_jj"] ** 2 - delta_phi**2, 0.0, None))
    m1, m2 = cols["mj1"], cols["mj2"]
    pt = _common_pt(cols["mjj"], half_eta, delta_phi, m1, m2)
    pz = pt * np.sinh(half_eta)
    values = {
        "pxj1": pt,
        "pyj1": np.zeros_like(pt),
        "pzj1": pz,
        "mj1": m1,
        "pxj2": pt * np.cos(delta_phi),
        "pyj2": pt * np.sin(delta_phi),
        "pzj2": -pz,
        "mj2": m2,
    }
    for jet, tau21 in (("j1", cols["tau21_1"]), ("j2", cols["tau21_2"])):
        values[f"tau1{jet}"] = np.full_like(pt, _TAU1)
        values[f"tau2{jet}"] = _TAU1 * tau21
        values[f"tau3{jet}"] = _TAU32 * _TAU1 * tau21
    frame = pd.DataFrame({name: values[name] for name in LHCO_FEATURE_COLUMNS})
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64)
        if truth.shape != (len(table),):
            raise ValueError(f"truth has shape {truth.shape}; expected ({len(table)},).")
        frame["label"] = truth
    return frame


def write_lhco(path, events, truth=None, *, key="df"):
    """Write events (and truth) as an LHCO 2020 high-level feature file (pandas HDF5).

    Parameters
    ----------
    path : str or path-like
        Output ``.h5`` file; overwritten if it exists.
    events : event table or Bunch
    truth : array-like, optional
        The ``label`` column (1 signal, 0 background); with a Bunch, its ``truth`` is used when
        this is None.
    key : str, default="df"
        HDF5 key of the DataFrame.

    Returns
    -------
    pathlib.Path
    """
    import_optional("tables", "lhco", "write_lhco (writing HDF5 files)")
    if truth is None and hasattr(events, "truth"):
        truth = events.truth
    path = Path(path)
    lhco_frame(events, truth).to_hdf(path, key=key, mode="w", format="fixed")
    return path
