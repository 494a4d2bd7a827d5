"""The binned (score, resonant variable) table that the binned tests of the null share.

The mutual-information test, the smooth-trend test and the homogeneous-association test all
look at the same object: the ``d_s x d_y`` table of event counts in equal-count bins of the
score ``s`` and of the resonant variable ``y`` (m_jj), every marginal bin holding at least
``1/rel_uncertainty**2`` events (Kamenik & Szewc, PLB 840 (2023) 137836, Sec. 3). It is built
once here, so the three tests bin, refuse and explain in exactly the same way.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..utils.validation import check_not_constant, check_positive_int
from .binning import (
    Binning,
    assign_bins,
    counts_in_bins,
    equal_count_binning,
    halving_levels,
    quantile_binning,
)

__all__ = [
    "ScoreMassTable",
    "bin_scores",
    "bin_resonant",
    "score_mass_table",
    "is_region",
    "check_in_window",
    "cell_counts",
    "check_quantile_levels",
    "simulation_table",
]


def is_region(spec) -> bool:
    """Whether ``spec`` is a :class:`~nhtad.datasets.SignalRegion` (duck-typed: stats must not
    import datasets)."""
    return hasattr(spec, "bin_edges") and hasattr(spec, "in_window")


def check_in_window(region, y, what="events", where="") -> None:
    """Refuse values of the resonant variable outside the window of a SignalRegion.

    Parameters
    ----------
    region : SignalRegion
    y : ndarray
        Validated values (m_jj).
    what : str, default="events"
        What the values are, for the message ("y_simulation values", "simulated events").
    where : str, default=""
        Appended to "keep only events with region.in_window(mjj)" (e.g. " in both data and
        simulation").
    """
    outside = int((~region.in_window(y)).sum())
    if outside:
        raise ValueError(
            f"{outside} of {y.size} {what} lie outside the window of {region}; keep only events "
            f"with region.in_window(mjj){where} before testing."
        )


@dataclass(frozen=True, eq=False)
class ScoreMassTable:
    """Binning of ``(s, y)`` and the resulting contingency table.

    Attributes
    ----------
    table : ndarray of int of shape (d_s, d_y)
        Event counts; row ``i`` is score bin ``i`` (ascending s), column ``j`` is y bin ``j``.
    s_edges, y_edges : ndarray
        Bin edges (``[e_k, e_{k+1})``, the last bin closed).
    s_index, y_index : ndarray of int
        Bin of every event.
    y_counts : ndarray of int
        Events per y bin.
    y_means : ndarray of float
        Mean ``y`` of the events in every y bin (the bin's position for trend models: with
        equal-count bins of a falling spectrum it is not the bin centre).
    min_count : int
        Fewest events a marginal bin had to hold.
    """

    table: np.ndarray
    s_edges: np.ndarray
    y_edges: np.ndarray
    s_index: np.ndarray
    y_index: np.ndarray
    y_counts: np.ndarray
    y_means: np.ndarray
    min_count: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.table.shape

    def counts_of(self, rows) -> np.ndarray:
        """The table of a subset of the events binned together (boolean mask or indices)."""
        return cell_counts(self.s_index[rows], self.y_index[rows], self.table.shape)


def cell_counts(s_index, y_index, shape) -> np.ndarray:
    """Events per cell of a ``shape = (d_s, d_y)`` table, from every event's two bin indices."""
    d_s, d_y = shape
    cells = s_index.astype(np.int64) * d_y + y_index
    return np.bincount(cells, minlength=d_s * d_y).reshape(d_s, d_y)


def _smallest_rel_for(n: int) -> float:
    # The smallest target that allows 2 bins of n events, rounded *up* to 4 digits so it works.
    smallest = 1.0 / math.sqrt(max(n // 2, 1))
    digits = 3 - math.floor(math.log10(smallest))
    return math.ceil(smallest * 10**digits) / 10**digits


def bin_scores(s, min_count: int, rel_uncertainty: float) -> Binning:
    """Equal-count score bins of at least ``min_count`` events, or a ValueError saying why not.

    Parameters
    ----------
    s : ndarray of shape (n_events,)
        Validated, finite scores.
    min_count : int
        Fewest events a bin may hold.
    rel_uncertainty : float
        The target ``min_count`` came from, named in error messages.
    """
    n = s.size
    if n < 2 * min_count:
        raise ValueError(
            f"s and y have {n} events but the binning needs at least {2 * min_count} (2 bins "
            f"of {min_count} events for a relative uncertainty of {rel_uncertainty:g} per bin); "
            f"provide more events or raise rel_uncertainty (the smallest value that works for "
            f"{n} events is {_smallest_rel_for(n):g})."
        )
    check_not_constant(
        s,
        "s",
        "a constant score carries no information; check the classifier's training (a dead "
        "network outputs a constant).",
    )
    binning = equal_count_binning(s, min_count)
    if binning.n_bins < 2:
        values, counts = np.unique(s, return_counts=True)
        top = counts.argmax()
        raise ValueError(
            f"s cannot be split into 2 bins of >= {min_count} events: {counts[top]} of {n} "
            f"scores ({counts[top] / n:.1%}) sit at the single value {values[top]:g}. Provide "
            f"more events, raise rel_uncertainty, or check the score for saturation."
        )
    return binning


def bin_resonant(y, spec, min_count: int, rel_uncertainty: float):
    """Bins of the resonant variable from a ``y_bins`` specification.

    Parameters
    ----------
    y : ndarray of shape (n_events,)
        Validated, finite values (at least ``2 * min_count`` of them).
    spec : None, int, array-like or SignalRegion
        ``None``: equal-count bins of at least ``min_count`` events. int: that many
        equal-count bins, each of which must hold ``min_count``. array-like: the exact edges,
        every bin holding ``min_count`` and every event inside. A SignalRegion: equal-count
        bins of ``min_count`` within each sideband and the signal region, so that the region
        boundaries are bin edges; every event must lie in its window.
    min_count : int
    rel_uncertainty : float
        The target ``min_count`` came from, named in error messages.

    Returns
    -------
    index : ndarray of int, edges : ndarray, counts : ndarray of int
    """
    n = y.size
    if spec is None or (isinstance(spec, numbers.Integral) and not isinstance(spec, bool)):
        if spec is not None:
            check_positive_int(spec, "y_bins", minimum=2)
            if n < spec * min_count:
                raise ValueError(
                    f"y_bins={spec} equal-count bins of >= {min_count} events need at least "
                    f"{spec * min_count} events; got {n}. Use fewer y bins, more events or a "
                    f"larger rel_uncertainty."
                )
        check_not_constant(
            y, "y", "if y is a region label, the signal region or the sidebands are empty."
        )
        binning = equal_count_binning(y, min_count, n_bins=spec)
        if binning.n_bins < 2:
            raise ValueError(
                f"y cannot be split into 2 bins of >= {min_count} events (one value holds "
                f"nearly all events, e.g. an almost empty signal region or sideband)."
            )
        return binning.index, binning.edges, binning.counts

    if is_region(spec):
        check_in_window(spec, y)
        edges = spec.bin_edges(y, rel_uncertainty, min_count=min_count)
    else:
        edges = np.asarray(spec, dtype=np.float64)
    index, counts = counts_in_bins(y, edges, name="y")
    if counts.size < 2:
        raise ValueError("y_bins must define at least 2 bins.")
    short = np.flatnonzero(counts < min_count)
    if short.size:
        k = short[0]
        raise ValueError(
            f"{short.size} of the given y bins hold fewer than {min_count} events (needed for "
            f"rel_uncertainty={rel_uncertainty:g}); e.g. bin [{edges[k]:g}, {edges[k + 1]:g}) "
            f"holds {counts[k]}. Merge bins, use more events or a larger rel_uncertainty."
        )
    return index, edges, counts


#: Fewest events in the top score bin of the ``s_quantiles="halving"`` ladder (it holds 100-200):
#: the signal-region term of that bin then rests on ~40-80 events, enough for the chi^2 law of
#: its likelihood ratio (measured in docs/study_honest_null.md), and a signal that a classifier
#: concentrates in the top per cent of its score keeps a bin of its own.
HALVING_MIN_TOP = 100


def check_quantile_levels(levels, name="s_quantiles") -> np.ndarray | str:
    """Validate cumulative levels for :func:`~nhtad.stats.binning.quantile_binning`.

    ``"halving"`` is accepted as is (see :func:`~nhtad.stats.binning.halving_levels`).
    """
    if isinstance(levels, str):
        if levels != "halving":
            raise ValueError(
                f"{name} must be 'halving' or strictly increasing fractions in (0, 1); got "
                f"{levels!r}."
            )
        return levels
    try:
        arr = np.asarray(levels, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array([np.nan])
    if (
        arr.ndim != 1
        or arr.size == 0
        or not np.isfinite(arr).all()
        or not ((arr > 0) & (arr < 1)).all()
        or not (np.diff(arr) > 0).all()
    ):
        raise ValueError(
            f"{name} must be strictly increasing cumulative fractions in (0, 1), e.g. "
            f"(0.5, 0.9, 0.99); got {levels!r}."
        )
    return arr


def score_mass_table(
    s, y, *, min_count: int, rel_uncertainty: float, y_bins=None, s_quantiles=None
):
    """Bin validated ``(s, y)`` and count the events per cell.

    Parameters
    ----------
    s, y : ndarray of shape (n_events,)
        Validated, finite, paired values (pooled data and simulation where a test needs
        common bins; :meth:`ScoreMassTable.counts_of` then gives each sample's table).
    min_count : int
        Fewest events every marginal bin must hold.
    rel_uncertainty : float
        The target ``min_count`` came from, named in error messages.
    y_bins : None, int, array-like or SignalRegion
        See :func:`bin_resonant`.
    s_quantiles : array-like of float or "halving", optional
        Cut the scores at these quantiles of ``s`` instead of into equal-count bins of
        ``min_count`` (see :func:`~nhtad.stats.binning.quantile_binning`); ``"halving"``: bins of
        1/2, 1/4, 1/8, ... of the events down to a top bin of :data:`HALVING_MIN_TOP` events.

    Returns
    -------
    ScoreMassTable
    """
    if s_quantiles is None:
        s_binning = bin_scores(s, min_count, rel_uncertainty)
    else:
        levels = check_quantile_levels(s_quantiles)
        if isinstance(levels, str):
            levels = halving_levels(s.size, HALVING_MIN_TOP)
        check_not_constant(s, "s", "a constant score carries no information.")
        s_binning = quantile_binning(s, levels)
        if s_binning.n_bins < 2:
            raise ValueError(
                "s cannot be cut at the given quantiles: nearly all scores share one value. "
                "Check the score for saturation."
            )
    y_index, y_edges, y_counts = bin_resonant(y, y_bins, min_count, rel_uncertainty)
    d_y = y_edges.size - 1
    table = cell_counts(s_binning.index, y_index, (s_binning.n_bins, d_y))
    y_means = np.bincount(y_index, weights=y, minlength=d_y) / y_counts
    return ScoreMassTable(
        table=table,
        s_edges=s_binning.edges,
        y_edges=y_edges,
        s_index=s_binning.index,
        y_index=y_index,
        y_counts=y_counts,
        y_means=y_means,
        min_count=int(min_count),
    )


def simulation_table(binned: ScoreMassTable, s_sim, y_sim, region=None):
    """The simulation's table in the data's bins, and its own mean ``y`` per y bin.

    Parameters
    ----------
    binned : ScoreMassTable
        The data's binning.
    s_sim, y_sim : ndarray of shape (n_simulated,)
        Validated scores and resonant-variable values of the simulated background.
    region : SignalRegion, optional
        The window the data's y bins cover; every simulated event must lie in it. Without one,
        the outermost y bins extend to the simulation's range.

    Returns
    -------
    table : ndarray of int of shape (d_s, d_y)
    y_means : ndarray of shape (d_y,)
        The simulation's mean y in every bin: its spectrum may differ from the data's.
    """
    d_s, d_y = binned.shape
    # The data's outermost score bins extend to +-inf for the simulation: its scores may reach
    # beyond the data's range, and they belong to the end bins.
    s_index = assign_bins(np.clip(s_sim, binned.s_edges[0], binned.s_edges[-1]), binned.s_edges)
    if region is not None:
        check_in_window(region, y_sim, "simulated events")
        y_edges = binned.y_edges
    else:
        y_edges = binned.y_edges.copy()
        y_edges[0] = min(y_edges[0], y_sim.min())
        y_edges[-1] = max(y_edges[-1], y_sim.max())
    y_index = assign_bins(y_sim, y_edges)
    table = cell_counts(s_index, y_index, (d_s, d_y))
    y_counts = np.bincount(y_index, minlength=d_y)
    empty_cols = np.flatnonzero(y_counts == 0)
    if empty_cols.size:
        raise ValueError(
            f"the simulation leaves {empty_cols.size} of the data's y bins empty: give a "
            "larger simulated sample or coarser bins."
        )
    y_means = np.bincount(y_index, weights=y_sim, minlength=d_y) / y_counts
    return table, y_means
