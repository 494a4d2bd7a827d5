"""Loader of the published NPLM multiple-testing arrays (golden README, section 2).

Grosso & Letizia, arXiv:2408.12296, code and data at mletizia/multiple-testing-nplm@4287098:
NPLM-Falkon t of 2000 null and 2000 signal (N_S = 333) LHCO 6D toys, each fitted at 9 widths.
"""

import json
from dataclasses import dataclass

import numpy as np
import pytest

NPLM_SUBDIR = "nplm_multiple_testing"
#: The six widths the paper combines (sigma 1.2, 2.5, 3.2, 3.9, 6.1, 12.2).
COMBINED_COLUMNS = [0, 2, 3, 4, 7, 8]
#: The paper's "p-90" width, sigma 4.6.
P90_COLUMN = 5


@dataclass(frozen=True)
class LHCOMultipleTesting:
    null: np.ndarray  # (2000, 9)
    signal: np.ndarray  # (2000, 9)
    powers: dict  # lhco_powers.json


def load_lhco_multiple_testing(golden_dir) -> LHCOMultipleTesting:
    """The arrays and lhco_powers.json, or a skip when that folder is absent."""
    folder = golden_dir / NPLM_SUBDIR
    if not folder.is_dir():
        pytest.skip(f"published NPLM multiple-testing arrays not found at {folder}")
    return LHCOMultipleTesting(
        null=np.load(folder / "lhco_M853_lam1e-06_NB121339_NS0_t_array.npy"),
        signal=np.load(folder / "lhco_M853_lam1e-06_NB121339_NS333_t_array.npy"),
        powers=json.loads((folder / "lhco_powers.json").read_text()),
    )
