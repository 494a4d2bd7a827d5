"""SIGTERM as an exception, so that an interrupted run cleans up like a Ctrl-C does.

By default SIGTERM (what a batch system or ``kill`` sends) ends Python at once: no ``finally``
runs, joblib cannot stop its loky workers, which then compute on for minutes, and the toys
finished since the last checkpoint append are lost. Inside :func:`sigterm_as_exit` a SIGTERM
raises ``SystemExit(143)`` instead (128 + 15, the shell's code for death by SIGTERM), which
unwinds through joblib (it kills its workers on any exception) and through the caller's
clean-up.
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["sigterm_as_exit", "SIGINT_EXIT", "SIGTERM_EXIT"]

SIGINT_EXIT = 128 + signal.SIGINT
SIGTERM_EXIT = 128 + signal.SIGTERM


def _raise_exit(signum, frame):
    raise SystemExit(SIGTERM_EXIT)


@contextlib.contextmanager
def sigterm_as_exit():
    """Within the block, SIGTERM raises ``SystemExit(143)`` in the main thread.

    Does nothing outside the main thread (Python delivers signals there only) or when the
    program has set its own SIGTERM handler, which is then respected.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
