"""Seeded work in fixed batches through joblib: the one runner of resampling, toys and folds.

Every parallel loop of nhtad (null resamples, toys, calibration toys, cross-fitted trainings)
follows the recipe of scikit-learn's ``permutation_test_score``:

1. the seeds are made in the parent, as children of one :class:`~numpy.random.SeedSequence`
   built from the spawn key alone (:func:`~nhtad.utils.random.spawn_children`,
   :func:`~nhtad.utils.random.child_seed`), never with ``SeedSequence.spawn`` on a user's
   object, which counts its calls and would give other children the second time;
2. the work is cut into batches of a fixed size (:func:`fixed_batches`), each carrying its own
   seeds, so which worker runs a batch, how many workers there are and which joblib backend
   runs them (``joblib.parallel_config(backend="dask")`` moves them to a cluster) cannot
   change a number;
3. :func:`run_batches` hands the batches to ``joblib.Parallel`` as a generator, with a progress
   bar, and stops joblib's workers when interrupted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

from sklearn.utils.parallel import Parallel, delayed

from .interrupt import sigterm_as_exit
from .progress import progress
from .validation import check_positive_int

__all__ = ["fixed_batches", "run_batches"]


def fixed_batches(items: Sequence, batch_size: int) -> list:
    """``items`` cut into consecutive batches of ``batch_size`` (the last one may be shorter).

    The cut depends on ``items`` and ``batch_size`` only, never on the number of workers: with
    seeds attached to the items (or to the batches), the result is the same for any ``n_jobs``.

    Parameters
    ----------
    items : sequence
        Anything that slices: a list of seeds, an array of toy indices, a ``range``.
    batch_size : int
        Items per batch, >= 1.

    Returns
    -------
    list
        Slices of ``items``, in order.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    return [items[k : k + batch_size] for k in range(0, len(items), batch_size)]


def _run_one(k, task, batch, args):
    # The batch's position travels with its result: unordered results come back as they finish.
    return k, task(batch, *args)


def run_batches(
    task: Callable,
    batches: Sequence,
    *,
    args=(),
    n_jobs=None,
    ordered: bool = True,
    on_result: Callable | None = None,
    verbose=0,
    desc=None,
) -> list:
    """``[task(batch, *args) for batch in batches]``, in parallel through joblib.

    Each batch must carry everything that makes its result, its seeds included (made in the
    parent, see the module docstring), so the result never depends on ``n_jobs`` or the
    backend.

    Parameters
    ----------
    task : callable
        ``task(batch, *args)``; a module-level function, so that process-based backends can
        pickle it.
    batches : sequence
        One joblib task each, e.g. from :func:`fixed_batches`.
    args : tuple
        Passed to every task after its batch (the data, the estimator, ...).
    n_jobs : int or None
        joblib workers (``None`` is 1 unless inside ``joblib.parallel_config``).
    ordered : bool, default=True
        Receive the results in batch order (``return_as="generator"``); ``False`` receives
        them as they finish (``"generator_unordered"``), so that ``on_result`` can save each
        finished batch at once. The returned list is in batch order either way.
    on_result : callable, optional
        ``on_result(batch, result)`` in the parent for each finished batch, e.g. to append it
        to a checkpoint; an exception it raises stops the run.
    verbose : int, default=0
        Progress bar over batches when > 0.
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    list
        ``task``'s result for every batch, in batch order.

    Notes
    -----
    A Ctrl-C, a SIGTERM (raised as ``SystemExit(143)`` while the run lasts, when the program
    has no SIGTERM handler of its own, see :func:`~nhtad.utils.interrupt.sigterm_as_exit`) or
    any other exception stops joblib's workers at once and propagates; what ``on_result`` has
    received by then is the caller's to keep.
    """
    results = [None] * len(batches)
    if not batches:
        return results
    tasks = (delayed(_run_one)(k, task, batch, args) for k, batch in enumerate(batches))
    how = "generator" if ordered else "generator_unordered"
    finished = None
    try:
        with sigterm_as_exit():
            finished = Parallel(n_jobs=n_jobs, return_as=how)(tasks)
            for k, result in progress(finished, total=len(batches), verbose=verbose, desc=desc):
                results[k] = result
                if on_result is not None:
                    on_result(batches[k], result)
    except BaseException:
        if finished is not None:
            # Closing the generator makes joblib stop (and kill) its workers now, rather than
            # when the generator is garbage-collected, which a traceback holding it delays.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                finished.close()
        raise
    return results
