"""The scan's global p-value against pyBumpHunter's (an independent implementation).

pyBumpHunter's BumpHunter1D (arXiv:1101.0390) scans windows of a histogram against a *known*
background: local p = P(Poisson(b) >= n) per window, test statistic the smallest local p, its
global p from Poisson toys of the background histogram. Run through
:class:`~nhtad.stats.SignalRegionScan` and :class:`~nhtad.calibration.ToyCalibrator` with the
same local test and the same toy law, nhtad must give the same local p-values on one histogram
(to rounding) and, from its own toys, the same law of the smallest local p (within the toys'
binomial errors). The bump hunt with fitted sidebands is compared in
``benchmarks/compare_pybumphunter.py`` (a different local test: see docs/scan.md).
"""

import contextlib
import io

import numpy as np
import pytest
from scipy.special import gammainc
from scipy.stats import norm

from nhtad.calibration import ToyCalibrator
from nhtad.stats import SignalRegionScan, sliding_regions
from nhtad.stats.base import EXACT, BaseTest

pytest.importorskip("pyBumpHunter")

EDGES = np.arange(2900.0, 4901.0, 100.0)  # 20 bins; 17 signal regions of 4 bins
CENTRES = 0.5 * (EDGES[1:] + EDGES[:-1])
# A falling spectrum with a few hundred to a few thousand events per bin.
BACKGROUND = 4000.0 * np.exp(-(CENTRES - CENTRES[0]) / 500.0)


class KnownBackgroundCount(BaseTest):
    """Excess of events in a signal region over a known expectation: P(Poisson(b) >= n)."""

    def __init__(self, expected=1.0, region=None):
        self.expected = expected
        self.region = region

    def fit(self, X, y):
        n = np.asarray(y).size
        # gammainc(n, b) = P(Poisson(b) >= n), pyBumpHunter's formula; 1 for n = 0.
        pvalue = gammainc(n, self.expected) if n > 0 else 1.0
        return self._set_result(n, np.log(pvalue), method=EXACT, n_events=n)


def _count_test(region, n_events):
    inside = (CENTRES >= region.low) & (CENTRES < region.high)
    return KnownBackgroundCount(expected=float(BACKGROUND[inside].sum()))


class HistogramToys:
    """Poisson toys of the background histogram, as events at the bin centres."""

    def __call__(self, random_state):
        counts = np.random.default_rng(random_state).poisson(BACKGROUND)
        return None, np.repeat(CENTRES, counts)


def _windows():
    windows = sliding_regions(width=400, sideband_width=200, step=100, mjj_range=(2700, 5100))
    assert len(windows) == 17 and windows[0].low == EDGES[0] and windows[-1].high == EDGES[-1]
    return windows


def _bumphunter(npe, seed):
    from pyBumpHunter import BumpHunter1D

    return BumpHunter1D(
        rang=(EDGES[0], EDGES[-1]),
        width_min=4,
        width_max=4,
        scan_step=1,
        npe=npe,
        bins=EDGES,
        nworker=1,
        seed=seed,
        mode="excess",
    )


def test_local_pvalues_match_pybumphunter_on_one_histogram():
    counts = np.random.default_rng(3).poisson(
        BACKGROUND * (1 + 0.08 * (np.abs(CENTRES - 3800) < 200))
    )
    scan = SignalRegionScan(_count_test, _windows(), select="signal_region")
    scan.fit(None, np.repeat(CENTRES, counts))
    bh = _bumphunter(npe=0, seed=0)
    with contextlib.redirect_stdout(io.StringIO()):  # pyBumpHunter prints its results
        bh.bump_scan(counts, BACKGROUND, is_hist=True, do_pseudo=False)
    theirs = np.asarray(bh.res_ar[0], dtype=float)
    ours = np.exp(scan.local_log_pvalues_)
    # pyBumpHunter sets p = 1 where n <= b ('excess' mode); compare where there is an excess.
    excess = theirs < 1.0
    assert excess.sum() >= 3
    np.testing.assert_allclose(ours[excess], theirs[excess], rtol=1e-10)
    assert ours[~excess].min() > 0.4
    assert scan.best_window_ == int(np.argmin(theirs))
    assert scan.statistic_ == pytest.approx(norm.isf(theirs.min()), rel=1e-9)


def test_global_pvalue_law_matches_pybumphunter():
    n_toys = 1500
    cal = ToyCalibrator(
        SignalRegionScan(_count_test, _windows(), select="signal_region"),
        HistogramToys(),
        n_toys=n_toys,
        statistic="local_significances_",
        random_state=11,
        verbose=0,
    ).fit()
    ours = cal.null_distribution_.max(axis=1)
    bh = _bumphunter(npe=4000, seed=5)
    with contextlib.redirect_stdout(io.StringIO()):
        bh.bump_scan(np.random.default_rng(1).poisson(BACKGROUND), BACKGROUND, is_hist=True)
    theirs = norm.isf(np.exp(-np.asarray(bh.t_ar[1:], dtype=float)))
    for z in (1.0, 1.5, 2.0, 2.5):
        p_ours, p_theirs = np.mean(ours >= z), np.mean(theirs >= z)
        sigma = np.sqrt(p_ours * (1 - p_ours) / ours.size + p_theirs * (1 - p_theirs) / theirs.size)
        assert abs(p_ours - p_theirs) < 4 * sigma + 1e-3, (z, p_ours, p_theirs)
        # Correlated windows: more than one trial, fewer than 17 independent ones.
        assert norm.sf(z) < p_theirs < 1 - (1 - norm.sf(z)) ** 17
    # The global p of one scan read off nhtad's toys is the fraction of pyBumpHunter's beyond it.
    observed = SignalRegionScan(_count_test, _windows(), select="signal_region", null=cal)
    observed.fit(*HistogramToys()(123))
    assert observed.pvalue_ == pytest.approx(np.mean(theirs >= observed.statistic_), abs=0.06)
