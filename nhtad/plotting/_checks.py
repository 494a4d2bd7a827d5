"""Checks of the plotting functions' inputs that more than one figure takes."""

from __future__ import annotations

import numpy as np

from ..utils.validation import check_events_vector


def check_labels(values, n, name, meaning):
    """A per-event 0/1 vector of length ``n`` as a bool array."""
    arr = check_events_vector(values, name)
    if arr.size != n:
        raise ValueError(
            f"{name} must have one entry per event: got {arr.size} entries for {n} events."
        )
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise ValueError(
            f"{name} must be 0 or 1 per event ({meaning}); got {int(bad.sum())} other values, "
            f"e.g. {arr[bad][:3].tolist()}."
        )
    return arr == 1


def check_edges(edges, name):
    """Bin edges as a finite, strictly increasing float array of at least two entries."""
    try:
        edges = np.asarray(edges, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers; got {edges!r}.") from None
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(
            f"{name} must be a 1-D array of at least 2 bin edges; got shape {edges.shape}."
        )
    if not np.isfinite(edges).all() or not (np.diff(edges) > 0).all():
        raise ValueError(f"{name} must be finite and strictly increasing; got {edges}.")
    return edges
