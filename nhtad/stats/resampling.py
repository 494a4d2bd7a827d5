"""Resampled null distributions through joblib, identical for any ``n_jobs`` or backend.

The resamples are split into fixed-size batches and each batch gets its own child
:class:`~numpy.random.SeedSequence`, made in the parent, and runs through
:func:`nhtad.utils.batches.run_batches`. How batches are spread over workers therefore cannot
change the result, and moving the work to Dask or Ray with ``joblib.parallel_config(backend=...)``
gives the same numbers.

The p-value of the observed statistic against the resamples is
:func:`nhtad.stats.empirical_pvalue`, which cannot go below ``1 / (n_resamples + 1)`` and
warns (:class:`~nhtad.stats.ToyFloorWarning`) when the statistic lies beyond every resample.
"""

from __future__ import annotations

import numpy as np

from ..utils.batches import fixed_batches, run_batches
from ..utils.random import as_seed_sequence, spawn_children
from ..utils.validation import check_fits_in_memory, check_positive_int

__all__ = ["resample_null", "check_null_method", "check_resamples_fit"]

#: Bytes a resample needs at least: its statistic in the list of batch results and again in
#: the concatenated null distribution.
_BYTES_PER_RESAMPLE = 16
#: Bytes a batch needs beyond its statistics: its SeedSequence, its result array and list
#: entries (measured ~500 with tracemalloc, numpy 2).
_BYTES_PER_BATCH = 500


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

    Raises
    ------
    ValueError
        If ``n_resamples`` cannot fit in this machine's memory (refused before any work).
    """
    check_resamples_fit(n_resamples, batch_size)
    sizes = [len(batch) for batch in fixed_batches(range(n_resamples), batch_size)]
    # One seed per batch: batch k always draws the same resamples, whoever runs it.
    seeds = spawn_children(as_seed_sequence(random_state), len(sizes))
    results = run_batches(
        _run_batch,
        list(zip(seeds, sizes)),
        args=(batch_statistics, args),
        sizes=sizes,
        n_jobs=n_jobs,
        verbose=verbose,
        desc=desc,
    )
    return np.concatenate(results) if results else np.empty(0)


def check_null_method(method, methods, n_resamples) -> None:
    """Validate a test's ``method`` against ``methods`` and, if it resamples, ``n_resamples``."""
    if method not in methods:
        raise ValueError(f"method must be one of {methods}; got {method!r}.")
    if method != "asymptotic":
        check_positive_int(n_resamples, "n_resamples")
        # Refused here, at the start of fit, rather than after the binning or the fit of the
        # statistic (the batch size, unknown here, adds little; resample_null checks it too).
        check_resamples_fit(n_resamples)


def check_resamples_fit(n_resamples: int, batch_size: int | None = None) -> None:
    """Refuse up front ``n_resamples`` whose null statistics cannot fit in memory.

    Parameters
    ----------
    n_resamples : int
    batch_size : int, optional
        Resamples per batch; each batch adds a seed and an array (ignored when None).
    """
    bytes_each = _BYTES_PER_RESAMPLE + (_BYTES_PER_BATCH / batch_size if batch_size else 0.0)
    check_fits_in_memory(
        n_resamples,
        bytes_each,
        name="n_resamples",
        holds="the null statistics",
        fix=(
            "Use fewer resamples: n resamples resolve p-values down to 1/(n + 1) "
            "(n_resamples=9999 reaches p = 1e-4; nhtad.stats.toys_needed(z) gives n for a "
            "significance z). Smaller p-values need a law fitted to the resamples, such as "
            "nhtad.stats.chi2_extrapolation for a chi-square statistic."
        ),
    )


def _run_batch(batch, batch_statistics, args):
    seed, size = batch
    return np.asarray(batch_statistics(np.random.default_rng(seed), size, *args), dtype=np.float64)
