"""Reader of the LHC Olympics 2020 high-level feature files.

The LHC Olympics 2020 anomaly-detection challenge distributes, next to the particle-level files,
pandas HDF5 files of high-level jet features (``events_anomalydetection_v2.features.h5`` for the
R&D sample, ``events_LHCO2020_BlackBox1.features.h5`` etc. for the Black Boxes). Each row is one
event with the momentum, mass and N-subjettiness of its two leading large-radius jets::

    pxj1 pyj1 pzj1 mj1 tau1j1 tau2j1 tau3j1 pxj2 pyj2 pzj2 mj2 tau1j2 tau2j2 tau3j2 [label]

in GeV; the jets are *not* ordered by mass. :func:`load_lhco` turns such a file into the event
table of :mod:`nhtad.datasets.events`, with the jets mass ordered. The truth of the R&D sample is
its ``label`` column; the truth of a Black Box is a separate "masterkey" text file with one label
per line.
"""

from __future__ import annotations

import logging
import numbers
import os
import warnings
from pathlib import Path

import numpy as np

from ..utils.optional import import_optional
from .events import events_bunch, make_event_table

__all__ = ["load_lhco", "LHCO_FEATURE_COLUMNS"]

logger = logging.getLogger(__name__)

#: Columns of an LHCO 2020 high-level feature file (besides the optional ``label``).
LHCO_FEATURE_COLUMNS = (
    "pxj1", "pyj1", "pzj1", "mj1", "tau1j1", "tau2j1", "tau3j1",
    "pxj2", "pyj2", "pzj2", "mj2", "tau1j2", "tau2j2", "tau3j2",
)  # fmt: skip
_LABEL_COLUMN = "label"
_INVALID_MODES = ("warn", "raise", "keep")
# The particle-level files hold 700 hadrons x (pT, eta, phi), plus a label column for R&D.
_PARTICLE_LEVEL_N_COLUMNS = (2100, 2101)
_FEATURES_FILE_HINT = (
    "nhtad reads the high-level *features* file of the LHC Olympics 2020, e.g. "
    "events_anomalydetection_v2.features.h5 (R&D) or events_LHCO2020_BlackBox1.features.h5 "
    "(Black Box 1)"
)
_N_SHOWN = 10  # how many row indices or line numbers an error message lists


def load_lhco(
    path,
    *,
    masterkey=None,
    key=None,
    start=None,
    stop=None,
    invalid="warn",
    as_frame=False,
):
    """Load an LHC Olympics 2020 high-level feature file as an nhtad event table.

    Parameters
    ----------
    path : str or path-like
        A pandas HDF5 feature file, e.g. ``events_anomalydetection_v2.features.h5`` or
        ``events_LHCO2020_BlackBox1.features.h5``.
    masterkey : str or path-like, optional
        The Black Box truth file (e.g. ``events_LHCO2020_BlackBox1.masterkey``): one label per
        line (1 signal, 0 background; ``1.0`` is accepted), line *i* being row *i* of the whole
        feature file. It must have exactly as many labels as the file has rows; with
        ``start``/``stop`` it is sliced like the file. If the file also has a ``label`` column,
        the two must agree.
    key : str, optional
        HDF5 key of the DataFrame; needed only when the file holds more than one.
    start, stop : int, optional
        Read only rows ``start:stop`` of the file, with Python slice semantics (negative values
        count from the end). Works for both ``format="fixed"`` and ``format="table"`` files.
    invalid : {"warn", "raise", "keep"}, default="warn"
        What to do with invalid events: a NaN or inf input, a negative jet mass (no physical
        jet has one; the mass ordering and m_jj would be meaningless), ``tau1 == 0`` for either
        jet (tau21 undefined), zero transverse momentum for either jet (pseudorapidity
        undefined), or a derived column that is not finite. ``"warn"`` drops them with a
        :class:`UserWarning` and returns their row indices in ``dropped_index``; ``"raise"``
        raises a :class:`ValueError`; ``"keep"`` keeps them, with NaN, inf or negative values in
        the affected columns.
    as_frame : bool, default=False
        Return ``events`` as a :class:`pandas.DataFrame` instead of a structured array.

    Returns
    -------
    sklearn.utils.Bunch
        ``events`` (structured array of dtype :data:`~nhtad.datasets.EVENT_DTYPE`, or a
        DataFrame), ``truth`` (int8 array, or ``None`` when neither a ``label`` column nor a
        masterkey is available), ``feature_names``, ``source`` (the path as a string),
        ``n_events`` (number of events returned) and ``dropped_index`` (int64 array of the
        row positions in the file of the events dropped as invalid; empty if none). Rows keep
        the order of the file.

    Raises
    ------
    ImportError
        If pandas or PyTables is missing (install ``nhtad[lhco]``).
    FileNotFoundError
        If ``path`` or ``masterkey`` does not exist.
    ValueError
        If the file is not an LHCO feature file (columns missing, e.g. the particle-level file),
        is empty, damaged or truncated (the message names the file and the cause), the selection
        is empty, the masterkey is malformed or does not match the file, or ``invalid="raise"``
        and there are invalid events.

    Notes
    -----
    The columns are computed as follows, jet by jet with ``E = sqrt(px^2 + py^2 + pz^2 + m^2)``:

    - ``mjj``: invariant mass of the sum of the two jets' four-momenta;
    - ``mj1``/``mj2``: the heavier/lighter jet mass (on a tie the file's jet 1 comes first);
    - ``tau21_1``/``tau21_2``: ``tau2 / tau1`` of the heavier/lighter jet;
    - ``dR_jj``: ``sqrt(delta_eta^2 + delta_phi^2)`` with ``eta = arcsinh(pz / pT)``,
      ``phi = arctan2(py, px)`` and ``delta_phi`` wrapped into ``[-pi, pi]``.

    Examples
    --------
    >>> data = load_lhco("events_anomalydetection_v2.features.h5")  # doctest: +SKIP
    >>> bb1 = load_lhco(
    ...     "events_LHCO2020_BlackBox1.features.h5",
    ...     masterkey="events_LHCO2020_BlackBox1.masterkey",
    ... )  # doctest: +SKIP
    """
    _check_invalid_mode(invalid)
    pd = import_optional("pandas", "lhco", "load_lhco")
    tables = import_optional("tables", "lhco", "load_lhco (reading HDF5 files)")
    path = _existing_file(path, "LHCO feature file")
    if path.stat().st_size == 0:
        raise ValueError(
            f"{path} is empty (0 bytes): an interrupted download or write? Download or write "
            f"it again. {_FEATURES_FILE_HINT}."
        )
    if not _guarded(path, tables.is_hdf5_file, os.fspath(path)):
        raise ValueError(f"{path} is not an HDF5 file. {_FEATURES_FILE_HINT}.")

    frame, first_row, n_file_rows = _read_rows(pd, path, key, start, stop)
    n_rows = len(frame)
    row_index = np.arange(first_row, first_row + n_rows, dtype=np.int64)
    truth = _truth(pd, frame, masterkey, path, first_row, n_file_rows)
    jets = _jet_arrays(frame, path)
    columns = _event_columns(jets)

    reasons = _invalid_reasons(jets, columns)
    bad = np.logical_or.reduce(list(reasons.values()))
    dropped_index = np.empty(0, dtype=np.int64)
    if bad.any():
        summary = _describe_invalid(reasons, bad, row_index, path)
        if invalid == "raise":
            raise ValueError(
                f"{summary} Pass invalid='warn' to drop them with a warning (their row indices "
                f"are then returned in dropped_index) or invalid='keep' to keep them as they are "
                f"(NaN, inf or negative values in the affected columns)."
            )
        if invalid == "warn":
            if bad.all():
                raise ValueError(
                    f"{summary} No valid event is left. Check that {path} is an LHCO feature "
                    f"file, or pass invalid='keep' to inspect the events."
                )
            warnings.warn(
                f"{summary} They were dropped; their row indices in the file are in the "
                f"returned Bunch's dropped_index. Pass invalid='keep' to keep them or "
                f"invalid='raise' to stop on them.",
                UserWarning,
                stacklevel=2,
            )
            keep = ~bad
            dropped_index = row_index[bad]
            columns = {name: values[keep] for name, values in columns.items()}
            truth = None if truth is None else truth[keep]
        else:
            logger.info("%s Kept them (invalid='keep').", summary)

    events = make_event_table(**columns)
    logger.info(
        "Read %d events from rows %d:%d of %s (%d dropped as invalid, truth %s).",
        len(events),
        first_row,
        first_row + n_rows,
        path,
        len(dropped_index),
        "available" if truth is not None else "not available",
    )
    return events_bunch(
        events,
        truth,
        as_frame=as_frame,
        source=str(path),
        n_events=len(events),
        dropped_index=dropped_index,
    )


# --------------------------------------------------------------------------- arguments


def _check_invalid_mode(invalid) -> None:
    if not isinstance(invalid, str) or invalid not in _INVALID_MODES:
        raise ValueError(
            f"invalid must be one of {', '.join(map(repr, _INVALID_MODES))}; got {invalid!r}. "
            f"'warn' drops invalid events with a warning, 'raise' stops on them, 'keep' keeps "
            f"them with NaN or inf values."
        )


def _check_row_bound(value, name: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer row number or None; got {value!r}. Pass e.g. {name}=100000."
        )
    return int(value)


def _existing_file(path, what: str) -> Path:
    try:
        path = Path(path)
    except TypeError:
        raise ValueError(
            f"the {what} must be given as a path (str or os.PathLike); got {path!r}."
        ) from None
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}. Check the path.")
    return path


# --------------------------------------------------------------------------- HDF5 file


def _read_rows(pd, path: Path, key, start, stop):
    """Read rows ``start:stop`` of the DataFrame in ``path``.

    Returns the DataFrame, the position in the file of its first row, and the file's row count.
    """
    start = _check_row_bound(start, "start")
    stop = _check_row_bound(stop, "stop")
    with _guarded(path, pd.HDFStore, path, mode="r") as store:
        key = _resolve_key(_guarded(path, store.keys), key, path)
        head = _guarded(path, store.select, key, start=0, stop=0)
        if not isinstance(head, pd.DataFrame):
            raise ValueError(
                f"key {key!r} of {path} holds a {type(head).__name__}, not a DataFrame. "
                f"{_FEATURES_FILE_HINT}."
            )
        _check_columns(pd, head, path)
        n_file_rows = _guarded(path, _count_rows, store, key)
        first, last, _ = slice(start, stop).indices(n_file_rows)
        if last <= first:
            raise ValueError(
                f"start={start}, stop={stop} select no events: {path} has {n_file_rows} rows. "
                f"Choose start < stop (Python slice semantics), or leave both as None to read "
                f"the whole file."
            )
        frame = _guarded(path, store.select, key, start=first, stop=last)
    if len(frame) != last - first:
        if len(frame) != n_file_rows:
            raise ValueError(
                f"reading rows {first}:{last} of {path} returned {len(frame)} rows instead of "
                f"{last - first}. The file may be corrupt; read it with pandas.read_hdf to check."
            )
        # This storage format ignored start/stop: slice the full frame instead.
        frame = frame.iloc[first:last]
    return frame, first, n_file_rows


def _guarded(path: Path, func, *args, **kwargs):
    """``func(*args, **kwargs)``, with a failure inside PyTables/pandas reported as a damaged file.

    A truncated or damaged file makes PyTables and pandas raise many types (HDF5ExtError with
    an HDF5 back trace, TypeError, KeyError, AttributeError, ...) from deep inside; the user
    needs to know which file and what to do, so all of them become one ValueError. Only
    library calls are guarded, never nhtad's own checks.
    """
    try:
        return func(*args, **kwargs)
    except (MemoryError, PermissionError):
        raise
    except Exception as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        end = "End of HDF5 error back trace"
        # The last line of an HDF5 back trace is its cause ("truncated file: eof = ...").
        cause = lines[lines.index(end) - 1] if end in lines[1:] else (lines or [""])[-1]
        detail = f"{type(exc).__name__}: {cause[:200]}" if cause else type(exc).__name__
        raise ValueError(
            f"{path} could not be read ({detail}): it is damaged, incomplete (e.g. an "
            f"interrupted download or write) or not a pandas HDF5 file. Download or write it "
            f"again. {_FEATURES_FILE_HINT}."
        ) from None


def _resolve_key(keys, key, path: Path) -> str:
    if key is None:
        if len(keys) == 1:
            return keys[0]
        if not keys:
            raise ValueError(f"{path} holds no pandas DataFrame. {_FEATURES_FILE_HINT}.")
        raise ValueError(
            f"{path} holds several datasets {keys}; pass key= to say which one to read."
        )
    if "/" + str(key).lstrip("/") not in keys:
        raise ValueError(f"{path} has no key {key!r}; its keys are {keys}. Pass one of these.")
    return key


def _count_rows(store, key: str) -> int:
    storer = store.get_storer(key)
    if storer.is_table:
        return int(storer.nrows)
    shape = storer.shape
    if shape:
        return int(shape[0])
    return len(store.select(key))  # unknown layout: read it to count


def _check_columns(pd, head, path: Path) -> None:
    missing = [name for name in LHCO_FEATURE_COLUMNS if name not in head.columns]
    if not missing:
        return
    message = f"{path} lacks the LHCO feature columns {missing}."
    n_columns = head.shape[1]
    looks_particle_level = n_columns in _PARTICLE_LEVEL_N_COLUMNS and all(
        pd.api.types.is_numeric_dtype(dtype) for dtype in head.dtypes
    )
    if looks_particle_level:
        message += (
            f" It has {n_columns} numeric columns, like the particle-level file "
            f"events_anomalydetection_v2.h5 (700 hadrons x (pT, eta, phi)). "
            f"{_FEATURES_FILE_HINT}; download that file instead."
        )
    else:
        message += f" {_FEATURES_FILE_HINT}, with columns {list(LHCO_FEATURE_COLUMNS)}."
    raise ValueError(message)


def _jet_arrays(frame, path: Path) -> dict:
    jets = {}
    for name in LHCO_FEATURE_COLUMNS:
        try:
            jets[name] = frame[name].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"column {name!r} of {path} is not numeric ({frame[name].dtype}): {exc}. "
                f"{_FEATURES_FILE_HINT}."
            ) from None
    return jets


# --------------------------------------------------------------------------- truth


def _truth(pd, frame, masterkey, path: Path, first_row: int, n_file_rows: int):
    """Truth labels of the rows read, from the ``label`` column and/or the masterkey."""
    label = None
    if _LABEL_COLUMN in frame.columns:
        what = f"column {_LABEL_COLUMN!r} of {path}"
        values = pd.to_numeric(frame[_LABEL_COLUMN], errors="coerce").to_numpy(np.float64)
        label = _as_labels(values, what, first_row, "row", text=frame[_LABEL_COLUMN].to_numpy())
    if masterkey is None:
        return label
    keys = _read_masterkey(pd, masterkey)
    if len(keys) != n_file_rows:
        raise ValueError(
            f"the masterkey {masterkey} has {len(keys)} labels but {path} has {n_file_rows} "
            f"rows; line i of the masterkey is the truth of row i, so they must match. Check "
            f"that the masterkey belongs to this file (e.g. events_LHCO2020_BlackBox1.masterkey "
            f"for events_LHCO2020_BlackBox1.features.h5)."
        )
    truth = keys[first_row : first_row + len(frame)]
    if label is not None and not np.array_equal(truth, label):
        disagree = np.flatnonzero(truth != label) + first_row
        raise ValueError(
            f"the masterkey {masterkey} and the {_LABEL_COLUMN!r} column of {path} disagree on "
            f"{disagree.size} events (first rows {disagree[:_N_SHOWN].tolist()}). Pass "
            f"masterkey=None to use the file's column, or check that they belong together."
        )
    return truth


def _read_masterkey(pd, masterkey) -> np.ndarray:
    """Read a masterkey file: one 0/1 label per line, trailing blank lines allowed."""
    path = _existing_file(masterkey, "masterkey")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ValueError(
            f"the masterkey {path} is not a text file; it must hold one label (0 or 1) per "
            f"line. Check that this is the masterkey, or download it again."
        ) from None
    lines = np.array(text.splitlines(), dtype=str)
    lines = np.char.strip(lines)
    filled = np.flatnonzero(lines != "")
    if filled.size == 0:
        raise ValueError(
            f"the masterkey {path} is empty. It must hold one label (0 or 1) per event."
        )
    lines = lines[: filled[-1] + 1]  # tolerate blank lines at the end only
    blank = np.flatnonzero(lines == "")
    if blank.size:
        raise ValueError(
            f"the masterkey {path} has {blank.size} blank lines before its last label (lines "
            f"{(blank[:_N_SHOWN] + 1).tolist()}); every line must be the label of one event, "
            f"so a blank line would shift the labels. Fix the file."
        )
    # Anything that is not a number becomes NaN and is reported by _as_labels.
    values = pd.to_numeric(lines, errors="coerce").astype(np.float64)
    return _as_labels(values, f"the masterkey {path}", 1, "line", text=lines)


def _as_labels(values: np.ndarray, what: str, offset: int, unit: str, text=None) -> np.ndarray:
    """Check that ``values`` are all 0 or 1 and return them as int8."""
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        where = np.flatnonzero(bad)[:_N_SHOWN]
        shown = (text if text is not None else values)[where].tolist()
        raise ValueError(
            f"{what} holds {int(bad.sum())} values that are not 0 or 1 (first at {unit}s "
            f"{(where + offset).tolist()}: {shown}). Truth labels must be 1 for signal and 0 "
            f"for background; fix the labels or check that this is the right file."
        )
    return values.astype(np.int8)


# --------------------------------------------------------------------------- physics


def _event_columns(jets: dict) -> dict:
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


def _invalid_reasons(jets: dict, columns: dict) -> dict:
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


def _describe_invalid(reasons: dict, bad: np.ndarray, row_index: np.ndarray, path) -> str:
    counts = ", ".join(
        f"{int(mask.sum())} with {reason}" for reason, mask in reasons.items() if mask.any()
    )
    return (
        f"{int(bad.sum())} of {bad.size} events read from {path} are invalid ({counts}); "
        f"first row indices {row_index[bad][:_N_SHOWN].tolist()}."
    )
