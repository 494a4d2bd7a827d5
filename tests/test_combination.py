"""The one combination module: min-p, Fisher, average-p, softmax-t, and the no-toy bounds."""

import math

import numpy as np
import pytest
from scipy import stats

from nhtad.stats import HyperTest, combined_statistic, log_pvalue_bound
from nhtad.stats.combination import COMBINATION_METHODS, PVALUE_COMBINATION_METHODS
from nhtad.studies.nplm_table import _min_p


@pytest.mark.parametrize("combine", PVALUE_COMBINATION_METHODS)
def test_log_space_combination_orders_rows_as_the_p_value_one(combine):
    rng = np.random.default_rng(0)
    p = rng.uniform(1e-3, 1.0, size=(200, 4))
    from_p = combined_statistic(p, combine=combine)
    from_log_p = combined_statistic(log_pvalues=np.log(p), combine=combine)
    assert (stats.rankdata(from_p) == stats.rankdata(from_log_p)).all()
    if combine == "fisher":
        np.testing.assert_array_equal(from_p, from_log_p)
    elif combine == "average-p":
        np.testing.assert_allclose(from_p, from_log_p, rtol=1e-12)
    else:
        np.testing.assert_array_equal(from_log_p, -np.log(p.min(axis=1)))


def test_log_space_combination_stays_finite_where_p_underflows():
    log_p = np.array([-900.0, -1000.0, -2.0])
    assert combined_statistic(log_pvalues=log_p, combine="min-p") == 1000.0
    assert combined_statistic(log_pvalues=log_p, combine="fisher") == 1902.0
    assert combined_statistic(log_pvalues=log_p, combine="average-p") == pytest.approx(
        2.0 + math.log(3.0)
    )
    with pytest.raises(ValueError, match="NaN"):
        combined_statistic(log_pvalues=[np.nan, -1.0])
    with pytest.raises(ValueError, match="pass pvalues= or log_pvalues="):
        combined_statistic(combine="fisher")


def test_bounds_of_vovk_and_wang_and_bonferroni():
    log_p = np.log([0.01, 0.2, 0.5])
    assert log_pvalue_bound(log_p, "min-p") == pytest.approx(math.log(3 * 0.01))
    assert log_pvalue_bound(log_p, "fisher") == pytest.approx(
        math.log(math.e * (0.01 * 0.2 * 0.5) ** (1 / 3))
    )
    assert log_pvalue_bound(log_p, "average-p") == pytest.approx(math.log(2 * 0.71 / 3))
    # Capped at p = 1.
    assert log_pvalue_bound(np.log([0.9, 0.8]), "average-p") == 0.0
    with pytest.raises(ValueError, match="combine must be one of"):
        log_pvalue_bound(log_p, "softmax-t")


def test_one_parameter_name_and_one_list_of_rules_across_the_classes():
    from nhtad.stats import MultipleTestCombination

    assert "combine" in HyperTest([]).get_params()
    assert "combine" in MultipleTestCombination().get_params()
    assert PVALUE_COMBINATION_METHODS == COMBINATION_METHODS[:3]


def test_the_study_hyper_test_is_min_p_of_the_cuts():
    minus_log_p = np.random.default_rng(1).exponential(size=(30, 4))
    # Bit for bit the maximum the study took by hand before.
    np.testing.assert_array_equal(_min_p(minus_log_p), minus_log_p.max(axis=1))
