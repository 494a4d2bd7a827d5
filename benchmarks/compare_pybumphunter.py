"""Trials factor of nhtad's bump-hunt scan beside pyBumpHunter's, on the same windows.

Run: ``python benchmarks/compare_pybumphunter.py`` (needs ``pip install pybumphunter``; about
2 minutes on 2 cores).

Both scan 17 signal regions of 400 GeV, centres every 100 GeV from 3.1 to 4.7 TeV, over
background-only samples of the embedded generator (1M events over its full range; only
2.7-5.1 TeV generated). nhtad: :class:`~nhtad.stats.SignalRegionScan` of
:class:`~nhtad.stats.BumpHuntTest` (each window's background fitted to its own 200 GeV
sidebands), 200 toys of the whole scan. pyBumpHunter (BumpHunter1D, arXiv:1101.0390): the same
signal regions as 4 bins of 100 GeV, the background known (a 20x larger sample, scaled), 2000
Poisson toys. For each local Z the trials factor is ``P(max_w Z_w >= Z) / Phi(-Z)`` from each
tool's own toys.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time

import numpy as np
from scipy.stats import norm

from nhtad.calibration import ToyCalibrator
from nhtad.datasets import make_lhco_like
from nhtad.stats import BumpHuntTest, SignalRegionScan, sliding_regions

RANGE = (2700.0, 5100.0)
N_BACKGROUND = 1_000_000


class MassToys:
    """``(None, m_jj)`` of a background-only sample in the scanned range."""

    def __call__(self, random_state):
        return None, make_lhco_like(N_BACKGROUND, keep=RANGE, random_state=random_state).events[
            "mjj"
        ]


def main():
    from pyBumpHunter import BumpHunter1D

    # The bump hunt logs a warning per poorly described sideband fit; the comparison counts Z.
    logging.getLogger("nhtad").setLevel(logging.ERROR)
    windows = sliding_regions(width=400, sideband_width=200, step=100, mjj_range=RANGE)
    start = time.perf_counter()
    cal = ToyCalibrator(
        SignalRegionScan(BumpHuntTest(), windows),
        MassToys(),
        n_toys=200,
        statistic="local_significances_",
        random_state=0,
        n_jobs=2,
    ).fit()
    z_nhtad = cal.null_distribution_.max(axis=1)
    seconds = time.perf_counter() - start

    edges = np.arange(windows[0].low, windows[-1].high + 1.0, 100.0)
    reference = make_lhco_like(20 * N_BACKGROUND, keep=RANGE, random_state=99).events["mjj"]
    expected = np.histogram(reference, bins=edges)[0] / 20.0
    data = np.histogram(MassToys()(12345)[1], bins=edges)[0]
    bh = BumpHunter1D(
        rang=(edges[0], edges[-1]),
        width_min=4,
        width_max=4,
        scan_step=1,
        npe=2000,
        bins=edges,
        nworker=1,
        seed=1,
        mode="excess",
    )
    with contextlib.redirect_stdout(io.StringIO()):  # pyBumpHunter prints its results
        bh.bump_scan(data, expected, is_hist=True)
    z_pybh = norm.isf(np.exp(-np.asarray(bh.t_ar[1:])))

    print(
        f"{len(windows)} windows; nhtad: {cal.null_distribution_.shape[0]} toys in {seconds:.0f} s;"
        f" pyBumpHunter: {z_pybh.size} toys"
    )
    print(f"  {'local Z':>8s} {'nhtad bump hunt':>16s} {'pyBumpHunter':>13s}")
    for z in (1.5, 2.0, 2.5, 3.0):
        local = norm.sf(z)
        print(
            f"  {z:8.1f} {np.mean(z_nhtad >= z) / local:16.1f} {np.mean(z_pybh >= z) / local:13.1f}"
        )


if __name__ == "__main__":
    main()
