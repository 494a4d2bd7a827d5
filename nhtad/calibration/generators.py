"""Toy generators: callables of a ``random_state`` returning the arrays a test is fitted on."""

from __future__ import annotations

import logging

import numpy as np

from ..utils.random import as_seed_sequence
from ..utils.validation import check_positive_int

__all__ = ["ReferenceResampler"]

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
