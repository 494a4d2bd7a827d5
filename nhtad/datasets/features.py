"""Feature sets of the two seed analyses, built from an event table.

- Kamenik & Szewc (PLB 840 (2023) 137836), the SA-CWoLa + MI analysis: the mass-ordered jets'
  mass difference, the lighter jet's mass and both N-subjettiness ratios,
  ``{m_j1 - m_j2, m_j2, tau21_1, tau21_2}``; m_jj is *not* a feature.
- Grosso, Sengupta, Golling, Harris (EPJC 85, 1074 (2025)), the NPLM analysis:
  ``{m_J1, Delta m_J, tau21_J1, tau21_J2, Delta R_JJ}``, plus m_jj for the 6-D end-to-end NPLM.
"""

from __future__ import annotations

import numpy as np

from .events import event_table_of

__all__ = ["SACWOLA_FEATURES", "NPLM_FEATURES", "sacwola_features", "nplm_features"]

SACWOLA_FEATURES = ("mj1 - mj2", "mj2", "tau21_1", "tau21_2")
NPLM_FEATURES = ("mj1", "mj1 - mj2", "tau21_1", "tau21_2", "dR_jj")


def _columns(events, names):
    # Accept the event Bunch itself, its structured array, or a pandas DataFrame.
    table = event_table_of(events)
    try:
        return [np.asarray(table[name], dtype=np.float64) for name in names]
    except (KeyError, ValueError, IndexError):
        raise ValueError(
            f"events must be an nhtad event table (structured array, DataFrame or the Bunch from "
            f"make_lhco_like/load_lhco) with columns {names}."
        ) from None


def sacwola_features(events) -> np.ndarray:
    """Seed-000 features ``[mj1 - mj2, mj2, tau21_1, tau21_2]``, shape (n_events, 4)."""
    mj1, mj2, t1, t2 = _columns(events, ("mj1", "mj2", "tau21_1", "tau21_2"))
    return np.column_stack([mj1 - mj2, mj2, t1, t2])


def nplm_features(events, *, include_mjj: bool = False) -> np.ndarray:
    """Seed-004 features ``[mj1, mj1 - mj2, tau21_1, tau21_2, dR_jj]`` (+ ``mjj`` last).

    Parameters
    ----------
    events : event table or Bunch
    include_mjj : bool, default=False
        Append m_jj as a sixth column (the 6-D end-to-end NPLM).
    """
    names = ("mj1", "mj2", "tau21_1", "tau21_2", "dR_jj", "mjj")
    mj1, mj2, t1, t2, dr, mjj = _columns(events, names)
    cols = [mj1, mj1 - mj2, t1, t2, dr]
    if include_mjj:
        cols.append(mjj)
    return np.column_stack(cols)
