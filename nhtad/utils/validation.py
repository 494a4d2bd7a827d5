"""Input validation shared by every test and generator.

Every check raises a :class:`ValueError` whose message says what was wrong and what to do,
so that bad physics input (NaN scores, mismatched arrays, empty regions) never passes silently.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_events_vector",
    "check_paired_vectors",
    "check_not_constant",
    "check_open_unit_interval",
    "check_positive_int",
]


def _describe_bad_values(values: np.ndarray) -> str:
    n_nan = int(np.isnan(values).sum())
    n_inf = int(np.isinf(values).sum())
    first = np.flatnonzero(~np.isfinite(values))[:5].tolist()
    parts = []
    if n_nan:
        parts.append(f"{n_nan} NaN")
    if n_inf:
        parts.append(f"{n_inf} inf")
    return f"{' and '.join(parts)} (first at indices {first})"


def check_events_vector(values, name: str, *, allow_column: bool = True) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array of one value per event.

    Parameters
    ----------
    values : array-like of shape (n_events,) or (n_events, 1)
        One number per event (a score, a resonant mass, a label).
    name : str
        Name used in error messages (``"s"``, ``"y"``, ...).
    allow_column : bool, default=True
        Accept a single column of shape (n_events, 1), as a transformer in a
        Pipeline produces, and flatten it.

    Raises
    ------
    ValueError
        If the array is not one value per event, is empty, or holds NaN or inf.
    """
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must be numeric, one value per event; could not convert it to float: {exc}"
        ) from None
    if arr.ndim == 2 and allow_column and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one value per event); got an array of shape {arr.shape}. "
            f"Pass a single score per event, e.g. predict_proba(X)[:, 1], not a feature matrix."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: the test needs events.")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains {_describe_bad_values(arr)}. Remove or fix these events before "
            f"testing; nhtad never drops events silently."
        )
    return arr


def check_paired_vectors(s, y, *, s_name: str = "s", y_name: str = "y"):
    """Validate two per-event vectors of equal length; return them as float64 arrays."""
    s_arr = check_events_vector(s, s_name)
    y_arr = check_events_vector(y, y_name)
    if s_arr.shape[0] != y_arr.shape[0]:
        raise ValueError(
            f"{s_name} and {y_name} must have one entry per event each; got "
            f"len({s_name})={s_arr.shape[0]} and len({y_name})={y_arr.shape[0]}."
        )
    return s_arr, y_arr


def check_not_constant(values: np.ndarray, name: str, hint: str) -> None:
    """Raise a ValueError if all ``values`` are equal; ``hint`` says what it means, what to do."""
    if values.min() == values.max():
        raise ValueError(
            f"{name} is constant (all {values.size} values equal {values[0]:g}); {hint}"
        )


def check_open_unit_interval(value, name: str) -> float:
    """Check that ``value`` is a real number strictly between 0 and 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not np.isfinite(value)
        or not 0.0 < value < 1.0
    ):
        raise ValueError(f"{name} must be a number in the open interval (0, 1); got {value!r}.")
    return float(value)


def check_positive_int(value, name: str, *, minimum: int = 1) -> int:
    """Check that ``value`` is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)
