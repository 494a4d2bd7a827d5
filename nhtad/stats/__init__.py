"""Tests of the background-only null hypothesis.

Every test is a scikit-learn style estimator whose ``fit(s, y)`` runs the test and sets
``statistic_``, ``pvalue_``, ``log_pvalue_``, ``significance_`` (Z), ``n_events_`` and
``result_`` (a frozen :class:`TestResult`); ``score(s, y)`` returns Z and ``test(s, y)`` the
:class:`TestResult`.

:class:`HyperTest` turns a family of tests of the same events (cut-and-count at several
thresholds) into one, calibrated on toys of the whole chain. Toy-calibrated combinations of
NPLM statistics at several widths (:class:`MultipleTestCombination`, arXiv:2408.12296)
and the chi-square fit of a null sample (:func:`fit_chi2_dof`) live here too.
"""

from .association import HomogeneousAssociationTest
from .base import BaseTest, TestResult
from .binning import equal_count_binning, equal_count_edges, min_count_for
from .blum_kiefer_rosenblatt import bkr_log_sf
from .bump_hunt import BackgroundFitError, BumpHuntTest, ProfileLikelihood, profile_likelihood_q0
from .chi2_fit import Chi2Fit, Chi2Significance, chi2_significance, fit_chi2_dof
from .cut_and_count import CutAndCountTest
from .distance_correlation import DistanceCorrelationTest, distance_covariance_u
from .hoeffding import HoeffdingDTest, hoeffding_d
from .hyper import HYPER_COMBINATIONS, HyperTest
from .multiple_testing import (
    COMBINATION_METHODS,
    MultipleTestCombination,
    calibrated_pvalues,
    combine,
    holm_bonferroni,
    leave_one_out_pvalues,
)
from .mutual_info import MutualInformationIndependenceTest, mutual_information
from .pvalues import (
    chi2_log_sf,
    empirical_log_pvalue,
    empirical_pvalue,
    log_gamma_sf,
    log_pvalue_to_significance,
    pvalue_to_significance,
    significance_to_log_pvalue,
)
from .smooth_trend import SmoothTrendIndependenceTest

__all__ = [
    "BaseTest",
    "TestResult",
    "MutualInformationIndependenceTest",
    "SmoothTrendIndependenceTest",
    "HomogeneousAssociationTest",
    "HyperTest",
    "CutAndCountTest",
    "BumpHuntTest",
    "BackgroundFitError",
    "ProfileLikelihood",
    "profile_likelihood_q0",
    "HYPER_COMBINATIONS",
    "DistanceCorrelationTest",
    "HoeffdingDTest",
    "mutual_information",
    "distance_covariance_u",
    "hoeffding_d",
    "bkr_log_sf",
    "equal_count_binning",
    "equal_count_edges",
    "min_count_for",
    "chi2_log_sf",
    "empirical_log_pvalue",
    "empirical_pvalue",
    "log_gamma_sf",
    "log_pvalue_to_significance",
    "pvalue_to_significance",
    "significance_to_log_pvalue",
    "MultipleTestCombination",
    "COMBINATION_METHODS",
    "leave_one_out_pvalues",
    "calibrated_pvalues",
    "combine",
    "holm_bonferroni",
    "fit_chi2_dof",
    "Chi2Fit",
    "chi2_significance",
    "Chi2Significance",
]
