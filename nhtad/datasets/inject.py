"""Signal injection at a chosen S/B counted in the analysis window, truth kept aside."""

from __future__ import annotations

import numbers

import numpy as np

from ..utils.random import as_seed_sequence
from .events import check_event_table, events_bunch
from .regions import SignalRegion

__all__ = ["inject_signal", "n_signal_for"]


def n_signal_for(signal_to_background, n_background_window: int) -> int:
    """Signal events in the window for a target S/B: ``round(S/B * B_window)``."""
    if (
        isinstance(signal_to_background, bool)
        or not isinstance(signal_to_background, numbers.Real)
        or not np.isfinite(signal_to_background)
        or signal_to_background < 0
    ):
        raise ValueError(
            f"signal_to_background must be a finite number >= 0; got {signal_to_background!r}."
        )
    return int(round(signal_to_background * n_background_window))


def prefix_reaching(in_window: np.ndarray, need: int) -> int | None:
    """Length of the shortest prefix holding ``need`` in-window events (None if none does).

    Taking signal events in a random order up to that point injects exactly ``need`` of them in
    the window together with the tails outside it that came along.
    """
    positions = np.flatnonzero(in_window)
    return int(positions[need - 1]) + 1 if positions.size >= need else None


def combine_shuffled(background, signal, rng):
    """Concatenate background and signal tables in a random order; truth 1 marks signal."""
    events = np.concatenate([background, signal])
    truth = np.concatenate(
        [np.zeros(background.size, dtype=np.int8), np.ones(signal.size, dtype=np.int8)]
    )
    order = rng.permutation(events.size)
    return events[order], truth[order]


def inject_signal(
    background,
    signal_pool,
    signal_to_background,
    *,
    region=None,
    random_state=None,
    as_frame=False,
):
    """Inject signal events into a background sample at a given S/B in the window.

    Signal events are taken from ``signal_pool`` in a random order (seeded), over the full
    m_jj range, until exactly ``round(S/B * B_window)`` of them fall in the window: the
    realistic picture of a signal with tails outside the window. (The reference code injected
    the *first* rows of the signal file, one fixed realisation.)

    Parameters
    ----------
    background : event table or Bunch
        Background-only events.
    signal_pool : event table or Bunch
        Signal events to draw from (e.g. the labelled signal of the LHCO R&D file).
    signal_to_background : float
        Target S/B, counted in ``region.window``.
    region : SignalRegion, optional
        Defines the window; default :class:`SignalRegion()`.
    random_state : None, int, RandomState, Generator or SeedSequence
    as_frame : bool, default=False

    Returns
    -------
    Bunch
        ``events`` (shuffled), ``truth`` (1 = injected signal), ``n_signal``,
        ``n_signal_window``, ``n_background_window``, ``signal_to_background`` (realised).
    """
    region = SignalRegion() if region is None else region
    background = check_event_table(background, "background")
    pool = check_event_table(signal_pool, "signal_pool")
    n_bkg_window = int(region.in_window(background["mjj"]).sum()) if background.size else 0
    n_target = n_signal_for(signal_to_background, n_bkg_window)
    rng = np.random.default_rng(as_seed_sequence(random_state))
    order = rng.permutation(pool.size)
    if n_target == 0:
        take = order[:0]
    else:
        in_window = region.in_window(pool["mjj"][order]) if pool.size else np.zeros(0, bool)
        length = prefix_reaching(in_window, n_target)
        if length is None:
            raise ValueError(
                f"S/B={signal_to_background:g} needs {n_target} signal events in the window but "
                f"the signal pool holds only {int(in_window.sum())} there; use a larger pool or "
                f"a smaller S/B."
            )
        take = order[:length]
    signal = pool[take]
    events, truth = combine_shuffled(background, signal, rng)
    return events_bunch(
        events,
        truth,
        as_frame=as_frame,
        n_signal=int(signal.size),
        n_signal_window=n_target,
        n_background_window=n_bkg_window,
        signal_to_background=n_target / n_bkg_window if n_bkg_window else float("nan"),
    )
