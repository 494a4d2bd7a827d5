import numpy as np
import pytest

from nhtad.stats.binning import (
    assign_bins,
    counts_in_bins,
    equal_count_binning,
    min_count_for,
)


def test_min_count_for_one_percent_is_ten_thousand():
    assert min_count_for(0.01) == 10_000
    assert min_count_for(0.0099) == 10_204  # 1/sqrt(10_203) is just above 0.0099
    assert min_count_for(0.5) == 4


def _check_consistent(x, binning, min_count):
    assert binning.counts.sum() == x.size
    assert (binning.counts >= min_count).all()
    assert (np.diff(binning.edges) > 0).all(), "edges must be strictly increasing"
    np.testing.assert_array_equal(
        np.bincount(binning.index, minlength=binning.n_bins), binning.counts
    )
    np.testing.assert_array_equal(assign_bins(x, binning.edges), binning.index)


def test_equal_count_bins_of_continuous_values():
    x = np.random.default_rng(0).normal(size=250_000)
    binning = equal_count_binning(x, 10_000)
    assert binning.n_bins == 25
    assert set(binning.counts.tolist()) == {10_000}
    _check_consistent(x, binning, 10_000)


@pytest.mark.parametrize(
    "fraction, where", [(0.8, 0.5), (0.76, 0.5), (0.8, 1.0), (0.8, 0.0), (0.3, 0.2)]
)
def test_point_mass_becomes_one_bin_without_empty_or_duplicate_bins(fraction, where):
    rng = np.random.default_rng(1)
    n = 250_000
    x = np.where(rng.random(n) < fraction, where, rng.random(n))
    binning = equal_count_binning(x, 10_000)
    _check_consistent(x, binning, 10_000)
    tied = binning.index[x == where]
    assert np.unique(tied).size == 1, "a point mass must sit in a single bin"
    assert binning.n_bins >= 2


def test_several_point_masses_and_discrete_values():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 7, 100_000).astype(float)  # 7 values, ~14k each
    binning = equal_count_binning(x, 10_000)
    _check_consistent(x, binning, 10_000)
    assert binning.n_bins == 7


def test_merging_keeps_every_bin_above_the_minimum():
    rng = np.random.default_rng(3)
    # Values that force awkward cuts: a point mass between two small continuous parts.
    x = np.concatenate([rng.random(13_000), np.full(60_000, 2.0), 3 + rng.random(12_500)])
    binning = equal_count_binning(x, 10_000)
    _check_consistent(x, binning, 10_000)


def test_too_few_events_give_a_single_bin():
    binning = equal_count_binning(np.arange(15_000.0), 10_000)
    assert binning.n_bins == 1


def test_counts_in_bins_respects_given_edges_and_refuses_outsiders():
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    index, counts = counts_in_bins(x, [0.0, 1.0, 2.0])
    assert counts.tolist() == [2, 3]  # last bin closed
    assert index.tolist() == [0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="outside the bin edges"):
        counts_in_bins(x, [0.0, 1.0, 1.8])
    with pytest.raises(ValueError, match="strictly increasing"):
        counts_in_bins(x, [0.0, 1.0, 1.0, 2.0])


def test_assign_bins_puts_far_outliers_in_the_end_bins():
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    x = np.array([-1e30, -5.0, 0.5, 2.5, 7.0, 1e30])
    np.testing.assert_array_equal(assign_bins(x, edges), [0, 0, 0, 2, 2, 2])


def test_quantile_binning_cuts_at_the_levels_and_keeps_ties_whole():
    from nhtad.stats.binning import halving_levels, quantile_binning

    rng = np.random.default_rng(3)
    x = rng.normal(size=100_000)
    binning = quantile_binning(x, [0.5, 0.9, 0.99])
    np.testing.assert_array_equal(binning.counts, [50_000, 40_000, 9_000, 1_000])
    np.testing.assert_array_equal(np.bincount(binning.index), binning.counts)
    # A point mass holding 30% of the events straddles the 0.5 level: it lands whole in one bin.
    tied = np.r_[x[:70_000], np.zeros(30_000)]
    binning = quantile_binning(tied, [0.5, 0.9])
    zero_bin = binning.index[tied == 0]
    assert np.unique(zero_bin).size == 1
    assert binning.counts.sum() == tied.size and (binning.counts > 0).all()
    levels = halving_levels(50_000, 100)
    np.testing.assert_allclose(levels, 1 - 0.5 ** np.arange(1, 9))
    assert 100 <= 50_000 * (1 - levels[-1]) < 200
    assert halving_levels(150, 100).size == 1  # at least two bins
