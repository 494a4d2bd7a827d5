"""Seeding without global state.

Every random draw in nhtad starts from a :class:`numpy.random.SeedSequence` built from the
user's ``random_state``. Resampling and toys spawn child sequences in the parent process, so a
result depends on ``random_state`` only, never on ``n_jobs`` or the joblib backend.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_seed_sequence", "spawn_seed_sequences", "spawn_children", "child_seed"]


def as_seed_sequence(random_state) -> np.random.SeedSequence:
    """Turn any accepted ``random_state`` into a :class:`~numpy.random.SeedSequence`.

    Parameters
    ----------
    random_state : None, int, numpy.random.RandomState, numpy.random.Generator or SeedSequence
        ``None`` draws fresh OS entropy; an int gives reproducible results; a RandomState or
        Generator is consumed (one draw) so that repeated calls give different streams, as in
        scikit-learn. A SeedSequence is returned as is and nhtad never spawns from it in place
        (:func:`spawn_children`), so passing the same one twice reproduces the result.
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
    """``n`` independent child seed sequences of ``random_state``, made in the calling process.

    The same as :func:`spawn_children` of :func:`as_seed_sequence`: a SeedSequence passed
    twice gives the same children both times.
    """
    return spawn_children(as_seed_sequence(random_state), n)


def child_seed(seed: np.random.SeedSequence, k: int) -> np.random.SeedSequence:
    """The ``k``-th child of ``seed``, equal to ``seed.spawn(n)[k]`` on a fresh ``seed``.

    :meth:`~numpy.random.SeedSequence.spawn` counts its calls, so a second call gives other
    children; building the child from the spawn key keeps it a pure function of ``seed``, so
    the same seed passed twice gives the same draws.
    """
    return np.random.SeedSequence(
        seed.entropy, spawn_key=(*seed.spawn_key, int(k)), pool_size=seed.pool_size
    )


def spawn_children(seed: np.random.SeedSequence, n: int) -> list[np.random.SeedSequence]:
    """The first ``n`` children of ``seed``, equal to ``seed.spawn(n)`` on a fresh ``seed``.

    Unlike :meth:`~numpy.random.SeedSequence.spawn`, this leaves ``seed`` untouched, so a
    user's SeedSequence passed twice as ``random_state`` gives the same resamples or toys
    both times. The children are numbered from 0 whatever ``seed.spawn`` was called before:
    do not mix children spawned by hand from a seed with the seed itself as a
    ``random_state``, or both streams will start from the same children.

    Parameters
    ----------
    seed : numpy.random.SeedSequence
    n : int
        Number of children.

    Returns
    -------
    list of numpy.random.SeedSequence
    """
    return [child_seed(seed, k) for k in range(int(n))]
