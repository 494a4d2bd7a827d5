"""Equal-count binning with a relative-uncertainty target per marginal bin.

This is the binning of Kamenik & Szewc (PLB 840 (2023) 137836, Sec. 3): start from
equal-count (quantile) bins and merge bins until each holds enough events that its relative
Poisson uncertainty ``1/sqrt(n)`` is at most the target, e.g. 1% means ``n >= 10,000``.
The rule applies to each *marginal* bin (of the score and of the resonant variable), not to
the 2-D cells.

Scores of trained networks have point masses (a saturated sigmoid, a dead-ReLU plateau with up
to ~80% of the events at one value). Bins here are cut only at boundaries between distinct
values, so a point mass never produces an empty or a duplicated bin: it becomes one wide bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "min_count_for",
    "Binning",
    "equal_count_binning",
    "equal_count_edges",
    "quantile_binning",
    "halving_levels",
    "assign_bins",
    "counts_in_bins",
]


def min_count_for(rel_uncertainty: float) -> int:
    """Fewest events a bin needs for a relative Poisson error ``1/sqrt(n) <= rel_uncertainty``."""
    # The tiny slack keeps 1/0.01**2 = 10000.000000000002 from rounding up to 10001.
    return max(1, math.ceil(1.0 / rel_uncertainty**2 - 1e-9))


@dataclass(frozen=True)
class Binning:
    """Result of :func:`equal_count_binning`: edges, per-event bin index and counts."""

    edges: np.ndarray
    index: np.ndarray
    counts: np.ndarray

    @property
    def n_bins(self) -> int:
        return self.counts.size


def _merge_small_bins(counts: np.ndarray, cuts: np.ndarray, min_count: int):
    # The reference rule: while some bin is short of min_count, merge the first such bin with
    # its smaller neighbour (the first bin merges right, the last left). The loop runs over bins,
    # never events, and sums counts instead of re-histogramming.
    counts = counts.tolist()
    cuts = cuts.tolist()
    while len(counts) > 1:
        short = next((i for i, c in enumerate(counts) if c < min_count), None)
        if short is None:
            break
        if short == 0:
            partner = 1
        elif short == len(counts) - 1:
            partner = short - 1
        else:
            partner = short - 1 if counts[short - 1] <= counts[short + 1] else short + 1
        lo = min(short, partner)
        counts[lo] += counts.pop(lo + 1)
        cuts.pop(lo)
    return np.asarray(counts, dtype=np.int64), np.asarray(cuts, dtype=np.int64)


def _cut_positions(sorted_x: np.ndarray, n_bins: int) -> np.ndarray:
    n = sorted_x.size
    return _cuts_at(sorted_x, np.rint(np.arange(1, n_bins) * (n / n_bins)).astype(np.int64))


def _cuts_at(sorted_x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    n = sorted_x.size
    targets = targets[(targets > 0) & (targets < n)]
    values = sorted_x[targets]
    # A cut may only fall between distinct values: move each target to the nearer end of the
    # block of values tied with it, so a point mass lands whole in one bin.
    left = np.searchsorted(sorted_x, values, side="left")
    right = np.searchsorted(sorted_x, values, side="right")
    cuts = np.where(targets - left <= right - targets, left, right)
    cuts = np.unique(cuts)
    return cuts[(cuts > 0) & (cuts < n)]


def _edges_from_cuts(sorted_x: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    below = sorted_x[cuts - 1]
    above = sorted_x[cuts]
    with np.errstate(over="ignore"):
        gap = above - below
    # For values of opposite sign near the largest double the gap overflows to inf, and so
    # would the midpoint, putting every event in one bin; halving each value first cannot
    # overflow. Only those cuts take the second form, so other edges keep their last bit.
    mid = np.where(np.isfinite(gap), below + 0.5 * gap, 0.5 * below + 0.5 * above)
    # Bins are [e_k, e_{k+1}); a midpoint that rounds onto the value below would move that value
    # up a bin, so fall back to the value above, which belongs to the upper bin anyway.
    inner = np.where(mid > below, mid, above)
    return np.concatenate(([sorted_x[0]], inner, [sorted_x[-1]]))


def equal_count_binning(x, min_count: int, *, n_bins: int | None = None) -> Binning:
    """Equal-count bins of ``x`` with at least ``min_count`` events each.

    Parameters
    ----------
    x : ndarray of shape (n_events,)
        Finite values (validated by the caller).
    min_count : int
        Fewest events any bin may hold (see :func:`min_count_for`).
    n_bins : int, optional
        Number of equal-count bins to start from; default ``n_events // min_count``, the most
        bins of equal count that all meet ``min_count``. Ties and merging can only lower it.

    Returns
    -------
    Binning
        ``edges`` (ascending, ``n_bins + 1`` values from ``min(x)`` to ``max(x)``; bin ``k`` is
        ``[edges[k], edges[k+1])``, the last bin closed), ``index`` (bin of each event),
        ``counts``. A single bin results when ``x`` cannot be split (too few events, constant
        ``x`` or a point mass holding nearly all events); callers decide whether that is an error.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n == 0:
        raise ValueError("cannot bin an empty array.")
    if n_bins is None:
        n_bins = max(1, n // min_count)
    sorted_x = np.sort(x)
    cuts = _cut_positions(sorted_x, n_bins)
    counts = np.diff(np.concatenate(([0], cuts, [n])))
    counts, cuts = _merge_small_bins(counts, cuts, min_count)
    edges = _edges_from_cuts(sorted_x, cuts)
    return Binning(edges=edges, index=assign_bins(x, edges), counts=counts)


def quantile_binning(x, levels) -> Binning:
    """Bins of ``x`` cut at its empirical quantiles ``levels`` (cumulative fractions).

    Cuts fall only between distinct values (a tied block lands whole in one bin, on the side
    nearer its target), so levels closer together than a point mass merge into one cut.

    Parameters
    ----------
    x : ndarray of shape (n_events,)
        Finite values (validated by the caller).
    levels : array-like of float
        Strictly increasing cumulative fractions in (0, 1), e.g. ``(0.5, 0.9, 0.99)`` for bins
        holding 50%, 40%, 9% and 1% of the events.

    Returns
    -------
    Binning
    """
    x = np.asarray(x, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    sorted_x = np.sort(x)
    cuts = _cuts_at(sorted_x, np.rint(levels * x.size).astype(np.int64))
    counts = np.diff(np.concatenate(([0], cuts, [x.size])))
    edges = _edges_from_cuts(sorted_x, cuts)
    return Binning(edges=edges, index=assign_bins(x, edges), counts=counts)


def halving_levels(n_events: int, min_top: int) -> np.ndarray:
    """Cumulative levels ``1 - 2**-k``, k = 1, 2, ..., while the top bin keeps ``min_top`` events.

    Bins of 1/2, 1/4, 1/8, ... of the events, the last holding at least ``min_top``: a ladder
    that resolves the upper tail of a score, where a signal-like minority sits, with a number of
    bins that grows only like ``log2(n_events / min_top)``.
    """
    depth = int(np.floor(np.log2(max(n_events, 1) / max(min_top, 1))))
    return 1.0 - 0.5 ** np.arange(1, max(depth, 1) + 1)


def equal_count_edges(x, min_count: int, *, n_bins: int | None = None) -> np.ndarray:
    """Edges of :func:`equal_count_binning` only."""
    return equal_count_binning(x, min_count, n_bins=n_bins).edges


_LOOKUP_CELLS = 16_384


def assign_bins(x, edges) -> np.ndarray:
    """Bin index of each value for bins ``[e_k, e_{k+1})`` (the last bin closed).

    Values outside ``[edges[0], edges[-1]]`` land in the first or last bin; check the range
    first where that matters (:func:`counts_in_bins` does).

    A binary search per event (``np.searchsorted``) costs more than the sort that made the
    edges, so events are first placed in a fine uniform grid over the edges' range, whose cells
    map to bins through a lookup table; only events in (or next to) a cell holding an edge are
    searched. The result (int32) equals ``np.searchsorted(edges[1:-1], x, side="right")``.
    """
    edges = np.asarray(edges, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    inner = edges[1:-1]
    lo, hi = edges[0], edges[-1]
    if inner.size == 0:
        return np.zeros(x.shape, dtype=np.int32)
    with np.errstate(over="ignore"):
        width = (hi - lo) / _LOOKUP_CELLS
    # A range wider than the largest double (edges near +-1e308) has no finite grid: search.
    if not width > 0 or not np.isfinite(width):
        return np.searchsorted(inner, x, side="right").astype(np.int32)
    boundaries = lo + width * np.arange(_LOOKUP_CELLS + 1)
    bin_at = np.searchsorted(inner, boundaries, side="right")
    holds_edge = bin_at[1:] != bin_at[:-1]
    # Rounding may put an event one cell off: a cell is unsafe if it or a neighbour holds an
    # edge, and unsafe cells map to -1, "search this event".
    unsafe = holds_edge.copy()
    unsafe[1:] |= holds_edge[:-1]
    unsafe[:-1] |= holds_edge[1:]
    lookup = bin_at[:-1].astype(np.int32)
    lookup[unsafe] = -1
    # Clip before the integer cast: far-out values would overflow int32 and wrap around.
    cell = np.clip((x - lo) * (1.0 / width), 0, _LOOKUP_CELLS - 1).astype(np.int32)
    index = lookup[cell]
    check = np.flatnonzero(index < 0)
    index[check] = np.searchsorted(inner, x[check], side="right")
    return index


def counts_in_bins(x, edges, *, name: str = "y"):
    """Bin index and counts of ``x`` in the given ``edges``, refusing values outside them.

    Raises
    ------
    ValueError
        If ``edges`` are not finite and strictly increasing or some values fall outside.
    """
    edges = np.asarray(edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2:
        raise ValueError(
            f"bin edges of {name} must be a 1-D array of at least 2 values; "
            f"got shape {edges.shape}."
        )
    if not np.isfinite(edges).all() or not (np.diff(edges) > 0).all():
        raise ValueError(
            f"bin edges of {name} must be finite and strictly increasing; got {edges}."
        )
    outside = (x < edges[0]) | (x > edges[-1])
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} of {x.size} values of {name} lie outside the bin edges "
            f"[{edges[0]:g}, {edges[-1]:g}]; select the events inside the range first (for a "
            f"signal-region window: region.in_window(mjj)) or widen the edges."
        )
    index = assign_bins(x, edges)
    return index, np.bincount(index, minlength=edges.size - 1)
