"""Shared fixtures: the golden-file folder (skipped cleanly when ../shared is absent), and a
session that stops joblib's worker pool before the interpreter exits."""

from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

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
