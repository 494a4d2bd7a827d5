"""Resampled null distributions through joblib, identical for any ``n_jobs`` or backend.

The resamples are split into fixed-size batches and each batch gets its own child
:class:`~numpy.random.SeedSequence`, spawned in the parent. How batches are spread over
workers therefore cannot change the result, and moving the work to Dask or Ray with
``joblib.parallel_config(backend=...)`` gives the same numbers.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from ..utils.progress import progress
from ..utils.random import as_seed_sequence
from ..utils.validation import check_positive_int

__all__ = ["resample_null", "check_null_method"]


def resample_null(
    batch_statistics,
    n_resamples: int,
    *,
    args=(),
    batch_size: int = 100,
    random_state=None,
    n_jobs=None,
    verbose=0,
    desc="null resamples",
) -> np.ndarray:
    """Draw ``n_resamples`` statistics under the null, in parallel batches.

    Parameters
    ----------
    batch_statistics : callable
        Module-level function ``batch_statistics(rng, n, *args) -> ndarray of shape (n,)``
        that draws ``n`` null statistics with the :class:`numpy.random.Generator` ``rng``.
    n_resamples : int
        Total number of null statistics.
    args : tuple
        Extra arguments passed to every batch (the data, fixed binning, ...).
    batch_size : int, default=100
        Resamples per task. Part of the seeding: keep it fixed to reproduce a result.
    random_state : None, int, RandomState, Generator or SeedSequence
        Root of the batch seeds.
    n_jobs : int or None
        Workers, through joblib (``None`` means 1 unless inside ``joblib.parallel_config``).
    verbose : int
        Progress bar when > 0.

    Returns
    -------
    ndarray of shape (n_resamples,)
    """
    sizes = [batch_size] * (n_resamples // batch_size)
    if n_resamples % batch_size:
        sizes.append(n_resamples % batch_size)
    seeds = as_seed_sequence(random_state).spawn(len(sizes))
    tasks = (
        delayed(_run_batch)(batch_statistics, seed, size, args) for seed, size in zip(seeds, sizes)
    )
    results = Parallel(n_jobs=n_jobs, return_as="generator")(tasks)
    batches = list(progress(results, total=len(sizes), verbose=verbose, desc=desc))
    return np.concatenate(batches) if batches else np.empty(0)


def check_null_method(method, methods, n_resamples) -> None:
    """Validate a test's ``method`` against ``methods`` and, if it resamples, ``n_resamples``."""
    if method not in methods:
        raise ValueError(f"method must be one of {methods}; got {method!r}.")
    if method != "asymptotic":
        check_positive_int(n_resamples, "n_resamples")


def _run_batch(batch_statistics, seed, size, args):
    return np.asarray(batch_statistics(np.random.default_rng(seed), size, *args), dtype=np.float64)
