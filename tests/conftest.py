"""Shared fixtures: the golden-file folder (skipped cleanly when ../shared is absent), a
session that stops joblib's worker pool before the interpreter exits, one thread per process."""

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

# One BLAS/OpenMP/torch thread per process unless the caller says otherwise: the tests' models
# are small, and on a shared 2-core machine (CI beside another job, a login node) threads that
# outnumber the free cores made HistGradientBoosting fits several times slower
# (docs/benchmarks.md). tests/test_threads.py removes it where it tests the defaults.
os.environ.setdefault("NHTAD_NUM_THREADS", "1")

GOLDEN_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "golden"


@pytest.fixture(scope="session")
def golden_dir():
    if not GOLDEN_DIR.is_dir():
        pytest.skip(f"golden reference files not found at {GOLDEN_DIR} (../shared is absent)")
    return GOLDEN_DIR


@pytest.fixture(scope="session", autouse=True)
def _stop_joblib_workers():
    # loky's own exit hook waits without limit for each idle worker to acknowledge a stop
    # request: a worker stuck on a semaphore once kept a finished test session from exiting.
    yield
    from nhtad.utils.batches import shutdown_workers

    shutdown_workers()
