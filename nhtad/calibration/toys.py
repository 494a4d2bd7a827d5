"""Run a test (or an estimator with a ``statistic_``) on many toys, reproducibly and in parallel.

Seeds are the first ``n_toys`` children of ``SeedSequence(random_state)``, made in the parent by
:func:`~nhtad.utils.random.spawn_children` (which, unlike ``.spawn``, leaves a user's
SeedSequence untouched, so passing it again gives the same toys); toy ``i`` uses only child ``i``
(one grandchild for the generator, one for the estimator's ``random_state``, e.g. NPLM's
centres, which are therefore re-drawn every toy). Toys are grouped into batches of fixed
size for joblib, so the result is the same for any ``n_jobs`` and any joblib backend
(``joblib.parallel_config(backend="dask")`` moves them to a cluster).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.utils.parallel import Parallel, delayed

from ..utils.progress import progress
from ..utils.random import as_seed_sequence, child_seed, spawn_children
from ..utils.validation import check_positive_int

__all__ = ["ToyStatistics", "run_toys", "run_one_toy", "toy_seed"]


@dataclass(frozen=True, eq=False)
class ToyStatistics:
    """Statistics of ``n_toys`` toys and the seeds that made them.

    Attributes
    ----------
    statistics : ndarray of shape (n_toys,) or (n_toys, n_statistics)
        ``statistic_`` of each toy's fit (one column per width for a multi-width NPLM fit).
    seeds : list of numpy.random.SeedSequence
        Toy ``i`` is reproduced alone by ``run_one_toy(estimator, generator, seeds[i])``.
    """

    statistics: np.ndarray
    seeds: list


def toy_seed(root: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """Seed of toy ``i`` of the run rooted at ``root``: ``root.spawn(n)[i]``, for any ``n``."""
    return child_seed(root, int(i))


def _toy_seeds(seed: np.random.SeedSequence):
    generator_seed, estimator_seed = child_seed(seed, 0), child_seed(seed, 1)
    return generator_seed, int(estimator_seed.generate_state(1, np.uint32)[0])


def _final_step(estimator):
    # A Pipeline's statistic lives on its last step (the test).
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _reseed(estimator, seed: np.random.SeedSequence, estimator_seed: int):
    """Set every ``random_state`` parameter of ``estimator``, nested ones included."""
    params = estimator.get_params(deep=True)
    updates = {}
    if "random_state" in params:
        updates["random_state"] = estimator_seed
    nested = sorted(k for k in params if k.endswith("__random_state"))
    for j, key in enumerate(nested):
        # Distinct streams per step (score training, test resampling), all from the toy's seed.
        updates[key] = int(child_seed(child_seed(seed, 2), j).generate_state(1, np.uint32)[0])
    if updates:
        estimator.set_params(**updates)


def run_one_toy(estimator, generator, seed: np.random.SeedSequence, statistic="statistic_"):
    """Fit a clone of ``estimator`` on ``generator(seed)`` and return its statistic.

    The generator returns a tuple (``fit(*arrays)``) or a dict (``fit(**arrays)``, for
    estimators with keyword-only inputs such as :class:`~nhtad.SACWoLaTest`'s
    ``is_simulation``).

    Every ``random_state`` parameter of the clone (nested ones of a Pipeline or meta-estimator
    too) is set from ``seed``; the statistic is read from the last step of a Pipeline.
    """
    generator_seed, estimator_seed = _toy_seeds(seed)
    arrays = generator(generator_seed)
    if isinstance(arrays, Mapping):
        args, kwargs = (), dict(arrays)
    elif isinstance(arrays, tuple):
        args, kwargs = arrays, {}
    else:
        raise ValueError(
            "the generator must return a tuple of arrays to fit on, or a dict of fit's keyword "
            f"arguments (e.g. X, mjj, is_simulation); got {type(arrays).__name__}."
        )
    est = clone(estimator)
    _reseed(est, seed, estimator_seed)
    est.fit(*args, **kwargs)
    return np.asarray(getattr(_final_step(est), statistic), dtype=np.float64)


def _run_batch(estimator, generator, seeds, statistic):
    return [run_one_toy(estimator, generator, seed, statistic) for seed in seeds]


def run_toys(
    estimator,
    generator,
    n_toys: int,
    *,
    statistic: str = "statistic_",
    batch_size: int = 10,
    n_jobs=None,
    random_state=None,
    verbose=0,
) -> ToyStatistics:
    """Fit ``estimator`` on ``n_toys`` toys from ``generator`` and collect their statistics.

    Parameters
    ----------
    estimator : estimator
        Cloned per toy; ``fit(*generator(seed))`` must set the attribute ``statistic``. Its
        ``random_state`` (if any) is set per toy.
    generator : callable
        ``generator(random_state) -> tuple of arrays`` (or a dict of keyword arguments), e.g.
        :class:`~nhtad.calibration.ReferenceResampler`.
    n_toys : int
    statistic : str, default ``"statistic_"``
        Fitted attribute to collect.
    batch_size : int, default=10
        Toys per joblib task (amortises dispatch; does not change the result).
    n_jobs : int or None
        joblib workers.
    random_state : None, int, Generator, RandomState or SeedSequence
    verbose : int
        Progress bar over batches when > 0.
    """
    n_toys = check_positive_int(n_toys, "n_toys")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not callable(generator):
        raise ValueError(f"generator must be a callable of a random_state; got {generator!r}.")
    seeds = spawn_children(as_seed_sequence(random_state), n_toys)
    batches = [seeds[i : i + batch_size] for i in range(0, n_toys, batch_size)]
    tasks = (delayed(_run_batch)(estimator, generator, batch, statistic) for batch in batches)
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    values = [
        v
        for batch in progress(results, total=len(batches), verbose=verbose, desc="toys")
        for v in batch
    ]
    return ToyStatistics(statistics=np.stack(values), seeds=seeds)
