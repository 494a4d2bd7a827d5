import time

import numpy as np
import pytest

from nhtad.datasets import (
    EVENT_COLUMNS,
    EVENT_DTYPE,
    NPLM_FEATURES,
    SACWOLA_FEATURES,
    SignalRegion,
    inject_signal,
    make_lhco_like,
    nplm_features,
    sacwola_features,
)


@pytest.fixture(scope="module")
def data():
    return make_lhco_like(400_000, 0.01, random_state=0)


def test_generator_is_seeded_and_reproducible():
    a = make_lhco_like(20_000, 0.01, random_state=3)
    b = make_lhco_like(20_000, 0.01, random_state=3)
    c = make_lhco_like(20_000, 0.01, random_state=4)
    np.testing.assert_array_equal(a.events, b.events)
    np.testing.assert_array_equal(a.truth, b.truth)
    assert not np.array_equal(a.events["mjj"], c.events["mjj"])


def test_generator_makes_a_million_events_in_under_two_seconds():
    make_lhco_like(10_000, random_state=0)  # warm up imports
    best = min(_timed(lambda: make_lhco_like(1_000_000, 0.005, random_state=1)) for _ in range(2))
    assert best < 2.0, f"1M events took {best:.2f} s"


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_table_columns_and_physical_ranges(data):
    ev = data.events
    assert ev.dtype == EVENT_DTYPE and tuple(ev.dtype.names) == EVENT_COLUMNS
    assert data.feature_names == list(EVENT_COLUMNS)
    assert (ev["mj1"] >= ev["mj2"]).all() and (ev["mj2"] > 0).all()
    for col in ("tau21_1", "tau21_2"):
        assert ((ev[col] > 0) & (ev[col] < 1)).all()
    assert (ev["dR_jj"] > 2.0).all() and (ev["dR_jj"] < 6.0).all()
    assert np.isfinite(ev["mjj"]).all()


def test_truth_kept_aside_and_injection_counted_in_the_window(data):
    region = SignalRegion()
    in_window = region.in_window(data.events["mjj"])
    n_bkg = int((in_window & (data.truth == 0)).sum())
    n_sig = int((in_window & (data.truth == 1)).sum())
    assert "truth" not in data.events.dtype.names
    assert n_bkg == data.n_background_window
    assert n_sig == data.n_signal_window == round(0.01 * n_bkg)
    assert data.n_signal == int(data.truth.sum()) >= n_sig  # tails outside the window come along
    assert data.truth.dtype == np.int8
    # Rows are shuffled: signal is not a block at the end.
    assert data.truth[: data.truth.size // 2].sum() > 0.3 * data.n_signal


def test_about_a_quarter_of_the_background_falls_in_the_window(data):
    assert 0.2 < data.n_background_window / data.n_background < 0.3


def test_background_is_steeply_falling(data):
    bkg = data.events[data.truth == 0]["mjj"]
    low = np.sum((bkg >= 3100) & (bkg < 3200))
    high = np.sum((bkg >= 3800) & (bkg < 3900))
    assert low > 3 * high


def test_heavier_jet_mass_rises_several_percent_across_the_window(data):
    bkg = data.events[data.truth == 0]
    low = bkg["mj1"][(bkg["mjj"] >= 3100) & (bkg["mjj"] < 3200)].mean()
    high = bkg["mj1"][(bkg["mjj"] >= 3800) & (bkg["mjj"] < 3900)].mean()
    assert 1.03 < high / low < 1.15
    flat = make_lhco_like(400_000, mass_mjj_slope=0.0, random_state=0).events
    low = flat["mj1"][(flat["mjj"] >= 3100) & (flat["mjj"] < 3200)].mean()
    high = flat["mj1"][(flat["mjj"] >= 3800) & (flat["mjj"] < 3900)].mean()
    assert abs(high / low - 1) < 0.01


def test_simulation_has_the_correlation_but_shifted_shapes(data):
    sim = make_lhco_like(400_000, simulation=True, random_state=1)
    assert sim.simulation and not data.simulation
    region = SignalRegion()
    d = data.events[(data.truth == 0) & region.in_window(data.events["mjj"])]
    s = sim.events[region.in_window(sim.events["mjj"])]
    mass_shift = s["mj2"].mean() / d["mj2"].mean() - 1
    tau_shift = s["tau21_1"].mean() - d["tau21_1"].mean()
    assert 0.02 < mass_shift < 0.08
    assert 0.01 < tau_shift < 0.03
    same = make_lhco_like(400_000, simulation=True, mismodelling=0.0, random_state=1)
    s0 = same.events[region.in_window(same.events["mjj"])]
    assert abs(s0["mj2"].mean() / d["mj2"].mean() - 1) < 0.01


def _window_means(events, column, edges):
    index = np.digitize(events["mjj"], edges) - 1
    keep = (index >= 0) & (index < len(edges) - 1)
    return np.bincount(index[keep], weights=events[column][keep]) / np.bincount(index[keep])


def test_mismodelling_components_one_at_a_time():
    region = SignalRegion()
    data = make_lhco_like(400_000, random_state=5).events
    spectrum_only = make_lhco_like(
        400_000, simulation=True, mismodelling={"mjj_spectrum": 1.0}, random_state=5
    ).events
    # Same seed, same draws: only the m_jj spectrum moved, and the jets follow m_jj as in data.
    assert not np.allclose(spectrum_only["mjj"], data["mjj"])
    edges = np.linspace(3100, 3900, 5)
    np.testing.assert_allclose(
        _window_means(spectrum_only, "mj2", edges), _window_means(data, "mj2", edges), rtol=0.02
    )
    assert np.mean(spectrum_only["tau21_1"]) == pytest.approx(np.mean(data["tau21_1"]), abs=2e-3)
    d_win = data["mjj"][region.in_window(data["mjj"])]
    s_win = spectrum_only["mjj"][region.in_window(spectrum_only["mjj"])]
    # A steeper spectrum (p1 + 0.3): relatively fewer events at the top of the window.
    ratio = np.mean(s_win > 3700) / np.mean(d_win > 3700)
    assert 0.96 < ratio < 0.99
    mass_only = make_lhco_like(
        400_000, simulation=True, mismodelling={"mass_scale": 2.0}, random_state=5
    ).events
    np.testing.assert_array_equal(mass_only["mjj"], data["mjj"])
    np.testing.assert_allclose(mass_only["mj2"] / data["mj2"], 1.06, rtol=1e-12)
    # A float is every component at that strength; data-like background ignores it.
    full = make_lhco_like(50_000, simulation=True, mismodelling=1.0, random_state=6).events
    mapping = make_lhco_like(
        50_000,
        simulation=True,
        mismodelling=dict.fromkeys(("mass_scale", "mass_width", "tau21", "mjj_spectrum"), 1.0),
        random_state=6,
    ).events
    np.testing.assert_array_equal(full, mapping)
    np.testing.assert_array_equal(
        make_lhco_like(50_000, mismodelling={"tau21": 3.0}, random_state=6).events,
        make_lhco_like(50_000, random_state=6).events,
    )


def test_curvature_makes_the_mass_dependence_non_linear():
    edges = np.linspace(3100, 3900, 9)
    curved = make_lhco_like(1_000_000, mass_mjj_curvature=20.0, random_state=7).events
    means = _window_means(curved, "mj2", edges)
    # A U shape: both ends above the centre, by far more than the statistical error (~0.5%).
    assert means[0] > 1.15 * means[4] and means[-1] > 1.1 * means[4]
    straight = _window_means(make_lhco_like(1_000_000, random_state=7).events, "mj2", edges)
    assert np.all(np.diff(straight) > -0.02 * straight[:-1])


def _peak(values, lo, hi):
    counts, edges = np.histogram(values, bins=40, range=(lo, hi))
    return 0.5 * (edges[counts.argmax()] + edges[counts.argmax() + 1])


def test_resonant_signal_looks_like_the_lhco_wprime(data):
    # The default (realistic) profile: the jet masses peak at X and Y, with a radiative and an
    # uncontained-decay tail that pulls the medians below the peaks.
    sig = data.events[data.truth == 1]
    assert np.median(sig["mjj"]) == pytest.approx(3500, rel=0.03)
    assert _peak(sig["mj1"], 300, 700) == pytest.approx(500, rel=0.03)
    assert _peak(sig["mj2"], 40, 160) == pytest.approx(100, rel=0.05)
    assert 400 < np.median(sig["mj1"]) < 500 and 70 < np.median(sig["mj2"]) < 100
    bkg = data.events[data.truth == 0]
    assert sig["tau21_1"].mean() < bkg["tau21_1"].mean() - 0.15
    assert SignalRegion().in_signal_region(sig["mjj"]).mean() > 0.6


def test_easy_signal_has_sharp_jet_masses():
    easy = make_lhco_like(100_000, 0.05, signal_profile="easy", random_state=0)
    sig, bkg = easy.events[easy.truth == 1], easy.events[easy.truth == 0]
    assert np.median(sig["mj1"]) == pytest.approx(500, rel=0.03)
    assert np.median(sig["mj2"]) == pytest.approx(100, rel=0.05)
    assert sig["tau21_1"].mean() < bkg["tau21_1"].mean() - 0.2


def test_kept_events_have_the_law_of_the_cut_full_sample():
    from scipy import stats

    region = SignalRegion()
    sr = (region.low, region.high)
    full = make_lhco_like(200_000, 0.02, random_state=5)
    cut = full.events[region.in_signal_region(full.events["mjj"])]
    kept = make_lhco_like(200_000, 0.02, keep=sr, random_state=6)
    assert kept.n_background == full.n_background
    assert np.all(region.in_signal_region(kept.events["mjj"]))
    # The kept count is Binomial(n, p_SR): 200k x 12% = 24k +- 150.
    assert abs(len(kept.events) - len(cut)) < 5 * np.sqrt(len(cut))
    for column in ("mjj", "mj1", "tau21_1", "dR_jj"):
        assert stats.ks_2samp(cut[column], kept.events[column]).pvalue > 1e-3
    # The window count that sets the injection keeps its full-sample law.
    assert abs(kept.n_background_window - full.n_background_window) < 5 * np.sqrt(
        full.n_background_window
    )
    assert kept.n_signal_window == round(0.02 * kept.n_background_window)
    with pytest.raises(ValueError, match="keep must be an m_jj range inside"):
        make_lhco_like(1000, keep=(1000, 3000))
    with pytest.raises(ValueError, match="keep must be a"):
        make_lhco_like(1000, keep=3000)


def test_nonresonant_signal_is_flat_in_mjj():
    sample = make_lhco_like(200_000, 0.05, signal="nonresonant", random_state=2)
    mjj = sample.events["mjj"][sample.truth == 1]
    counts, _ = np.histogram(mjj, bins=5, range=(1500, 7000))
    assert counts.min() > 0.8 * counts.max()


def test_zero_signal_and_as_frame():
    pd = pytest.importorskip("pandas")
    sample = make_lhco_like(5_000, random_state=0, as_frame=True)
    assert isinstance(sample.events, pd.DataFrame)
    assert list(sample.events.columns) == list(EVENT_COLUMNS)
    assert sample.n_signal == 0 and sample.truth.sum() == 0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_background": -1}, "n_background"),
        ({"signal_to_background": -0.1}, "signal_to_background"),
        ({"signal_to_background": np.nan}, "signal_to_background"),
        ({"signal": "wprime"}, "signal must be"),
        ({"mjj_range": (4000, 3000)}, "mjj_range"),
        ({"simulation": True, "mismodelling": {"jet_energy": 1.0}}, "unknown mismodelling"),
        ({"simulation": True, "mismodelling": {"tau21": np.nan}}, "finite numbers"),
        ({"mass_mjj_curvature": np.inf}, "finite numbers"),
        (
            {
                "n_background": 200_000,
                "signal_to_background": 0.5,
                "region": SignalRegion(5200, 5400, (5000, 5600)),
            },
            "hardly reaches the window",
        ),
    ],
)
def test_generator_bad_arguments(kwargs, match):
    args = {"n_background": 1000, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_lhco_like(**args)


def test_feature_sets(data):
    x0 = sacwola_features(data)
    ev = data.events
    assert x0.shape == (ev.size, len(SACWOLA_FEATURES))
    np.testing.assert_array_equal(x0[:, 0], ev["mj1"] - ev["mj2"])
    np.testing.assert_array_equal(
        x0[:, 1:], np.column_stack([ev["mj2"], ev["tau21_1"], ev["tau21_2"]])
    )
    x4 = nplm_features(ev)
    assert x4.shape == (ev.size, len(NPLM_FEATURES))
    np.testing.assert_array_equal(x4[:, 1], ev["mj1"] - ev["mj2"])
    np.testing.assert_array_equal(x4[:, 4], ev["dR_jj"])
    x6 = nplm_features(ev, include_mjj=True)
    np.testing.assert_array_equal(x6[:, 5], ev["mjj"])
    with pytest.raises(ValueError, match="event table"):
        sacwola_features(np.zeros((3, 4)))


def test_inject_signal_into_a_given_background():
    region = SignalRegion()
    bkg = make_lhco_like(200_000, random_state=5)
    pool = make_lhco_like(50_000, 0.2, random_state=6)
    signal_pool = pool.events[pool.truth == 1]
    a = inject_signal(bkg, signal_pool, 0.004, random_state=1)
    b = inject_signal(bkg, signal_pool, 0.004, random_state=1)
    c = inject_signal(bkg, signal_pool, 0.004, random_state=2)
    np.testing.assert_array_equal(a.events, b.events)
    in_window = region.in_window(a.events["mjj"])
    assert (
        int((in_window & (a.truth == 1)).sum())
        == a.n_signal_window
        == round(0.004 * bkg.n_background_window)
    )
    assert a.events.size == bkg.events.size + a.n_signal
    assert not np.array_equal(np.sort(a.events["mj1"]), np.sort(c.events["mj1"]))
    with pytest.raises(ValueError, match="signal pool holds only"):
        inject_signal(bkg, signal_pool[:10], 0.01)
    with pytest.raises(ValueError, match="event table"):
        inject_signal(np.zeros(5), signal_pool, 0.01)
