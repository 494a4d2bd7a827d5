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
   bar over the items (toys, resamples), and stops joblib's workers when interrupted;
4. every batch runs under :func:`~nhtad.utils.threads.limit_threads` with the worker's share
   of the cores (:func:`~nhtad.utils.threads.worker_thread_limit`), applied inside the worker
   by the batch itself, so that BLAS, OpenMP and torch threads do not outnumber the cores.

:func:`shutdown_workers` stops joblib's reusable pool of loky worker processes, for the end
of a program or a test session.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from .interrupt import sigterm_as_exit
from .progress import progress_bar
from .threads import limit_threads, worker_thread_limit
from .validation import check_positive_int

__all__ = ["fixed_batches", "run_batches", "shutdown_workers"]

logger = logging.getLogger(__name__)


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


def _run_one(k, task, batch, args, n_threads):
    # The batch's position travels with its result: unordered results come back as they finish.
    # The thread limit travels with the batch too: a loky worker or a Dask worker shares no
    # module state with the parent. torch is limited where the worker has imported it; a
    # worker never imports it for nothing (seconds, hundreds of MB).
    with limit_threads(n_threads):
        return k, task(batch, *args)


def _batch_size(batch) -> int:
    # What fixed_batches makes (slices of a list, range or array) holds items; anything else,
    # e.g. a tuple of one task's arguments, is one item.
    return len(batch) if isinstance(batch, list | range | np.ndarray) else 1


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
    sizes: Sequence[int] | None = None,
    n_threads=None,
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
        Progress bar over the items when > 0.
    desc : str, optional
        Label of the progress bar.
    sizes : sequence of int, optional
        Items in each batch, which the progress bar counts. By default ``len(batch)`` for a
        list, range or array (what :func:`fixed_batches` makes) and 1 for anything else (a
        tuple describing one task, e.g. a seed and a number of resamples: pass ``sizes``
        then).
    n_threads : int, optional
        BLAS/OpenMP/torch threads in each worker. By default the worker's share of the cores
        (:func:`~nhtad.utils.threads.thread_budget`), or ``NHTAD_NUM_THREADS`` when set; with
        one worker the calling process's settings are left alone unless one of the two is
        given.

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

    The thread limit covers the libraries a worker has loaded when a batch starts (those its
    arguments need are loaded while they are unpickled). A worker that first imports torch
    inside a batch runs that batch with torch's default threads, which joblib's loky backend
    sets to ``cores // n_jobs`` through ``OMP_NUM_THREADS``; its later batches are limited.
    """
    results = [None] * len(batches)
    if not batches:
        return results
    if sizes is None:
        sizes = [_batch_size(batch) for batch in batches]
    elif len(sizes) != len(batches):
        raise ValueError(
            f"sizes must give the items of each of the {len(batches)} batches; got "
            f"{len(sizes)} sizes."
        )
    n_threads = worker_thread_limit(n_jobs, n_threads)
    tasks = (delayed(_run_one)(k, task, batch, args, n_threads) for k, batch in enumerate(batches))
    how = "generator" if ordered else "generator_unordered"
    finished = None
    try:
        with sigterm_as_exit(), progress_bar(total=sum(sizes), verbose=verbose, desc=desc) as bar:
            finished = Parallel(n_jobs=n_jobs, return_as=how)(tasks)
            for k, result in finished:
                results[k] = result
                bar.update(sizes[k])
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


def shutdown_workers() -> bool:
    """Stop joblib's reusable pool of loky worker processes now, killing busy workers.

    joblib keeps its loky workers alive between ``Parallel`` calls (and for minutes after the
    last one) to spare their start-up. At interpreter exit, loky asks each worker to stop and
    waits for it without a time limit: a worker that never reads the request (one stuck on a
    queue's semaphore, or still running a task) then keeps the program from exiting after
    its work is done. Call this at the end of a program or test session, before the
    interpreter exits; the next ``Parallel`` call starts a fresh pool.

    The pool is joblib's process-wide singleton, shared with any other joblib user in the
    process; the function does not create one when there is none.

    Returns
    -------
    bool
        Whether there was a pool to stop.
    """
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # a joblib without loky
        return False
    # loky keeps the pool in this module variable; get_reusable_executor() would start one.
    executor = getattr(reusable_executor, "_executor", None)
    if executor is None or executor._flags.shutdown:
        return False
    logger.debug("stopping joblib's loky workers")
    # joblib's MemmappingExecutor also removes its memmapped temporary folders in terminate().
    stop = getattr(executor, "terminate", None) or executor.shutdown
    stop(kill_workers=True)
    return True
