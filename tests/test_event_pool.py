"""EventPool and write_lhco: the studies and toys on LHCO-format files instead of the generator."""

import numpy as np
import pytest

from nhtad.calibration import LHCOToys
from nhtad.datasets import EventPool, SignalRegion, load_lhco, make_lhco_like, write_lhco
from nhtad.datasets.lhco_writer import lhco_frame


@pytest.fixture(scope="module")
def pool():
    sample = make_lhco_like(60_000, 0.2, random_state=0)
    truth = sample.truth.astype(bool)
    return EventPool(sample.events[~truth], sample.events[truth], name="test pool")


def test_a_draw_has_the_asked_size_and_window_s_over_b(pool):
    draw = pool(20_000, 0.02, random_state=1)
    assert draw.n_background == 20_000 and int((draw.truth == 0).sum()) == 20_000
    region = SignalRegion()
    in_window = region.in_window(draw.events["mjj"])
    n_b, n_s = ((draw.truth == 0) & in_window).sum(), ((draw.truth == 1) & in_window).sum()
    assert n_s == round(0.02 * n_b) == draw.n_signal_window
    # Without replacement: no event twice (the generator's m_jj values are all distinct).
    assert np.unique(draw.events["mjj"]).size == draw.events.size


def test_draws_are_reproducible_and_seeds_matter(pool):
    seed = np.random.SeedSequence(5)
    a, b = pool(5_000, 0.01, random_state=seed), pool(5_000, 0.01, random_state=seed)
    np.testing.assert_array_equal(a.events, b.events)
    np.testing.assert_array_equal(a.truth, b.truth)
    c = pool(5_000, 0.01, random_state=6)
    assert not np.array_equal(np.sort(a.events["mjj"]), np.sort(c.events["mjj"]))


def test_none_takes_the_whole_background(pool):
    draw = pool(None, 0.0, random_state=0)
    assert draw.events.size == pool.n_background and draw.n_signal == 0
    np.testing.assert_array_equal(np.sort(draw.events["mjj"]), np.sort(pool.background["mjj"]))


def test_split_gives_disjoint_backgrounds_and_keeps_the_signal(pool):
    first, second = pool.split(1 / 3, random_state=0)
    assert first.n_background + second.n_background == pool.n_background
    assert first.n_background == round(pool.n_background / 3)
    assert np.intersect1d(first.background["mjj"], second.background["mjj"]).size == 0
    assert first.n_signal == second.n_signal == pool.n_signal


def test_pool_errors_say_what_to_do(pool):
    with pytest.raises(ValueError, match="has 60000 background events; 10000000 were asked"):
        pool(10_000_000)
    no_signal = EventPool(pool.background)
    with pytest.raises(ValueError, match="holds no signal events to inject"):
        no_signal(1000, 0.01, random_state=0)
    with pytest.raises(ValueError, match="needs .* signal events in the window"):
        EventPool(pool.background, pool.signal[:10])(40_000, 0.05, random_state=0)
    with pytest.raises(ValueError, match="fraction must lie in"):
        pool.split(1.0)
    with pytest.raises(ValueError, match="no background events"):
        EventPool(pool.background[:0])
    with pytest.raises(ValueError, match="nhtad event table"):
        EventPool(np.ones((3, 6)))


def test_lhco_toys_from_split_pools_keep_reference_and_data_apart(pool):
    data_pool, reference_pool = pool.split(1 / 3, random_state=1)
    toys = LHCOToys(5_000, 0.0, include_mjj=True, source=data_pool, reference_source=reference_pool)
    X, y = toys(np.random.SeedSequence(3))
    data_mjj, ref_mjj = X[y == 1, -1], X[y == 0, -1]
    assert data_mjj.size > 0 and ref_mjj.size > data_mjj.size
    assert np.isin(data_mjj, data_pool.background["mjj"]).all()
    assert np.isin(ref_mjj, reference_pool.background["mjj"]).all()
    X2, _ = toys(np.random.SeedSequence(3))
    np.testing.assert_array_equal(X, X2)
    with pytest.raises(ValueError, match="source must be a callable"):
        LHCOToys(1000, source="events.h5")


@pytest.fixture(scope="module")
def lhco_file(tmp_path_factory):
    pytest.importorskip("pandas")
    pytest.importorskip("tables")
    sample = make_lhco_like(30_000, 0.05, random_state=2)
    path = tmp_path_factory.mktemp("lhco") / "events.features.h5"
    write_lhco(path, sample)
    return path, sample


def test_written_file_reads_back_as_the_same_events(lhco_file):
    path, sample = lhco_file
    back = load_lhco(path)
    np.testing.assert_array_equal(back.truth, sample.truth)
    for name in sample.events.dtype.names:
        np.testing.assert_allclose(back.events[name], sample.events[name], rtol=1e-12)


def test_pool_from_an_lhco_file_splits_by_label(lhco_file, tmp_path):
    path, sample = lhco_file
    pool = EventPool.from_lhco(path)
    assert pool.n_background == int((sample.truth == 0).sum())
    assert pool.n_signal == int(sample.truth.sum())
    assert str(path) in repr(pool)
    # A file without labels is refused, or taken as background when asked.
    unlabelled = tmp_path / "unlabelled.h5"
    write_lhco(unlabelled, sample.events, truth=None)
    with pytest.raises(ValueError, match="no truth labels"):
        EventPool.from_lhco(unlabelled)
    everything = EventPool.from_lhco(unlabelled, unlabelled="background")
    assert everything.n_background == sample.events.size and everything.n_signal == 0


def test_write_lhco_refuses_events_no_jets_can_have():
    pytest.importorskip("pandas")
    events = make_lhco_like(100, random_state=0).events
    bad = events.copy()
    bad["mjj"][0] = bad["mj1"][0]
    with pytest.raises(ValueError, match="mjj <= mj1 \\+ mj2"):
        lhco_frame(bad)
    bad = events.copy()
    bad["tau21_1"][3] = np.nan
    with pytest.raises(ValueError, match="1 events have NaN or inf"):
        lhco_frame(bad)
    with pytest.raises(ValueError, match="truth has shape"):
        lhco_frame(events, np.zeros(3))
