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
import os
import warnings

import numpy as np

from ..utils.optional import import_optional
from ._lhco_events import describe_invalid, event_columns, invalid_reasons
from ._lhco_files import (
    FEATURES_FILE_HINT,
    LHCO_FEATURE_COLUMNS,
    existing_file,
    guarded,
    jet_arrays,
    read_rows,
    read_truth,
)
from .events import events_bunch, make_event_table

__all__ = ["load_lhco", "LHCO_FEATURE_COLUMNS"]

logger = logging.getLogger(__name__)

_INVALID_MODES = ("warn", "raise", "keep")


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
    path = existing_file(path, "LHCO feature file")
    if path.stat().st_size == 0:
        raise ValueError(
            f"{path} is empty (0 bytes): an interrupted download or write? Download or write "
            f"it again. {FEATURES_FILE_HINT}."
        )
    if not guarded(path, tables.is_hdf5_file, os.fspath(path)):
        raise ValueError(f"{path} is not an HDF5 file. {FEATURES_FILE_HINT}.")

    frame, first_row, n_file_rows = read_rows(pd, path, key, start, stop)
    n_rows = len(frame)
    row_index = np.arange(first_row, first_row + n_rows, dtype=np.int64)
    truth = read_truth(pd, frame, masterkey, path, first_row, n_file_rows)
    jets = jet_arrays(frame, path)
    columns = event_columns(jets)

    reasons = invalid_reasons(jets, columns)
    bad = np.logical_or.reduce(list(reasons.values()))
    dropped_index = np.empty(0, dtype=np.int64)
    if bad.any():
        summary = describe_invalid(reasons, bad, row_index, path)
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


def _check_invalid_mode(invalid) -> None:
    if not isinstance(invalid, str) or invalid not in _INVALID_MODES:
        raise ValueError(
            f"invalid must be one of {', '.join(map(repr, _INVALID_MODES))}; got {invalid!r}. "
            f"'warn' drops invalid events with a warning, 'raise' stops on them, 'keep' keeps "
            f"them with NaN or inf values."
        )
