"""Samples drawn from a fixed set of events (an LHCO file) with the generator's call signature.

The studies and the toy generators ask for events as ``source(n_background, signal_to_background,
region=..., random_state=...)``, which :func:`~nhtad.datasets.make_lhco_like` answers by
generating them. :class:`EventPool` answers the same call from events that exist already: the
background of an LHC Olympics file, its labelled signal injected at the requested S/B in the
window (:func:`~nhtad.datasets.inject_signal`). So a study written against the generator runs
unchanged on the real files.
"""

from __future__ import annotations

import numpy as np

from ..utils.random import as_seed_sequence, child_seed
from ..utils.validation import check_positive_int
from .events import check_event_table, events_bunch
from .inject import inject_signal
from .regions import SignalRegion

__all__ = ["EventPool"]


class EventPool:
    """Background and signal events to draw samples from, without replacement.

    Calling the pool draws ``n_background`` background events at random (all of them when
    ``None``) and injects signal from the signal pool at ``signal_to_background`` in the window.
    Draws of one call never repeat an event; different calls (realisations, toys) overlap when
    they ask for a large part of the pool, as resamples of one finite file must.

    Parameters
    ----------
    background : event table
        Background events (:data:`~nhtad.datasets.EVENT_DTYPE`).
    signal : event table or None
        Signal events to inject; ``None`` allows only ``signal_to_background=0``.
    name : str
        Where the events came from, for messages.

    Examples
    --------
    >>> from nhtad.datasets import make_lhco_like
    >>> sample = make_lhco_like(20_000, 0.05, random_state=0)
    >>> pool = EventPool(sample.events[sample.truth == 0], sample.events[sample.truth == 1])
    >>> draw = pool(10_000, 0.01, random_state=1)
    >>> draw.n_signal_window == round(0.01 * draw.n_background_window)
    True
    """

    def __init__(self, background, signal=None, *, name="events"):
        self.background = check_event_table(background, "background")
        self.signal = None if signal is None else check_event_table(signal, "signal")
        self.name = str(name)
        if self.background.size == 0:
            raise ValueError(f"{self.name}: no background events to draw from.")

    @classmethod
    def from_lhco(cls, path, *, masterkey=None, key=None, unlabelled="raise"):
        """The pool of an LHC Olympics 2020 feature file, split by its truth labels.

        Parameters
        ----------
        path : str or path-like
            A high-level feature file (see :func:`~nhtad.datasets.load_lhco`).
        masterkey : str or path-like, optional
            The Black Box truth file; the R&D file carries its own ``label`` column.
        key : str, optional
            HDF5 key, when the file holds more than one table.
        unlabelled : {"raise", "background"}, default="raise"
            What a file without truth labels (no ``label`` column and no masterkey) is:
            an error, or background only (e.g. a simulated background sample).
        """
        from .lhco import load_lhco

        if unlabelled not in ("raise", "background"):
            raise ValueError(f"unlabelled must be 'raise' or 'background'; got {unlabelled!r}.")
        sample = load_lhco(path, masterkey=masterkey, key=key)
        if sample.truth is None:
            if unlabelled == "raise":
                raise ValueError(
                    f"{path} has no truth labels (no 'label' column and no masterkey), so its "
                    "background and signal cannot be told apart; give the Black Box's "
                    "masterkey, or a labelled file such as the R&D features file."
                )
            return cls(sample.events, None, name=str(path))
        truth = np.asarray(sample.truth)
        signal = sample.events[truth == 1]
        return cls(sample.events[truth == 0], signal if signal.size else None, name=str(path))

    @property
    def n_background(self) -> int:
        """Background events in the pool."""
        return int(self.background.size)

    @property
    def n_signal(self) -> int:
        """Signal events in the pool."""
        return 0 if self.signal is None else int(self.signal.size)

    def split(self, fraction, *, random_state=None):
        """Two pools with disjoint background, ``fraction`` of it in the first.

        Both keep the whole signal pool. The idealised NPLM setting draws its data from one and
        its reference from the other, so that no toy's reference shares events with its data.
        """
        fraction = float(fraction)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"fraction must lie in (0, 1); got {fraction!r}.")
        rng = np.random.default_rng(as_seed_sequence(random_state))
        order = rng.permutation(self.n_background)
        cut = int(round(fraction * self.n_background))
        if cut in (0, self.n_background):
            raise ValueError(
                f"{self.name}: {self.n_background} background events cannot be split at "
                f"{fraction:g}; give more events."
            )
        first = EventPool(self.background[order[:cut]], self.signal, name=f"{self.name} (part 1)")
        second = EventPool(self.background[order[cut:]], self.signal, name=f"{self.name} (part 2)")
        return first, second

    def __call__(
        self,
        n_background=None,
        signal_to_background=0.0,
        *,
        region=None,
        random_state=None,
        as_frame=False,
    ):
        """Draw a sample: the counterpart of :func:`~nhtad.datasets.make_lhco_like`.

        Parameters
        ----------
        n_background : int or None
            Background events to draw (over the whole m_jj range of the file); ``None`` takes
            every background event of the pool, in a random order.
        signal_to_background : float, default=0.0
            Injected S/B counted in ``region.window``.
        region : SignalRegion, optional
        random_state : None, int, RandomState, Generator or SeedSequence
        as_frame : bool, default=False

        Returns
        -------
        Bunch
            As :func:`~nhtad.datasets.inject_signal`: ``events``, ``truth``, ``n_signal``,
            ``n_signal_window``, ``n_background_window``, ``signal_to_background``, plus
            ``n_background``.
        """
        region = SignalRegion() if region is None else region
        if n_background is None:
            n_background = self.n_background
        n_background = check_positive_int(n_background, "n_background")
        if n_background > self.n_background:
            raise ValueError(
                f"{self.name} has {self.n_background} background events; {n_background} were "
                "asked for. Ask for fewer (e.g. --n-background) or give a larger file."
            )
        if signal_to_background and self.signal is None:
            raise ValueError(
                f"{self.name} holds no signal events to inject at S/B={signal_to_background:g}; "
                "use a file with labelled signal (the R&D file, or a Black Box with its "
                "masterkey)."
            )
        seed = as_seed_sequence(random_state)
        draw_seed, inject_seed = child_seed(seed, 0), child_seed(seed, 1)
        rng = np.random.default_rng(draw_seed)
        background = self.background[rng.choice(self.n_background, n_background, replace=False)]
        signal = self.signal if self.signal is not None else background[:0]
        sample = inject_signal(
            background, signal, signal_to_background, region=region, random_state=inject_seed
        )
        info = {k: v for k, v in sample.items() if k not in ("events", "truth", "feature_names")}
        return events_bunch(
            sample.events, sample.truth, as_frame=as_frame, n_background=n_background, **info
        )

    def __repr__(self):
        return (
            f"EventPool({self.name!r}, n_background={self.n_background}, n_signal={self.n_signal})"
        )
