"""The files of the LHC Olympics 2020 high-level features: the pandas HDF5 table and the truth.

The feature file is a pandas DataFrame in HDF5 (``format="fixed"`` or ``"table"``) with the
columns :data:`LHCO_FEATURE_COLUMNS` and, for the R&D sample, a ``label`` column; the truth of a
Black Box is a separate "masterkey" text file with one label per line. Every failure inside
PyTables or pandas is reported as one ValueError naming the file (:func:`guarded`).
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

__all__ = [
    "LHCO_FEATURE_COLUMNS",
    "FEATURES_FILE_HINT",
    "N_SHOWN",
    "existing_file",
    "guarded",
    "jet_arrays",
    "read_rows",
    "read_truth",
]

#: Columns of an LHCO 2020 high-level feature file (besides the optional ``label``).
LHCO_FEATURE_COLUMNS = (
    "pxj1", "pyj1", "pzj1", "mj1", "tau1j1", "tau2j1", "tau3j1",
    "pxj2", "pyj2", "pzj2", "mj2", "tau1j2", "tau2j2", "tau3j2",
)  # fmt: skip
_LABEL_COLUMN = "label"
# The particle-level files hold 700 hadrons x (pT, eta, phi), plus a label column for R&D.
_PARTICLE_LEVEL_N_COLUMNS = (2100, 2101)
FEATURES_FILE_HINT = (
    "nhtad reads the high-level *features* file of the LHC Olympics 2020, e.g. "
    "events_anomalydetection_v2.features.h5 (R&D) or events_LHCO2020_BlackBox1.features.h5 "
    "(Black Box 1)"
)
N_SHOWN = 10  # how many row indices or line numbers an error message lists


# --------------------------------------------------------------------------- arguments


def _check_row_bound(value, name: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer row number or None; got {value!r}. Pass e.g. {name}=100000."
        )
    return int(value)


def existing_file(path, what: str) -> Path:
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


def read_rows(pd, path: Path, key, start, stop):
    """Read rows ``start:stop`` of the DataFrame in ``path``.

    Returns the DataFrame, the position in the file of its first row, and the file's row count.
    """
    start = _check_row_bound(start, "start")
    stop = _check_row_bound(stop, "stop")
    with guarded(path, pd.HDFStore, path, mode="r") as store:
        key = _resolve_key(guarded(path, store.keys), key, path)
        head = guarded(path, store.select, key, start=0, stop=0)
        if not isinstance(head, pd.DataFrame):
            raise ValueError(
                f"key {key!r} of {path} holds a {type(head).__name__}, not a DataFrame. "
                f"{FEATURES_FILE_HINT}."
            )
        _check_columns(pd, head, path)
        n_file_rows = guarded(path, _count_rows, store, key)
        first, last, _ = slice(start, stop).indices(n_file_rows)
        if last <= first:
            raise ValueError(
                f"start={start}, stop={stop} select no events: {path} has {n_file_rows} rows. "
                f"Choose start < stop (Python slice semantics), or leave both as None to read "
                f"the whole file."
            )
        frame = guarded(path, store.select, key, start=first, stop=last)
    if len(frame) != last - first:
        if len(frame) != n_file_rows:
            raise ValueError(
                f"reading rows {first}:{last} of {path} returned {len(frame)} rows instead of "
                f"{last - first}. The file may be corrupt; read it with pandas.read_hdf to check."
            )
        # This storage format ignored start/stop: slice the full frame instead.
        frame = frame.iloc[first:last]
    return frame, first, n_file_rows


def guarded(path: Path, func, *args, **kwargs):
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
            f"again. {FEATURES_FILE_HINT}."
        ) from None


def _resolve_key(keys, key, path: Path) -> str:
    if key is None:
        if len(keys) == 1:
            return keys[0]
        if not keys:
            raise ValueError(f"{path} holds no pandas DataFrame. {FEATURES_FILE_HINT}.")
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
            f"{FEATURES_FILE_HINT}; download that file instead."
        )
    else:
        message += f" {FEATURES_FILE_HINT}, with columns {list(LHCO_FEATURE_COLUMNS)}."
    raise ValueError(message)


def jet_arrays(frame, path: Path) -> dict:
    jets = {}
    for name in LHCO_FEATURE_COLUMNS:
        try:
            jets[name] = frame[name].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"column {name!r} of {path} is not numeric ({frame[name].dtype}): {exc}. "
                f"{FEATURES_FILE_HINT}."
            ) from None
    return jets


# --------------------------------------------------------------------------- truth


def read_truth(pd, frame, masterkey, path: Path, first_row: int, n_file_rows: int):
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
            f"{disagree.size} events (first rows {disagree[:N_SHOWN].tolist()}). Pass "
            f"masterkey=None to use the file's column, or check that they belong together."
        )
    return truth


def _read_masterkey(pd, masterkey) -> np.ndarray:
    """Read a masterkey file: one 0/1 label per line, trailing blank lines allowed."""
    path = existing_file(masterkey, "masterkey")
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
            f"{(blank[:N_SHOWN] + 1).tolist()}); every line must be the label of one event, "
            f"so a blank line would shift the labels. Fix the file."
        )
    # Anything that is not a number becomes NaN and is reported by _as_labels.
    values = pd.to_numeric(lines, errors="coerce").astype(np.float64)
    return _as_labels(values, f"the masterkey {path}", 1, "line", text=lines)


def _as_labels(values: np.ndarray, what: str, offset: int, unit: str, text=None) -> np.ndarray:
    """Check that ``values`` are all 0 or 1 and return them as int8."""
    bad = ~np.isin(values, (0.0, 1.0))
    if bad.any():
        where = np.flatnonzero(bad)[:N_SHOWN]
        shown = (text if text is not None else values)[where].tolist()
        raise ValueError(
            f"{what} holds {int(bad.sum())} values that are not 0 or 1 (first at {unit}s "
            f"{(where + offset).tolist()}: {shown}). Truth labels must be 1 for signal and 0 "
            f"for background; fix the labels or check that this is the right file."
        )
    return values.astype(np.int8)
