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

import logging
import shutil
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_path
from ..utils.optional import import_optional
from .events import check_event_table
from .lhco import LHCO_FEATURE_COLUMNS

__all__ = ["write_lhco", "lhco_frame"]

logger = logging.getLogger(__name__)

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
        Written as a float ``label`` column, as in the R&D file. Only 0 (background) and 1
        (signal) are accepted, the labels :func:`~nhtad.datasets.load_lhco` reads.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    ValueError
        If an event cannot be written as a pair of jets, or ``truth`` holds values other than
        0 and 1 or has the wrong length.
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
        frame["label"] = _labels(truth, len(table))
    return frame


def _labels(truth, n_events) -> np.ndarray:
    """``truth`` as the float 0/1 ``label`` column; any other value is refused.

    :func:`~nhtad.datasets.load_lhco` reads only 1 (signal) and 0 (background), as in the
    LHCO files, so a file written with another label could not be read back. No mapping is
    guessed here: whether a third class is signal or background is the caller's call.
    """
    try:
        values = np.asarray(truth, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"truth must be numeric labels, 1 for signal and 0 for background; got "
            f"{np.asarray(truth).dtype} values."
        ) from None
    if values.shape != (n_events,):
        raise ValueError(f"truth has shape {values.shape}; expected ({n_events},).")
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        where = np.flatnonzero(bad)
        raise ValueError(
            f"truth holds {where.size} values that are not 0 or 1 (first at events "
            f"{where[:10].tolist()}: {values[where[:10]].tolist()}); an LHCO file's label is "
            f"1 for signal and 0 for background, and load_lhco rejects anything else. Map the "
            f"labels to 0/1 first, e.g. truth=(truth != 0) if every nonzero class is signal."
        )
    return values


def write_lhco(path, events, truth=None, *, key="df", overwrite=False):
    """Write events (and truth) as an LHCO 2020 high-level feature file (pandas HDF5).

    The file is written to a temporary file in the same folder and renamed onto ``path`` only
    when complete, so an interrupted write leaves ``path`` as it was and no fragment behind.

    Parameters
    ----------
    path : str or path-like
        Output ``.h5`` file. Its folder must exist.
    events : event table or Bunch
    truth : array-like, optional
        The ``label`` column: 1 signal, 0 background; other values are refused (map them to
        0/1 first). With a Bunch, its ``truth`` is used when this is None.
    key : str, default="df"
        HDF5 key of the DataFrame.
    overwrite : bool, default=False
        Write into an existing ``path``: the DataFrame at ``key`` is replaced (or added) and
        every other key of the file is kept. Without it an existing file is refused.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    ValueError
        If the events or truth cannot be written (see :func:`lhco_frame`), ``key`` is not a
        non-empty string, or ``path`` exists but is not a readable HDF5 file (it is then left
        untouched: remove it or choose another name).

    Notes
    -----
    Replacing a key of an existing file may leave part of the old DataFrame's space unused in
    the file (HDF5 reuses freed space but does not always return it); ``ptrepack`` compacts a
    file rewritten many times.
    """
    pd = import_optional("pandas", "lhco", "write_lhco")
    import_optional("tables", "lhco", "write_lhco (writing HDF5 files)")
    if not isinstance(key, str) or not key.strip("/"):
        raise ValueError(f"key must be a non-empty string such as 'df'; got {key!r}.")
    if truth is None and hasattr(events, "truth"):
        truth = events.truth
    path = Path(path)
    # Checked first, so that a refused call costs nothing (the frame of 1e6 events takes
    # seconds) and the message names the keyword of this function.
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists; pass overwrite=True to write key {key!r} into it (its other keys "
            f"are kept, and the old file stays until the new one is complete), or choose "
            f"another file name."
        )
    frame = lhco_frame(events, truth)
    with atomic_path(path, overwrite=overwrite) as tmp:
        if path.exists():
            # Work on a copy, so the other keys survive and the original stays whole until the
            # rename.
            shutil.copyfile(path, tmp)
            mode = "a"
        else:
            mode = "w"
        try:
            store = pd.HDFStore(tmp, mode=mode)
        except MemoryError:
            raise
        except Exception as exc:  # PyTables raises several types for a file it cannot open
            raise ValueError(
                f"{path} exists but is not a readable HDF5 file ({type(exc).__name__}), so "
                f"key {key!r} cannot be written into it with its other keys kept. It was left "
                f"untouched; remove it or choose another file name."
            ) from None
        with store:
            store.put(key, frame, format="fixed", track_times=False)
    logger.info("Wrote %d events to key %r of %s.", len(frame), key, path)
    return path
