"""Signal region and sidebands in the resonant variable (the dijet mass m_jj).

One :class:`SignalRegion` object defines the analysis window and the signal region inside it,
and every method in nhtad takes its labels, masks and bin edges from it, so that the
independence test, the cut-and-count and the bump hunt look at exactly the same regions.
(The Kamenik-Szewc reference code trained on one signal region and ran its baselines on
another.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..stats.binning import equal_count_binning, min_count_for
from ..utils.validation import check_events_vector, check_open_unit_interval, check_positive_int

__all__ = ["SignalRegion"]


@dataclass(frozen=True)
class SignalRegion:
    """Signal region ``[low, high)`` inside the window ``[window[0], window[1])`` (GeV).

    The sidebands are the rest of the window: ``[window[0], low)`` and ``[high, window[1])``.
    Defaults follow the LHC Olympics R&D analyses: window 3.1-3.9 TeV, signal region
    3.3-3.7 TeV around the 3.5 TeV W' of the R&D signal.

    Parameters
    ----------
    low, high : float
        Signal-region boundaries in GeV.
    window : tuple of float
        Analysis window in GeV.

    Examples
    --------
    >>> import numpy as np
    >>> region = SignalRegion()
    >>> region.labels(np.array([3150.0, 3500.0, 3800.0])).tolist()
    [0, 1, 0]
    """

    low: float = 3300.0
    high: float = 3700.0
    window: tuple[float, float] = (3100.0, 3900.0)

    def __post_init__(self):
        try:
            lo, hi = (float(v) for v in self.window)
            low, high = float(self.low), float(self.high)
        except (TypeError, ValueError):
            raise ValueError(
                f"SignalRegion needs numbers: low, high and a (lower, upper) window; got "
                f"low={self.low!r}, high={self.high!r}, window={self.window!r}."
            ) from None
        if not all(math.isfinite(v) for v in (lo, hi, low, high)) or not lo < low < high < hi:
            raise ValueError(
                "SignalRegion needs window[0] < low < high < window[1], all finite, so that both "
                f"sidebands exist; got low={low}, high={high}, window={self.window}."
            )
        object.__setattr__(self, "window", (lo, hi))
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    # -- masks ---------------------------------------------------------------------------
    def in_window(self, mjj) -> np.ndarray:
        """Boolean mask of events inside the analysis window."""
        mjj = check_events_vector(mjj, "mjj")
        return (mjj >= self.window[0]) & (mjj < self.window[1])

    def in_signal_region(self, mjj) -> np.ndarray:
        """Boolean mask of events inside the signal region (M1)."""
        mjj = check_events_vector(mjj, "mjj")
        return (mjj >= self.low) & (mjj < self.high)

    def in_sidebands(self, mjj) -> np.ndarray:
        """Boolean mask of events in the window but outside the signal region (M2)."""
        return self.in_window(mjj) & ~self.in_signal_region(mjj)

    # -- labels and counts ----------------------------------------------------------------
    def counts(self, mjj) -> dict:
        """Number of events in the signal region, the sidebands and outside the window."""
        in_window = self.in_window(mjj)
        n_sr = int(self.in_signal_region(mjj).sum())
        return {
            "signal_region": n_sr,
            "sidebands": int(in_window.sum()) - n_sr,
            "outside_window": int((~in_window).sum()),
        }

    def check_populated(self, mjj) -> None:
        """Raise a ValueError if the signal region or the sidebands hold no event."""
        counts = self.counts(mjj)
        for name, label in (("signal_region", "signal region"), ("sidebands", "sidebands")):
            if counts[name] == 0:
                raise ValueError(
                    f"the {label} of {self} holds no event ({counts}); check the units of mjj "
                    f"(GeV) and the region boundaries."
                )

    def labels(self, mjj) -> np.ndarray:
        """Region label per event: 1 in the signal region (M1), 0 in the sidebands (M2).

        Raises
        ------
        ValueError
            If some event lies outside the window (select with :meth:`in_window` first) or
            if the signal region or the sidebands are empty.
        """
        mjj = check_events_vector(mjj, "mjj")
        outside = ~self.in_window(mjj)
        if outside.any():
            raise ValueError(
                f"{int(outside.sum())} of {mjj.size} events lie outside the window "
                f"[{self.window[0]:g}, {self.window[1]:g}) GeV; keep only events with "
                f"region.in_window(mjj) before labelling."
            )
        self.check_populated(mjj)
        return self.in_signal_region(mjj).astype(np.int8)

    # -- binning --------------------------------------------------------------------------
    @property
    def boundaries(self) -> tuple[float, float, float, float]:
        """Window and signal-region boundaries, ascending."""
        return (self.window[0], self.low, self.high, self.window[1])

    def bin_edges(self, mjj, rel_uncertainty: float = 0.01, *, min_count=None) -> np.ndarray:
        """Equal-count m_jj bin edges with the region boundaries among them.

        Each of the three segments (lower sideband, signal region, upper sideband) is split
        into equal-count bins holding at least ``1/rel_uncertainty**2`` events each, so a test
        binned on these edges never mixes signal region and sidebands in one bin. Events
        outside the window do not enter.

        Parameters
        ----------
        mjj : array-like of shape (n_events,)
        rel_uncertainty : float, default=0.01
            Target relative Poisson uncertainty of every bin.
        min_count : int, optional
            Fewest events a bin must hold, when it is not ``1/rel_uncertainty**2`` (a test of
            pooled data and simulation needs more per pooled bin so that the smaller sample
            meets the target).

        Raises
        ------
        ValueError
            If a segment holds fewer events than one bin needs.
        """
        rel_uncertainty = check_open_unit_interval(rel_uncertainty, "rel_uncertainty")
        mjj = check_events_vector(mjj, "mjj")
        if min_count is None:
            min_count = min_count_for(rel_uncertainty)
        else:
            min_count = check_positive_int(min_count, "min_count")
        names = ("lower sideband", "signal region", "upper sideband")
        bounds = self.boundaries
        edges = [bounds[0]]
        for name, lo, hi in zip(names, bounds[:-1], bounds[1:]):
            segment = mjj[(mjj >= lo) & (mjj < hi)]
            if segment.size < min_count:
                raise ValueError(
                    f"the {name} [{lo:g}, {hi:g}) GeV holds {segment.size} events, fewer than the "
                    f"{min_count} one bin needs at rel_uncertainty={rel_uncertainty:g}; use more "
                    f"events or a larger rel_uncertainty."
                )
            inner = equal_count_binning(segment, min_count).edges[1:-1]
            edges.extend(inner.tolist())
            edges.append(hi)
        return np.asarray(edges)

    def __str__(self) -> str:
        return (
            f"SignalRegion(SR [{self.low:g}, {self.high:g}) GeV in window "
            f"[{self.window[0]:g}, {self.window[1]:g}) GeV)"
        )
