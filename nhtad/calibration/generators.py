"""Toy generators: callables of a ``random_state`` returning the arrays a test is fitted on."""

from __future__ import annotations

import logging

import numpy as np

from ..utils.random import as_seed_sequence
from ..utils.validation import check_positive_int
from .toys import toy_seed

__all__ = ["ReferenceResampler", "LHCOToys", "SimulationSplitToys"]

logger = logging.getLogger(__name__)


class ReferenceResampler:
    """Null (and signal) toys of NPLM type drawn from a large pool of background events.

    Each call draws, without replacement and disjoint, ``n_reference`` reference rows and
    ``n_data`` data rows from ``background`` (NPLM-FLK ``toy.py``: each toy re-draws both samples
    from large pools), optionally Poisson-fluctuates the data count, and appends ``n_signal``
    rows of ``signal`` to the data. It returns ``(X, y)`` with ``y = 1`` for data and ``0`` for
    reference, the input of :class:`~nhtad.scoring.NPLMKernelEstimator`.

    Parameters
    ----------
    background : array-like of shape (n_pool, n_features)
        The background pool.
    n_reference : int
        Reference rows per toy.
    n_data : int
        Background rows in the data per toy (the Poisson mean when ``poisson``).
    poisson : bool, default=False
        Draw the data's background and signal counts from Poisson(n_data) and Poisson(n_signal).
    signal : array-like of shape (n_signal_pool, n_features) or None
        Pool of signal events; ``None`` gives null toys.
    n_signal : int, default=0
        Signal rows added to the data per toy (the Poisson mean when ``poisson``).
    """

    def __init__(self, background, n_reference, n_data, *, poisson=False, signal=None, n_signal=0):
        self.background = np.asarray(background, dtype=np.float64)
        if self.background.ndim != 2:
            raise ValueError(
                f"background must be 2-D (events x features); got shape {self.background.shape}."
            )
        if not np.all(np.isfinite(self.background)):
            raise ValueError("background contains NaN or inf; clean the pool first.")
        self.n_reference = check_positive_int(n_reference, "n_reference")
        self.n_data = check_positive_int(n_data, "n_data")
        self.poisson = bool(poisson)
        self.signal = None if signal is None else np.asarray(signal, dtype=np.float64)
        self.n_signal = check_positive_int(n_signal, "n_signal", minimum=0)
        if self.n_signal and (
            self.signal is None or self.signal.shape[1:] != self.background.shape[1:]
        ):
            raise ValueError("n_signal > 0 needs a signal pool with the background's features.")
        # With Poisson counts the data can exceed n_data; leave room for 5 standard deviations.
        need = (
            self.n_reference + self.n_data + (5 * int(np.sqrt(self.n_data)) + 5 if poisson else 0)
        )
        if need > self.background.shape[0]:
            raise ValueError(
                f"the background pool has {self.background.shape[0]} events, fewer than the "
                f"{need} that disjoint reference ({self.n_reference}) and data ({self.n_data}) "
                "samples need. Give a larger pool or smaller samples."
            )
        if self.background.shape[0] < 10 * (self.n_reference + self.n_data):
            logger.warning(
                "the background pool (%d) is less than 10x the toy size (%d): toys overlap much "
                "and the null distribution is narrower than the true one.",
                self.background.shape[0],
                self.n_reference + self.n_data,
            )

    def __call__(self, random_state):
        rng = np.random.default_rng(as_seed_sequence(random_state))
        n_bkg = int(rng.poisson(self.n_data)) if self.poisson else self.n_data
        n_bkg = min(n_bkg, self.background.shape[0] - self.n_reference)
        rows = rng.choice(self.background.shape[0], self.n_reference + n_bkg, replace=False)
        parts = [self.background[rows[self.n_reference :]]]
        if self.n_signal:
            n_sig = int(rng.poisson(self.n_signal)) if self.poisson else self.n_signal
            parts.append(
                self.signal[
                    rng.choice(self.signal.shape[0], n_sig, replace=n_sig > self.signal.shape[0])
                ]
            )
        data = np.concatenate(parts)
        X = np.concatenate([data, self.background[rows[: self.n_reference]]])
        y = np.r_[np.ones(data.shape[0], np.int8), np.zeros(self.n_reference, np.int8)]
        return X, y

    def __repr__(self):
        return (
            f"ReferenceResampler(pool={self.background.shape[0]}, n_reference={self.n_reference}, "
            f"n_data={self.n_data}, poisson={self.poisson}, n_signal={self.n_signal})"
        )


class LHCOToys:
    """Toys from the embedded LHCO-like generator (:func:`~nhtad.datasets.make_lhco_like`),
    or from another event source such as an LHCO file's :class:`~nhtad.datasets.EventPool`.

    Each call generates a fresh sample (and, for ``kind="template"``, a fresh independent
    reference), so toys differ in everything, as real repetitions of the experiment would.

    Parameters
    ----------
    n_background : int
        Background events generated over the full m_jj range per toy (about 25% fall in the
        default 3.1-3.9 TeV window, about 12% in the 3.3-3.7 TeV signal region).
    signal_to_background : float, default=0.0
        Injected S/B in the window; 0 gives null toys.
    kind : {"template", "regions", "mjj"}, default="template"
        What a toy returns:

        - ``"template"`` (Grosso et al., idealised setting): ``(X, y)`` with the NPLM features
          (:func:`~nhtad.datasets.nplm_features`) of the signal-region events, ``y = 1`` for the
          data and ``0`` for an independent background sample ``reference_ratio`` times larger;
        - ``"regions"`` (Kamenik & Szewc, plain CWoLa): ``(X, region)`` with the SA-CWoLa
          features of the window events and ``region = 1`` in the signal region, ``0`` in
          the sidebands;
        - ``"mjj"``: ``(None, mjj)`` of the window events: no score and m_jj, the ``(s, y)``
          of :class:`~nhtad.stats.BumpHuntTest` without a cut.
    reference_ratio : float, default=2.0
        Size of the reference relative to the data's background (``kind="template"``).
    include_mjj : bool, default=False
        Add m_jj as a feature (the 6-D end-to-end NPLM; ``kind="template"``).
    region : SignalRegion or None
        Window and signal region; default ``SignalRegion()``.
    signal : {"resonant", "nonresonant"}, default="resonant"
        The generator's signal (ignored with ``source``).
    source, reference_source : callable or None
        Where the data and the reference come from instead of the generator: a callable
        ``source(n, signal_to_background, region=, random_state=)`` returning a Bunch with
        ``events`` and ``truth``, e.g. the two halves of
        :meth:`EventPool.split <nhtad.datasets.EventPool.split>` of an LHCO file, so that no
        toy's reference shares events with its data. ``reference_source`` defaults to
        ``source``, which is right only for a generator.
    shuffle : bool, default=False
        Permute the rows of every toy (``X`` and its labels together) with a seed derived from
        the toy's own, so the same seed still gives the same toy. Without it a ``"template"``
        toy lists all data rows before all reference rows, and an unshuffled ``KFold`` then
        makes folds of one class only: cross-validate such toys with
        ``StratifiedKFold(shuffle=True, random_state=...)``, or pass ``shuffle=True``. Shuffled
        toys are as valid, but not the same toys for a test that draws by row position (NPLM's
        random centres, mini-batch order): keep one setting for a whole calibration. The
        default keeps the row order, and so every existing calibration and study, bit for bit.
    generate : {"full", "kept"}, default="full"
        ``"full"`` generates every event over the generator's m_jj range and cuts to the region
        the toy uses (the toys of earlier releases, bit for bit); ``"kept"`` generates only the
        events the toy returns (``make_lhco_like(keep=...)``: the signal region for
        ``"template"``, the window otherwise), with the same joint law of counts and events,
        about 8x (window) to 20x (signal region) cheaper. Other toys for the same seed, so keep
        one setting for a whole calibration. Only for the embedded generator.
    """

    # A class attribute, set on the instance only when True: the run identity hashes the
    # instance's attributes, so checkpoints and saved runs of unshuffled toys made before
    # ``shuffle`` existed keep resuming and merging.
    shuffle = False
    generate = "full"

    def __init__(
        self,
        n_background,
        signal_to_background=0.0,
        *,
        kind="template",
        reference_ratio=2.0,
        include_mjj=False,
        region=None,
        signal="resonant",
        source=None,
        reference_source=None,
        shuffle=False,
        generate="full",
    ):
        from ..datasets import SignalRegion

        self.n_background = check_positive_int(n_background, "n_background")
        self.signal_to_background = float(signal_to_background)
        if not (np.isfinite(self.signal_to_background) and self.signal_to_background >= 0):
            raise ValueError(
                f"signal_to_background must be a finite number >= 0; got {signal_to_background!r}."
            )
        if kind not in ("template", "regions", "mjj"):
            raise ValueError(f"kind must be 'template', 'regions' or 'mjj'; got {kind!r}.")
        self.kind = kind
        self.reference_ratio = float(reference_ratio)
        if not (np.isfinite(self.reference_ratio) and self.reference_ratio > 0):
            raise ValueError(f"reference_ratio must be > 0; got {reference_ratio!r}.")
        self.include_mjj = bool(include_mjj)
        self.region = SignalRegion() if region is None else region
        self.signal = signal
        for name, value in (("source", source), ("reference_source", reference_source)):
            if value is not None and not callable(value):
                raise ValueError(f"{name} must be a callable event source; got {value!r}.")
        self.source = source
        self.reference_source = reference_source
        if not isinstance(shuffle, bool | np.bool_):
            raise ValueError(f"shuffle must be True or False; got {shuffle!r}.")
        if shuffle:
            self.shuffle = True
        if generate not in ("full", "kept"):
            raise ValueError(f"generate must be 'full' or 'kept'; got {generate!r}.")
        if generate == "kept":
            if source is not None or reference_source is not None:
                raise ValueError(
                    "generate='kept' is for the embedded generator; an event source already "
                    "holds its events (drop generate, or source)."
                )
            self.generate = "kept"

    def _sources(self):
        from functools import partial

        from ..datasets import make_lhco_like

        if self.source is None:
            data = partial(make_lhco_like, signal=self.signal)
            return data, self.reference_source or make_lhco_like
        return self.source, self.reference_source or self.source

    def __call__(self, random_state):
        root = as_seed_sequence(random_state)
        X, y = self._toy(root)
        if not self.shuffle:
            return X, y
        # Child 2 of the toy's seed: children 0 and 1 draw the events, which stay as they are.
        order = np.random.default_rng(toy_seed(root, 2)).permutation(y.shape[0])
        return (None if X is None else X[order]), y[order]

    def _toy(self, root):
        from ..datasets import nplm_features, sacwola_features

        # Children built from the spawn key, not .spawn(), which counts its calls: the same
        # seed must give the same toy every time it is passed.
        data_seed, reference_seed = toy_seed(root, 0), toy_seed(root, 1)
        data_source, reference_source = self._sources()
        keep = {}
        if self.generate == "kept":
            region = self.region
            kept = (region.low, region.high) if self.kind == "template" else region.window
            keep = {"keep": kept}
        sample = data_source(
            self.n_background,
            self.signal_to_background,
            region=self.region,
            random_state=data_seed,
            **keep,
        )
        mjj = sample.events["mjj"]
        if self.kind == "mjj":
            return None, mjj[self.region.in_window(mjj)]
        if self.kind == "regions":
            window = self.region.in_window(mjj)
            return sacwola_features(sample.events[window]), self.region.labels(mjj[window])
        reference = reference_source(
            int(round(self.reference_ratio * self.n_background)),
            0.0,
            region=self.region,
            random_state=reference_seed,
            **keep,
        )
        data = sample.events[self.region.in_signal_region(mjj)]
        ref = reference.events[self.region.in_signal_region(reference.events["mjj"])]
        X = np.concatenate(
            [
                nplm_features(data, include_mjj=self.include_mjj),
                nplm_features(ref, include_mjj=self.include_mjj),
            ]
        )
        y = np.r_[np.ones(data.size, np.int8), np.zeros(ref.size, np.int8)]
        return X, y

    def __repr__(self):
        return (
            f"LHCOToys(n_background={self.n_background}, "
            f"signal_to_background={self.signal_to_background}, kind={self.kind!r}"
            f"{', shuffle=True' if self.shuffle else ''}"
            f"{', generate=' + repr(self.generate) if self.generate != 'full' else ''})"
        )


class SimulationSplitToys:
    """Whole-chain toys of an SA-CWoLa analysis drawn from its simulated background.

    Every call shuffles the simulation and splits it into a pseudo-data sample and a disjoint
    pseudo-simulation sample, returned as the keyword arguments of
    :meth:`SACWoLaTest.fit <nhtad.SACWoLaTest.fit>` (``X``, ``mjj``, ``is_simulation``), so a
    :class:`~nhtad.calibration.ToyCalibrator` retrains the classifier and reruns the test on
    every toy. The calibration then holds under one assumption: that the simulation *is* the
    background, its feature/m_jj dependence included. It answers "how does the whole chain
    behave on background like my simulation", which differs from the data's null whenever the
    simulation mismodels the dependence the score picks up.

    Parameters
    ----------
    X : array-like of shape (n_simulated, n_features)
        Features of the simulated background (in the analysis window).
    mjj : array-like of shape (n_simulated,)
        Its resonant mass.
    n_data : int, default=None
        Pseudo-data events per toy; default half the pool.
    n_simulation : int, default=None
        Pseudo-simulation events per toy; default the rest of the pool after ``n_data``.
    """

    def __init__(self, X, mjj, *, n_data=None, n_simulation=None):
        self.X = np.asarray(X, dtype=np.float64)
        self.mjj = np.asarray(mjj, dtype=np.float64)
        if self.X.ndim != 2 or self.mjj.ndim != 1 or self.X.shape[0] != self.mjj.shape[0]:
            raise ValueError(
                "X must be 2-D (events x features) with one mjj per event; got shapes "
                f"{self.X.shape} and {self.mjj.shape}."
            )
        if not (np.isfinite(self.X).all() and np.isfinite(self.mjj).all()):
            raise ValueError("X and mjj must be finite; clean the simulated sample first.")
        pool = self.mjj.shape[0]
        self.n_data = pool // 2 if n_data is None else check_positive_int(n_data, "n_data")
        rest = pool - self.n_data
        self.n_simulation = (
            rest if n_simulation is None else check_positive_int(n_simulation, "n_simulation")
        )
        if rest < 1 or self.n_data + self.n_simulation > pool:
            raise ValueError(
                f"the simulation holds {pool} events, fewer than the {self.n_data} pseudo-data "
                f"plus {max(self.n_simulation, 1)} pseudo-simulation events a toy needs; give a "
                "larger simulated sample or smaller toys."
            )

    def __call__(self, random_state):
        rng = np.random.default_rng(as_seed_sequence(random_state))
        rows = rng.permutation(self.mjj.shape[0])[: self.n_data + self.n_simulation]
        is_sim = np.r_[np.zeros(self.n_data, bool), np.ones(self.n_simulation, bool)]
        return {"X": self.X[rows], "mjj": self.mjj[rows], "is_simulation": is_sim}

    def __repr__(self):
        return (
            f"SimulationSplitToys(pool={self.mjj.shape[0]}, n_data={self.n_data}, "
            f"n_simulation={self.n_simulation})"
        )
