"""Thread limits: how many BLAS, OpenMP and torch threads each piece of nhtad's work may start.

OpenBLAS, the OpenMP runtime of scikit-learn's HistGradientBoosting and torch's intra-op pool
each start one thread per core. Inside joblib workers, or beside other jobs on a shared
machine, these threads outnumber the cores and spin against each other: a boosted fit, a
network training or a small dense factorisation (a few hundred unknowns, as nhtad's statistics
solve) then runs many times slower than alone (measurements: ``docs/benchmarks.md``).

The policy:

* :func:`thread_budget` gives each of ``n_jobs`` workers ``cores // n_jobs`` threads (at least
  one), so that workers x threads never exceed the cores this process may run on;
* the environment variable ``NHTAD_NUM_THREADS`` (a positive integer) replaces that budget
  everywhere, also for work that runs in the calling process with ``n_jobs=1`` (which is
  otherwise left alone): set it to 1 on a busy machine;
* :func:`limit_threads` applies a limit to the BLAS and OpenMP libraries (through
  threadpoolctl) and to torch for the duration of a block, and restores them afterwards;
* :func:`single_threaded_blas` keeps small linear algebra on one BLAS thread.

:func:`nhtad.utils.batches.run_batches` runs every batch of a parallel run under
``limit_threads(worker_thread_limit(n_jobs))``, inside the worker, so the limit travels with
the batch to any joblib backend.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import sys
import threading

from .validation import check_positive_int

__all__ = [
    "NUM_THREADS_ENV",
    "available_cores",
    "limit_threads",
    "single_threaded_blas",
    "thread_budget",
    "threads_from_env",
    "worker_thread_limit",
]

#: Environment variable that fixes the threads of every worker (and of the calling process).
NUM_THREADS_ENV = "NHTAD_NUM_THREADS"

_LOCK = threading.Lock()
_CONTROLLER = None

# State of the blocks of limit_threads now open in this process, in any thread. BLAS and torch
# pools are process-wide, so blocks that overlap (joblib's threading backend, nesting) share one
# record of the original settings, restored when the last block closes; a per-block restore
# would let the block that closes first lift the limit under the others, and the one that
# closes last would then "restore" the limited value for good.
_STATE_LOCK = threading.Lock()
_OPEN_LIMITS: list[int] = []
_ORIGINAL_LIBS: dict = {}  # filepath -> (threadpoolctl lib controller, threads before)
_ORIGINAL_TORCH: list[int] = []  # torch's intra-op threads before, once torch is seen


def single_threaded_blas():
    """Context manager limiting the BLAS libraries of this process to one thread.

    The :class:`threadpoolctl.ThreadpoolController` that finds the libraries is built once
    (on first use, when numpy and scipy.linalg are loaded), so entering the context costs
    microseconds.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        with _LOCK:
            if _CONTROLLER is None:
                import scipy.linalg  # noqa: F401 - load scipy's BLAS before looking for it
                from threadpoolctl import ThreadpoolController

                _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity where the OS has one, else all cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def threads_from_env() -> int | None:
    """The value of ``NHTAD_NUM_THREADS``, or None when it is unset or empty.

    Raises
    ------
    ValueError
        If the variable is set to anything but a positive integer.
    """
    raw = os.environ.get(NUM_THREADS_ENV, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(
            f"The environment variable {NUM_THREADS_ENV} must be a positive integer (threads "
            f"per process or joblib worker); got {raw!r}. Set it to e.g. 1, or unset it to "
            "share the cores between the workers."
        )
    return value


def _n_workers(n_jobs, cores: int) -> int:
    # joblib's reading of n_jobs: None is one worker, -1 all cores, -2 all but one, ...
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise ValueError(f"n_jobs must be None or a nonzero integer; got {n_jobs!r}.")
    if n_jobs == 0:
        raise ValueError("n_jobs must be None or a nonzero integer; got 0.")
    return int(n_jobs) if n_jobs > 0 else max(cores + 1 + int(n_jobs), 1)


def thread_budget(n_jobs=None, n_threads=None) -> int:
    """Threads each of ``n_jobs`` workers may use so that the workers share the cores.

    Parameters
    ----------
    n_jobs : int or None, default=None
        Workers, read as joblib reads it (None: 1; -1: one per core; -2: all cores but one).
    n_threads : int, optional
        An explicit answer, returned as is (checked to be a positive integer).

    Returns
    -------
    int
        ``n_threads`` if given, else ``NHTAD_NUM_THREADS`` if set, else
        ``max(1, cores // workers)`` with the cores of :func:`available_cores`.

    Raises
    ------
    ValueError
        If ``n_threads``, ``n_jobs`` or ``NHTAD_NUM_THREADS`` is not a valid number.
    """
    if n_threads is not None:
        return check_positive_int(n_threads, "n_threads")
    from_env = threads_from_env()
    if from_env is not None:
        return from_env
    cores = available_cores()
    return max(1, cores // _n_workers(n_jobs, cores))


def worker_thread_limit(n_jobs=None, n_threads=None) -> int | None:
    """The limit for work handed to joblib with ``n_jobs``, or None to leave threads alone.

    ``n_jobs`` is resolved by :func:`joblib.effective_n_jobs` (so ``None`` inside
    ``joblib.parallel_config(n_jobs=...)`` counts the configured workers). Work that runs in
    the calling process alone (one worker) keeps the user's own settings, unless
    ``n_threads`` or ``NHTAD_NUM_THREADS`` asks for a limit.

    Returns
    -------
    int or None
        Threads per worker for :func:`limit_threads`.
    """
    from joblib import effective_n_jobs

    workers = effective_n_jobs(n_jobs)
    if workers == 1 and n_threads is None and threads_from_env() is None:
        return None
    return thread_budget(workers, n_threads)


def _apply(limit: int, with_torch: bool | None) -> None:
    # Caps, never raises: a library already below the limit (a user's own threadpool_limits, a
    # worker started with OMP_NUM_THREADS=1) keeps its value.
    from threadpoolctl import ThreadpoolController

    torch = None
    if with_torch or (with_torch is None and "torch" in sys.modules):
        import torch
    # Built anew each time (a few ms), after torch's import: a library loaded since the last
    # block (torch's OpenMP, scikit-learn's) must be found too.
    libs = ThreadpoolController().lib_controllers
    # Every original is read before anything is set: torch.set_num_threads also sets its
    # OpenMP runtime's threads.
    for lib in libs:
        if lib.filepath not in _ORIGINAL_LIBS:
            _ORIGINAL_LIBS[lib.filepath] = (lib, lib.get_num_threads())
    if torch is not None:
        if not _ORIGINAL_TORCH:
            _ORIGINAL_TORCH.append(torch.get_num_threads())
        torch.set_num_threads(min(limit, _ORIGINAL_TORCH[0]))
    for lib in libs:
        original = _ORIGINAL_LIBS[lib.filepath][1]
        if original is not None:
            lib.set_num_threads(min(limit, original))


def _restore() -> None:
    if _ORIGINAL_TORCH:
        import torch

        torch.set_num_threads(_ORIGINAL_TORCH.pop())
    for lib, original in _ORIGINAL_LIBS.values():
        if original is not None:
            lib.set_num_threads(original)
    _ORIGINAL_LIBS.clear()


@contextlib.contextmanager
def limit_threads(n_threads, *, torch=None):
    """Within the block, BLAS, OpenMP and torch run on at most ``n_threads`` threads.

    Limits the libraries threadpoolctl finds (OpenBLAS, MKL, BLIS, the OpenMP runtimes of
    scikit-learn and torch) and torch's intra-op pool (``torch.set_num_threads``), and restores
    their previous values when the last open block of the process ends. Blocks nest and may
    overlap across threads: the smallest open limit applies.

    Parameters
    ----------
    n_threads : int or None
        Threads allowed; None makes the block do nothing.
    torch : bool or None, default=None
        Limit torch too: None does so if torch is already imported (torch is never imported
        for nothing), True imports it first (for work that will use it), False leaves it.

    Examples
    --------
    >>> from threadpoolctl import threadpool_info
    >>> with limit_threads(1):
    ...     all(lib["num_threads"] == 1 for lib in threadpool_info())
    True
    """
    if n_threads is None:
        yield
        return
    limit = check_positive_int(n_threads, "n_threads")
    with _STATE_LOCK:
        _OPEN_LIMITS.append(limit)
        try:
            _apply(min(_OPEN_LIMITS), torch)
        except BaseException:
            _OPEN_LIMITS.remove(limit)
            if not _OPEN_LIMITS:
                _restore()
            raise
    try:
        yield
    finally:
        with _STATE_LOCK:
            _OPEN_LIMITS.remove(limit)
            if _OPEN_LIMITS:
                _apply(min(_OPEN_LIMITS), None)
            else:
                _restore()
