"""Tests of the background-only null hypothesis, and what to use when.

Every test is a scikit-learn style estimator (:class:`BaseTest`) whose ``fit(s, y)`` runs the
test on the events' scores ``s`` and their ``y`` (m_jj, or region / data-reference labels) and
sets ``statistic_``, ``pvalue_``, ``log_pvalue_``, ``significance_`` (Z), ``n_events_`` and
``result_`` (a frozen :class:`TestResult` whose ``method`` says how p was obtained:
"asymptotic", "exact", "resampled", "toys", "bound" or "extrapolated"); ``score(s, y)``
returns Z and ``test(s, y)`` the :class:`TestResult`.

What to use when
----------------
- **A trained anomaly score and m_jj, one signal region** (SA-CWoLa, Kamenik & Szewc, PLB 840
  (2023) 137836): :class:`SmoothTrendIndependenceTest` with ``y_bins=SignalRegion()``, the
  honest default of :class:`nhtad.SACWoLaTest`. A trained score depends on m_jj through its
  features even in pure background; this test allows a smooth trend and looks for what is
  left. :class:`MutualInformationIndependenceTest` is the papers' binned MI test: exact for a
  score that is independent of m_jj *by construction* (an untrained score), anti-conservative
  for a trained one unless given a simulation null.
- **Data and a simulation that should share the score/m_jj dependence**:
  :class:`HomogeneousAssociationTest` (no three-way interaction in the
  score x m_jj x sample table).
- **Any dependence, no binning**: :class:`DistanceCorrelationTest` (distance covariance of
  ranks) and :class:`HoeffdingDTest` (Hoeffding's D), both O(n log^2 n) and both with the
  distribution-free Blum-Kiefer-Rosenblatt asymptotic null (or a permutation null); like the
  MI test, they hold only for a score independent of m_jj by construction.
- **A cut on the score** (the classic baselines): :class:`AnomalyCutTest` (signal region vs
  sidebands after a cut of sideband efficiency ``eps2``) or :class:`TemplateCutAndCountTest`
  (data vs an independent reference above a reference quantile; exact binomial p);
  :class:`BumpHuntTest` (dijet fit to the sidebands, profile likelihood in the signal region,
  with or without a cut).
- **Several thresholds or tests of the same events**: :class:`HyperTest` (min-p / Fisher /
  average-p; a Vovk-Wang bound, or calibrated on toys of the whole chain with
  :class:`~nhtad.calibration.ToyCalibrator`). NPLM at several kernel widths:
  :class:`MultipleTestCombination` (arXiv:2408.12296), or :class:`nhtad.scoring.NPLMTest`.
- **p-values far in the tail**: every p is kept in log space
  (:func:`log_pvalue_to_significance`, :func:`significance_to_log_pvalue`), so Z = 40 is a
  number; empirical p-values from toys saturate at ``1 / (n + 1)`` (a
  :class:`ToyFloorWarning` says when, and :func:`toys_needed` how many toys a Z needs):
  extrapolate with :func:`chi2_extrapolation` (the chi-square fitted by :func:`fit_chi2_dof`)
  where the statistic has a chi-square law.
- **The resonance mass unknown**: :class:`SignalRegionScan` runs any of the above (or a chain
  that trains its score per window) in every window of a sliding scan
  (:func:`sliding_regions`) and quotes the global p-value, calibrated on toys of the whole
  scan, with the trials factor; :func:`gross_vitells` is the analytic cross-check.
"""

from .association import HomogeneousAssociationTest
from .base import BaseTest, TestResult
from .binning import equal_count_binning, equal_count_edges, min_count_for
from .blum_kiefer_rosenblatt import bkr_log_sf
from .bump_hunt import BackgroundFitError, BumpHuntTest, ProfileLikelihood, profile_likelihood_q0
from .chi2_fit import (
    Chi2Extrapolation,
    Chi2Fit,
    Chi2Significance,
    chi2_extrapolation,
    chi2_significance,
    fit_chi2_dof,
)
from .combination import combined_statistic, log_pvalue_bound
from .cut_and_count import AnomalyCutTest, CutAndCountTest, TemplateCutAndCountTest
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
from .scan import GrossVitells, SignalRegionScan, gross_vitells, sliding_regions
from .smooth_trend import SmoothTrendIndependenceTest
from .toy_floor import ToyFloorWarning, toys_needed

__all__ = [
    "SignalRegionScan",
    "sliding_regions",
    "gross_vitells",
    "GrossVitells",
    "BaseTest",
    "TestResult",
    "MutualInformationIndependenceTest",
    "SmoothTrendIndependenceTest",
    "HomogeneousAssociationTest",
    "HyperTest",
    "AnomalyCutTest",
    "TemplateCutAndCountTest",
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
    "combined_statistic",
    "log_pvalue_bound",
    "holm_bonferroni",
    "fit_chi2_dof",
    "Chi2Fit",
    "chi2_significance",
    "Chi2Significance",
    "chi2_extrapolation",
    "Chi2Extrapolation",
    "ToyFloorWarning",
    "toys_needed",
]
