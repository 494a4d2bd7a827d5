"""Shared fixtures: the golden-file folder (skipped cleanly when ../shared is absent)."""

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
