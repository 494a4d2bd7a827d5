"""Estimators that learn an anomaly score, and out-of-fold scoring.

- :class:`SACWoLaClassifier`: simulation-assisted CWoLa on a private skorch net (its ``fit``
  needs the ``torch`` extra; importing it does not);
- :class:`HGBEnsembleClassifier`: an ensemble of HistGradientBoosting classifiers, the baseline
  (data-only CWoLa, or SA-CWoLa's loss with ``lam`` and ``is_simulation``);
- :func:`out_of_fold_scores`: k-fold scores for data and simulation, with seed ensembling;
- :func:`decorrelation_report`: the checks that a score did not learn m_jj;
- :class:`NPLMKernelEstimator`: the NPLM test statistic and log density ratio with a Nyström
  Gaussian-kernel model (FALKON-style solver in torch, :mod:`nhtad.scoring.nystrom`);
- :class:`ScoreTransformer`: a trained score as a Pipeline step (in-sample or out-of-fold), so
  that a test of the null can follow it and a ToyCalibrator can rerun both;
- :func:`make_decorrelation_scorer` / :func:`decorrelated_auc_score`: a ``GridSearchCV``
  scoring for SA-CWoLa's ``lam`` (held-out sensitivity minus learnt m_jj dependence).
  ``NPLMKernelEstimator.score`` is NPLM's held-out t, the default scoring of its grid searches;
- :func:`supervised_separation` / :func:`max_significance_improvement`: AUC and maximum
  ``eps_S / sqrt(eps_B)`` of a score, the LHC Olympics' measure of how separable a signal is.
"""

from .crossfit import OutOfFoldScores, out_of_fold_scores
from .diagnostics import DecorrelationReport, decorrelation_report
from .hgb import HGBEnsembleClassifier
from .kernel_width import candidate_sigma
from .nplm import NPLMKernelEstimator
from .nplm_test import NPLMTest
from .sacwola import SACWoLaClassifier
from .score_transformer import ScoreTransformer
from .scorers import decorrelated_auc_score, make_decorrelation_scorer
from .separation import Separation, max_significance_improvement, supervised_separation
from .weights import sacwola_targets_and_weights

__all__ = [
    "NPLMTest",
    "SACWoLaClassifier",
    "HGBEnsembleClassifier",
    "out_of_fold_scores",
    "OutOfFoldScores",
    "decorrelation_report",
    "DecorrelationReport",
    "sacwola_targets_and_weights",
    "NPLMKernelEstimator",
    "candidate_sigma",
    "ScoreTransformer",
    "decorrelated_auc_score",
    "make_decorrelation_scorer",
    "Separation",
    "max_significance_improvement",
    "supervised_separation",
]
