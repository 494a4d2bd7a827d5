"""Thread limits for small dense linear algebra.

OpenBLAS and MKL start one thread per core for every matrix operation. On the small systems
nhtad's statistics solve (a few hundred unknowns) the threads cost more than they save, and on
a busy machine (a shared login node, joblib workers, torch training beside) they spin against
the other processes: a 155 x 155 Cholesky factorisation took 0.4 s instead of 0.1 ms beside two
training jobs on 2 cores. Code that solves such systems runs inside :func:`single_threaded_blas`.
"""

from __future__ import annotations

import threading

__all__ = ["single_threaded_blas"]

_LOCK = threading.Lock()
_CONTROLLER = None


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
