"""The event table every nhtad data source returns.

The generator (:func:`~nhtad.datasets.make_lhco_like`) and the reader of the LHC Olympics files
(:func:`~nhtad.datasets.load_lhco`) return the same thing: a :class:`sklearn.utils.Bunch` whose
``events`` is a NumPy structured array with one row per event and the columns of
:data:`EVENT_COLUMNS` (float64, masses in GeV), and whose ``truth`` (signal = 1, background = 0)
is kept aside from the features so it cannot leak into training by accident.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from ..utils.optional import import_optional

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_DTYPE",
    "make_event_table",
    "events_bunch",
    "event_table_of",
    "check_event_table",
]

#: Columns of an event table: dijet invariant mass, heavier and lighter jet mass (GeV),
#: N-subjettiness ratios tau2/tau1 of the heavier and lighter jet, and the jets' angular
#: distance sqrt(delta_eta^2 + delta_phi^2).
EVENT_COLUMNS = ("mjj", "mj1", "mj2", "tau21_1", "tau21_2", "dR_jj")
EVENT_DTYPE = np.dtype([(name, np.float64) for name in EVENT_COLUMNS])


def make_event_table(**columns) -> np.ndarray:
    """Build a structured event array from one 1-D array per column of :data:`EVENT_COLUMNS`."""
    missing = set(EVENT_COLUMNS) - set(columns)
    extra = set(columns) - set(EVENT_COLUMNS)
    if missing or extra:
        raise ValueError(
            f"an event table needs exactly the columns {EVENT_COLUMNS}; "
            f"missing {sorted(missing)}, unexpected {sorted(extra)}."
        )
    n = len(columns["mjj"])
    table = np.empty(n, dtype=EVENT_DTYPE)
    for name in EVENT_COLUMNS:
        values = np.asarray(columns[name], dtype=np.float64)
        if values.shape != (n,):
            raise ValueError(f"column {name!r} has shape {values.shape}; expected ({n},).")
        table[name] = values
    return table


def events_bunch(events: np.ndarray, truth, *, as_frame: bool = False, **info) -> Bunch:
    """Wrap an event table and its truth labels in the Bunch every data source returns.

    Parameters
    ----------
    events : structured ndarray with dtype :data:`EVENT_DTYPE`
    truth : ndarray of int8 or None
        1 for signal, 0 for background; ``None`` when the source has no labels.
    as_frame : bool, default=False
        Return ``events`` as a :class:`pandas.DataFrame` (needs the ``lhco`` extra).
    **info
        Further entries stored in the Bunch (sample sizes, settings, provenance).
    """
    if as_frame:
        pd = import_optional("pandas", "lhco", "as_frame=True")
        events = pd.DataFrame({name: events[name] for name in EVENT_COLUMNS})
    return Bunch(events=events, truth=truth, feature_names=list(EVENT_COLUMNS), **info)


def event_table_of(events):
    """The table inside a data-source Bunch, or ``events`` itself if it is already a table."""
    return events.events if hasattr(events, "events") and hasattr(events, "truth") else events


def check_event_table(events, name: str) -> np.ndarray:
    """The event table of ``events`` (a table or a data-source Bunch), or a ValueError."""
    table = event_table_of(events)
    if not isinstance(table, np.ndarray) or table.dtype != EVENT_DTYPE:
        raise ValueError(
            f"{name} must be an nhtad event table (structured array with dtype EVENT_DTYPE, or "
            f"the Bunch of make_lhco_like/load_lhco with as_frame=False)."
        )
    return table
