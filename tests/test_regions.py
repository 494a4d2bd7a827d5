import numpy as np
import pytest

from nhtad.datasets import SignalRegion


def test_defaults_and_masks():
    region = SignalRegion()
    assert region.boundaries == (3100.0, 3300.0, 3700.0, 3900.0)
    mjj = np.array([3000.0, 3100.0, 3299.9, 3300.0, 3699.9, 3700.0, 3899.9, 3900.0])
    np.testing.assert_array_equal(region.in_window(mjj), [0, 1, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(region.in_signal_region(mjj), [0, 0, 0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(region.in_sidebands(mjj), [0, 1, 1, 0, 0, 1, 1, 0])
    assert region.counts(mjj) == {"signal_region": 2, "sidebands": 4, "outside_window": 2}


def test_labels_need_events_inside_the_window_and_both_regions():
    region = SignalRegion()
    assert region.labels([3150.0, 3500.0, 3800.0]).tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match=r"1 of 2 events lie outside the window.*in_window"):
        region.labels([3500.0, 4000.0])
    with pytest.raises(ValueError, match="signal region of .* holds no event"):
        region.labels([3150.0, 3800.0])
    with pytest.raises(ValueError, match="sidebands of .* holds no event"):
        region.labels([3400.0, 3500.0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"low": 3700.0, "high": 3300.0},
        {"low": 3000.0},
        {"high": 3900.0},
        {"window": (3900.0, 3100.0)},
        {"low": float("nan")},
        {"window": "wide"},
    ],
)
def test_invalid_regions_are_refused(kwargs):
    with pytest.raises(ValueError, match="SignalRegion needs"):
        SignalRegion(**kwargs)


def test_region_is_frozen_and_hashable():
    region = SignalRegion()
    with pytest.raises(AttributeError):
        region.low = 1.0
    assert region == SignalRegion(3300, 3700, (3100, 3900))
    assert hash(region) == hash(SignalRegion())


def test_bin_edges_keep_the_boundaries_and_the_minimum_count():
    rng = np.random.default_rng(0)
    mjj = 3100 + rng.exponential(250.0, 300_000)
    region = SignalRegion()
    edges = region.bin_edges(mjj, rel_uncertainty=0.02)
    for b in region.boundaries:
        assert b in edges
    inside = mjj[region.in_window(mjj)]
    counts, _ = np.histogram(inside, edges)
    assert (counts >= 2500).all()
    assert (np.diff(edges) > 0).all()


def test_bin_edges_refuse_a_thin_segment():
    mjj = np.concatenate([np.full(20_000, 3200.0), np.full(20_000, 3500.0), np.full(100, 3800.0)])
    with pytest.raises(
        ValueError,
        match=r"upper sideband \[3700, 3900\) GeV holds 100 events, fewer than the 10000",
    ):
        SignalRegion().bin_edges(mjj, 0.01)
