"""Input validation shared by every test and generator.

Every check raises a :class:`ValueError` whose message says what was wrong and what to do,
so that bad physics input (NaN scores, mismatched arrays, empty regions) never passes silently.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

__all__ = [
    "check_events_vector",
    "check_paired_vectors",
    "check_not_constant",
    "check_open_unit_interval",
    "check_positive_int",
    "check_positive_finite",
    "check_sample_weight",
    "check_fits_in_memory",
    "total_memory_bytes",
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


def check_sample_weight(sample_weight, n_events: int, *, non_negative: bool = True) -> np.ndarray:
    """Return ``sample_weight`` as a finite float64 array of one weight per event.

    Parameters
    ----------
    sample_weight : array-like of shape (n_events,)
    n_events : int
        Number of events (rows of ``X``) the weights belong to.
    non_negative : bool, default=True
        Refuse negative weights. Estimators that treat a weight as a count of events (gradient
        boosting, the SA-CWoLa loss) have no optimum with negative ones: boosting then returns
        a constant score without a word.

    Raises
    ------
    ValueError
        If the weights are not one number per event, hold NaN or inf, are negative (with
        ``non_negative``) or are all zero.
    """
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must be numeric, one weight per event: {exc}") from None
    if weights.ndim != 1 or weights.shape[0] != n_events:
        got = f"{weights.shape[0]} weights" if weights.ndim == 1 else f"shape {weights.shape}"
        raise ValueError(
            f"sample_weight must hold one weight per event: got {got} for {n_events} events "
            f"(rows of X). Pass a 1-D array of length {n_events}, in the order of X."
        )
    if not np.isfinite(weights).all():
        raise ValueError(
            f"sample_weight contains {_describe_bad_values(weights)}. Fix or remove these "
            f"events' weights; nhtad never drops events silently."
        )
    if non_negative and (weights < 0).any():
        negative = np.flatnonzero(weights < 0)
        raise ValueError(
            f"sample_weight has {negative.size} negative values (smallest {weights.min():g}, "
            f"first at indices {negative[:5].tolist()}); this estimator needs non-negative "
            f"weights, each a count of events. Remove the negative weights first (e.g. drop "
            f"those events or absorb them into positive neighbours) or train without weights."
        )
    if not (weights != 0).any():
        raise ValueError(
            "all sample weights are zero: nothing to train on. Pass positive weights for the "
            "events to use, or sample_weight=None."
        )
    return weights


def total_memory_bytes() -> int | None:
    """Physical memory of this machine in bytes, or None where it cannot be read."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        pass
    try:  # platforms without sysconf (Windows)
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # psutil missing or unusable: no estimate, hence no refusal
        return None


def _human_bytes(n_bytes: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if n_bytes < 1000 or unit == "PB":
            return f"{n_bytes:.3g} {unit}"
        n_bytes /= 1000
    return f"{n_bytes:.3g} PB"  # pragma: no cover - the loop always returns


def check_fits_in_memory(
    count: int, bytes_each: float, *, name: str, holds: str, fix: str = ""
) -> None:
    """Refuse, before any work, ``count`` items that cannot fit in this machine's memory.

    Such a request otherwise runs for minutes (spawning seeds, filling lists) before it dies
    of a ``MemoryError`` or is killed. The estimate is a lower bound, so anything refused could
    never have run; a request that passes may still be too large if other programs use the
    memory.

    Parameters
    ----------
    count : int
        Number of items asked for (the value of the parameter ``name``).
    bytes_each : float
        Bytes each item needs at least.
    name : str
        The parameter, named in the message (``"n_resamples"``).
    holds : str
        What the memory holds, for the message (``"the null statistics"``).
    fix : str, default=""
        What to do instead, appended to the message.

    Raises
    ------
    ValueError
        If ``count * bytes_each`` exceeds the physical memory.
    """
    total = total_memory_bytes()
    needed = int(count) * float(bytes_each)
    if total is None or needed <= total:
        return
    most = int(total // bytes_each)
    raise ValueError(
        f"{name}={count} needs at least ~{_human_bytes(needed)} to hold {holds} "
        f"(~{_human_bytes(bytes_each)} each), more than the {_human_bytes(total)} of memory of "
        f"this machine: at most ~{most:.3g} fit. {fix}".rstrip()
    )


def check_positive_finite(value, name: str, what="a positive finite number", hint="") -> float:
    """Refuse anything but a positive finite real number (a bool is not one); return it.

    The message reads "``name`` must be ``what``; got ``value``." followed by ``hint``.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not value > 0
    ):
        raise ValueError(f"{name} must be {what}; got {value!r}.{hint}")
    return float(value)
