"""The sliding signal-region scan: windows, local and global p-values, Gross-Vitells, CLI."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone

from nhtad.calibration import ToyCalibrator
from nhtad.datasets import SignalRegion, make_lhco_like
from nhtad.stats import (
    AnomalyCutTest,
    BumpHuntTest,
    GrossVitells,
    MutualInformationIndependenceTest,
    SignalRegionScan,
    gross_vitells,
    sliding_regions,
)

RANGE = (2700.0, 4300.0)
WINDOWS = sliding_regions(width=400, sideband_width=200, step=200, mjj_range=RANGE)


def _mi(region, n_events):
    bins = min(10.0, np.sqrt(n_events / 20.0))
    return MutualInformationIndependenceTest(rel_uncertainty=float(np.sqrt(bins / n_events)))


class _Toys:
    """(untrained two-prong score, m_jj) in the scanned range."""

    def __init__(self, n, sb=0.0, mass=3500.0, profile="realistic"):
        self.n, self.sb, self.mass, self.profile = n, sb, mass, profile

    def __call__(self, seed):
        half = 200.0
        region = SignalRegion(
            self.mass - half, self.mass + half, (self.mass - 400.0, self.mass + 400.0)
        )
        events = make_lhco_like(
            self.n,
            self.sb,
            signal_mass=self.mass,
            signal_profile=self.profile,
            region=region,
            keep=RANGE,
            random_state=seed,
        ).events
        return -(events["tau21_1"] + events["tau21_2"]), events["mjj"]


def test_sliding_regions_tile_the_range_with_overlapping_windows():
    assert len(WINDOWS) == 5
    assert WINDOWS[0].window == (2700.0, 3500.0) and WINDOWS[-1].window == (3500.0, 4300.0)
    centres = [0.5 * (w.low + w.high) for w in WINDOWS]
    assert np.allclose(np.diff(centres), 200.0)
    assert all(w.high - w.low == 400.0 for w in WINDOWS)
    relative = sliding_regions(
        width=0.1, sideband_width=0.05, step=300, mjj_range=RANGE, relative=True
    )
    for w in relative:
        c = 0.5 * (w.low + w.high)
        assert w.high - w.low == pytest.approx(0.1 * c)
        assert w.window[0] >= RANGE[0] - 1e-9 and w.window[1] <= RANGE[1] + 1e-9
    explicit = sliding_regions(width=400, sideband_width=200, step=None, centres=[3500.0])
    assert explicit == [SignalRegion()]
    with pytest.raises(ValueError, match="width must be a positive number"):
        sliding_regions(width=0, sideband_width=200, step=100, mjj_range=RANGE)
    with pytest.raises(ValueError, match="no window"):
        sliding_regions(width=4000, sideband_width=200, step=100, mjj_range=RANGE)
    with pytest.raises(ValueError, match="give the centres, or a grid"):
        sliding_regions(width=400, sideband_width=200, step=100)


def test_each_window_gets_its_region_seed_and_events():
    s, mjj = _Toys(60_000)(1)
    scan = SignalRegionScan(BumpHuntTest(), WINDOWS).fit(None, mjj)
    for result, window in zip(scan.local_results_, WINDOWS, strict=True):
        assert result.n_events == int(window.in_window(mjj).sum())
    direct = BumpHuntTest(region=WINDOWS[2]).fit(None, mjj[WINDOWS[2].in_window(mjj)])
    assert scan.local_log_pvalues_[2] == pytest.approx(direct.log_pvalue_)
    assert scan.best_window_ == int(np.argmax(scan.local_significances_))
    assert scan.statistic_ == pytest.approx(scan.local_significances_.max())
    # A factory sees each window's event count; "region" targets give region labels.
    seen = []

    def factory(region, n_events):
        seen.append((region, n_events))
        return _mi(region, n_events)

    SignalRegionScan(factory, WINDOWS).fit(s, mjj)
    assert [r for r, _ in seen] == WINDOWS
    assert [n for _, n in seen] == [int(w.in_window(mjj).sum()) for w in WINDOWS]


def test_bound_and_toys_give_a_global_p_no_smaller_than_the_best_local_p():
    s, mjj = _Toys(60_000)(2)
    bound = SignalRegionScan(_mi, WINDOWS).fit(s, mjj)
    assert bound.result_.method == "bound"
    assert bound.log_pvalue_ == pytest.approx(min(0.0, bound.local_log_pvalues_.min() + np.log(5)))
    cal = ToyCalibrator(
        SignalRegionScan(_mi, WINDOWS),
        _Toys(60_000),
        n_toys=30,
        statistic="local_significances_",
        random_state=0,
    ).fit()
    assert cal.null_distribution_.shape == (30, 5)
    scan = SignalRegionScan(_mi, WINDOWS, null=cal).fit(s, mjj)
    assert scan.result_.method == "toys"
    for result in (bound, scan):
        assert result.log_pvalue_ >= result.local_log_pvalues_.min() - 1e-12
        assert result.trials_factor_ >= 1.0
    assert scan.result_.details["n_toys"] == 30
    with pytest.raises(ValueError, match=r"shape \(n_toys, 5\)"):
        SignalRegionScan(_mi, WINDOWS, null=np.zeros((10, 3))).fit(s, mjj)
    with pytest.raises(ValueError, match="windows must be a non-empty list"):
        SignalRegionScan(_mi, []).fit(s, mjj)
    with pytest.raises(ValueError, match="mjj has"):
        SignalRegionScan(_mi, WINDOWS).fit(s[:-1], mjj)


def test_gross_vitells_counts_upcrossings_and_says_nothing_below_its_level():
    curves = np.array([[0.0, 1.5, 0.2, 1.2, 0.0], [2.0, 2.0, 0.0, 0.0, 0.0]])
    gv = gross_vitells(curves, level=1.0)
    # First curve crosses 1 upwards twice; the second starts above 1 (no upcrossing).
    assert gv.mean_upcrossings == pytest.approx(1.0)
    assert np.isnan(gv.log_pvalue(0.5))
    assert gv.n_windows == 5
    for z_local in (2.0, 3.0, 6.0):
        formula = np.logaddexp(stats.norm.logsf(z_local), np.log(1.0) - 0.5 * (z_local**2 - 1.0))
        bonferroni = np.log(5) + stats.norm.logsf(z_local)
        # Without a grid (a continuous scan) the formula itself; over five windows it is
        # capped where it exceeds their Bonferroni bound (at large Z it always does).
        assert GrossVitells(1.0, 1.0, 2).log_pvalue(z_local) == pytest.approx(formula)
        assert gv.log_pvalue(z_local) == pytest.approx(min(formula, bonferroni))
        assert gv.significance(z_local) < z_local
    assert np.logaddexp(stats.norm.logsf(6.0), -0.5 * 35.0) > np.log(5) + stats.norm.logsf(6.0)
    with pytest.raises(ValueError, match="at least 2 windows"):
        gross_vitells(np.zeros((3, 1)))


@pytest.mark.slow
def test_global_pvalues_are_uniform_under_the_null_and_local_ones_are_not():
    # 200 toys calibrate the scan; 200 further background-only scans of an untrained score
    # (the tau21 sum, independent of m_jj in the generator's background) are then tested.
    toys = _Toys(60_000)
    scan = SignalRegionScan(_mi, WINDOWS)
    cal = ToyCalibrator(
        scan, toys, n_toys=200, statistic="local_significances_", random_state=1
    ).fit()
    trials = ToyCalibrator(
        scan, toys, n_toys=200, statistic="local_significances_", random_state=2
    ).fit()
    observed = trials.null_distribution_
    null_max = cal.null_distribution_.max(axis=1)
    global_p = np.array(
        [(1 + np.sum(null_max >= row.max())) / (1 + null_max.size) for row in observed]
    )
    local_min_p = stats.norm.sf(observed.max(axis=1))
    assert stats.kstest(global_p, "uniform").pvalue > 0.01
    assert stats.kstest(local_min_p, "uniform").pvalue < 1e-6
    # Each window's own local p is uniform: the score is untrained.
    assert stats.kstest(stats.norm.sf(observed[:, 2]), "uniform").pvalue > 0.01
    # The Gross-Vitells estimate agrees with the toys on the trials factor at the 90% point.
    gv = gross_vitells(cal.null_distribution_, level=0.5)
    z90 = float(np.quantile(null_max, 0.9))
    assert np.exp(gv.log_pvalue(z90)) == pytest.approx(0.1, rel=0.6)


class _MassToys(_Toys):
    def __call__(self, seed):
        return None, super().__call__(seed)[1]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::nhtad.stats.ToyFloorWarning")
def test_with_signal_the_best_window_finds_the_mass_and_pays_the_trials_factor():
    # The bump hunt looks for the excess in each window's signal region, so its best window
    # locates the resonance (the MI test of a whole window responds to a resonance anywhere in
    # it, sidebands included, and does not).
    cal = ToyCalibrator(
        SignalRegionScan(BumpHuntTest(), WINDOWS),
        _MassToys(60_000),
        n_toys=200,
        statistic="local_significances_",
        random_state=3,
    ).fit()
    gv = gross_vitells(cal.null_distribution_, level=0.5)
    floor = -np.log1p(200)
    hits = 0
    for k in range(10):
        # The bump hunt without a cut in an 800 GeV window is a weak test (the sideband fit's
        # extrapolation dominates): a strong resonance, S/B = 0.2 in the window.
        _, mjj = _MassToys(60_000, 0.2, mass=3500.0, profile="easy")(100 + k)
        scan = SignalRegionScan(BumpHuntTest(), WINDOWS, null=cal).fit(None, mjj)
        best = WINDOWS[scan.best_window_]
        hits += best.low <= 3500.0 < best.high
        assert scan.significance_ <= scan.statistic_ + 1e-9
        assert scan.trials_factor_ > 1.0
        # Where the toys resolve the global p, the trials factor the upcrossings predict
        # matches it; beyond them both put the global p below the toys' floor.
        predicted = float(gv.log_pvalue(scan.statistic_))
        if np.isnan(predicted):  # best local Z below the counting level: no estimate
            continue
        if scan.log_pvalue_ > floor + 1e-9:
            assert abs(predicted - scan.log_pvalue_) < np.log(2.5)
        else:
            assert predicted < floor + np.log(2.5)
    assert hits >= 7


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::nhtad.stats.ToyFloorWarning")
def test_at_one_percent_the_best_window_holds_the_mass_beyond_the_toys():
    # The realistic signal at S/B = 0.01 in 1M events: an anomaly cut on the untrained
    # two-prong score (1% of the sidebands kept; independent of m_jj in background, so each
    # window's local p is exact) compares the signal region's efficiency with the sidebands',
    # so its best window locates the resonance.
    scan = SignalRegionScan(AnomalyCutTest(efficiency=0.01), WINDOWS, target="region")
    toys = _Toys(1_000_000)
    cal = ToyCalibrator(scan, toys, n_toys=200, statistic="local_significances_", random_state=4)
    null = cal.fit().null_distribution_
    gv = gross_vitells(null, level=0.5)
    null_max = null.max(axis=1)
    # Where the toys reach, the upcrossings predict their global p (the 80% and 95% points)
    # within a factor 2: an asymptotic estimate on a coarse grid of five windows.
    for q in (0.8, 0.95):
        z = float(np.quantile(null_max, q))
        assert 0.5 < np.exp(gv.log_pvalue(z)) / (1 - q) < 2.0
    hits = 0
    for k in range(10):
        s, mjj = _Toys(1_000_000, 0.01, mass=3500.0)(400 + k)
        fitted = clone(scan).set_params(null=null).fit(s, mjj)
        best = WINDOWS[fitted.best_window_]
        hits += best.low <= 3500.0 < best.high
        z_local = fitted.statistic_
        assert z_local > null_max.max()  # beyond every toy: the toys give a bound only
        assert fitted.log_pvalue_ == pytest.approx(-np.log1p(200))
        # Beyond the toys the global Z is Gross-Vitells': below the local Z by the trials
        # factor the toys' upcrossings give, between one window and the five's Bonferroni.
        log_global = float(gv.log_pvalue(z_local))
        trials = np.exp(log_global - stats.norm.logsf(z_local))
        assert 1.0 < trials <= 5.0 + 1e-9
        z_global = float(gv.significance(z_local))
        assert z_global == pytest.approx(stats.norm.isf(trials * stats.norm.sf(z_local)), rel=1e-6)
        assert 0 < z_local - z_global < 0.5
    assert hits >= 8


def test_plot_scan_marks_the_global_levels():
    pytest.importorskip("matplotlib")
    from nhtad.plotting import plot_scan

    s, mjj = _Toys(60_000)(4)
    cal = ToyCalibrator(
        SignalRegionScan(_mi, WINDOWS),
        _Toys(60_000),
        n_toys=20,
        statistic="local_significances_",
        random_state=0,
    ).fit()
    scan = SignalRegionScan(_mi, WINDOWS, null=cal).fit(s, mjj)
    ax = plot_scan(scan, gross_vitells=gross_vitells(cal.null_distribution_, level=0.5))
    assert len(ax.lines) >= 3  # the curve, the best window, at least one level
    assert "trials factor" in ax.get_title()
