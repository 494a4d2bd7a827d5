"""Seeding without global state.

Every random draw in nhtad starts from a :class:`numpy.random.SeedSequence` built from the
user's ``random_state``. Resampling and toys spawn child sequences in the parent process, so a
result depends on ``random_state`` only, never on ``n_jobs`` or the joblib backend.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_seed_sequence", "spawn_seed_sequences", "child_seed"]


def as_seed_sequence(random_state) -> np.random.SeedSequence:
    """Turn any accepted ``random_state`` into a :class:`~numpy.random.SeedSequence`.

    Parameters
    ----------
    random_state : None, int, numpy.random.RandomState, numpy.random.Generator or SeedSequence
        ``None`` draws fresh OS entropy; an int gives reproducible results; a RandomState or
        Generator is consumed (one draw) so that repeated calls give different streams, as in
        scikit-learn.
    """
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer; got {random_state}.")
        return np.random.SeedSequence(int(random_state))
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(random_state.randint(0, 2**31 - 1, size=4).tolist())
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(random_state.integers(0, 2**63 - 1, size=2).tolist())
    raise ValueError(
        "random_state must be None, an int, a numpy RandomState, Generator or SeedSequence; "
        f"got {random_state!r}."
    )


def spawn_seed_sequences(random_state, n: int) -> list[np.random.SeedSequence]:
    """Spawn ``n`` independent child seed sequences in the calling (parent) process."""
    return as_seed_sequence(random_state).spawn(n)


def child_seed(seed: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """The ``k``-th child of ``seed``, equal to ``seed.spawn(n)[k]`` on a fresh ``seed``.

    :meth:`~numpy.random.SeedSequence.spawn` counts its calls, so a second call gives other
    children; building the child from the spawn key keeps it a pure function of ``seed``, so
    the same seed passed twice gives the same draws.
    """
    return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, int(k)))
