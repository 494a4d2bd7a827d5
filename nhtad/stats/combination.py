"""Several tests of the same data combined into one statistic: min-p, Fisher, average-p, softmax-t.

One module for every combination in nhtad: :class:`~nhtad.stats.HyperTest` (cut-and-count at
several thresholds), :class:`~nhtad.stats.MultipleTestCombination` (NPLM at several kernel
widths) and the studies all call :func:`combined_statistic`, and choose the rule with the same
parameter, ``combine``. Each statistic is larger when the data are less compatible with the
null (Grosso & Letizia, "Multiple testing for signal-agnostic searches of new physics with
machine learning", arXiv:2408.12296, Sec. 3 and its ``tests.py``):

============  =========================================  ==============  =======================
combine       statistic T                                paper's name    bound (no toys)
============  =========================================  ==============  =======================
"min-p"       ``-min_j p_j``                             p-min           ``m min_j p_j``
"fisher"      ``-sum_j log p_j``                         p-prod          ``e (prod_j p_j)^(1/m)``
"average-p"   ``-log((1/m) sum_j p_j)``                  p-avg           ``2 (1/m) sum_j p_j``
"softmax-t"   ``tau log((1/m) sum_j exp(t_j / tau))``    t-smax (raw t)  none
============  =========================================  ==============  =======================

The tests of one data set are correlated (they see the same events), so T is calibrated on toys
that run every test (:class:`~nhtad.stats.MultipleTestCombination`,
:class:`~nhtad.calibration.ToyCalibrator`), never with an independence formula such as Fisher's
chi2_{2m}. Without toys, :func:`log_pvalue_bound` gives a p-value bound valid under any
dependence: Bonferroni's for min-p and Vovk & Wang's ("Combining p-values via averaging",
Biometrika 107 (2020) 791) for the geometric (Fisher) and arithmetic (average-p) means.
:func:`holm_bonferroni` is the uncalibrated rejection rule of the paper's code.

Members whose p-values underflow (a cut-and-count far in the tail) are combined from their log
p-values (``log_pvalues=``): the same orderings, in log space, with min-p as ``-min_j log p_j``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import special

from ..utils.validation import _describe_bad_values, check_open_unit_interval

__all__ = [
    "COMBINATION_METHODS",
    "PVALUE_COMBINATION_METHODS",
    "HOLM_BONFERRONI_RULES",
    "check_combination",
    "combined_statistic",
    "log_pvalue_bound",
    "holm_bonferroni",
]

#: Combinations of per-test p-values.
PVALUE_COMBINATION_METHODS = ("min-p", "fisher", "average-p")
#: Every combination :func:`combined_statistic` knows; "softmax-t" works on the raw statistics.
COMBINATION_METHODS = (*PVALUE_COMBINATION_METHODS, "softmax-t")
#: Rules of :func:`holm_bonferroni`.
HOLM_BONFERRONI_RULES = ("any", "holm")


def check_combination(combine, allowed=COMBINATION_METHODS) -> str:
    """``combine`` if it names one of ``allowed``, else a ValueError listing them."""
    if combine not in allowed:
        raise ValueError(
            f"combine must be one of {allowed}; got {combine!r}. The paper's names p-min, "
            "p-prod, p-avg and t-smax are 'min-p', 'fisher', 'average-p' and 'softmax-t'."
        )
    return combine


def _as_float_array(values, name: str) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; could not convert it to float: {exc}") from None


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name} contains {_describe_bad_values(arr.ravel())} (flat indices). A failed or "
            "diverged fit must be rerun or removed from every column before calibrating."
        )


def _as_rows(values, name: str) -> tuple[np.ndarray, bool]:
    """(n_obs, n_tests) float64 rows, plus whether the input was a single 1-D row."""
    arr = _as_float_array(values, name)
    one_dim = arr.ndim == 1
    if one_dim:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"{name} must have shape (n_obs, n_tests), or (n_tests,) for one row; got shape "
            f"{np.shape(values)}."
        )
    return arr, one_dim


def _check_pvalue_rows(pvalues) -> tuple[np.ndarray, bool]:
    rows, one_dim = _as_rows(pvalues, "pvalues")
    if np.isnan(rows).any() or not ((rows > 0) & (rows <= 1)).all():
        raise ValueError(
            "pvalues must lie in (0, 1] and not be NaN. Empirical p-values from "
            "leave_one_out_pvalues or calibrated_pvalues are never 0."
        )
    return rows, one_dim


def _check_temperature(temperature) -> None:
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not np.isfinite(temperature)
        or temperature <= 0
    ):
        raise ValueError(f"temperature must be a positive number; got {temperature!r}.")


def _from_pvalues(p: np.ndarray, combine: str) -> np.ndarray:
    # The paper's definitions, on the p-values themselves (arXiv:2408.12296, tests.py).
    if combine == "min-p":
        return -p.min(axis=1)
    if combine == "fisher":
        return -np.log(p).sum(axis=1)
    return -np.log(p.mean(axis=1))


def _from_log_pvalues(log_p: np.ndarray, combine: str) -> np.ndarray:
    # The same orderings without forming p, which may underflow (a cut far in the tail).
    if combine == "min-p":
        return -log_p.min(axis=1)
    if combine == "fisher":
        return -log_p.sum(axis=1)
    return -(special.logsumexp(log_p, axis=1) - math.log(log_p.shape[1]))


def combined_statistic(
    pvalues=None, statistics=None, *, log_pvalues=None, combine="min-p", temperature=1.0
):
    """Combined statistic of several tests per row, larger = more anomalous.

    The four combinations of arXiv:2408.12296 (table in the module docstring): "min-p",
    "fisher" (the product of p-values, calibrated empirically rather than with Fisher's
    chi2_{2m}, which assumes independent tests), "average-p", and "softmax-t", a smooth maximum
    of the raw statistics (``fusion`` in the paper's code).

    Parameters
    ----------
    pvalues : array-like of shape (n_obs, n_tests) or (n_tests,), optional
        Per-test p-values in ``(0, 1]``; the p-value combinations need these or
        ``log_pvalues``.
    statistics : array-like of shape (n_obs, n_tests) or (n_tests,), optional
        Raw test statistics; required by "softmax-t".
    log_pvalues : array-like of shape (n_obs, n_tests) or (n_tests,), optional
        Per-test ``log p`` instead of ``pvalues``, for p-values that may underflow: the same
        orderings in log space ("min-p" is then ``-min_j log p_j``). Not NaN.
    combine : {"min-p", "fisher", "average-p", "softmax-t"}, default="min-p"
        See :data:`COMBINATION_METHODS`.
    temperature : float, default=1.0
        ``tau`` of "softmax-t"; ``tau -> 0`` tends to ``max_j t_j``. Ignored by the others.
        Statistics of very different scales (NPLM's t falls from ~900 to ~45 as sigma grows)
        make the softmax equal to the largest column, as the paper found.

    Returns
    -------
    float or ndarray of shape (n_obs,)
        A float for a 1-D (single-row) input.
    """
    check_combination(combine)
    if combine == "softmax-t":
        if statistics is None:
            raise ValueError("combine='softmax-t' combines the raw statistics; pass statistics=.")
        _check_temperature(temperature)
        rows, one_dim = _as_rows(statistics, "statistics")
        _check_finite(rows, "statistics")
        combined = temperature * special.logsumexp(
            rows / temperature, axis=1, b=1.0 / rows.shape[1]
        )
    elif log_pvalues is not None:
        rows, one_dim = _as_rows(log_pvalues, "log_pvalues")
        if np.isnan(rows).any():
            raise ValueError("log_pvalues must not be NaN; check the tests that produced them.")
        combined = _from_log_pvalues(rows, combine)
    elif pvalues is not None:
        rows, one_dim = _check_pvalue_rows(pvalues)
        combined = _from_pvalues(rows, combine)
    else:
        raise ValueError(f"combine={combine!r} combines p-values; pass pvalues= or log_pvalues=.")
    return float(combined[0]) if one_dim else combined


def log_pvalue_bound(log_pvalues, combine="min-p") -> float:
    """``log`` of a p-value bound of the combination, valid under any dependence, without toys.

    For ``m`` p-values: ``m min_j p_j`` for "min-p" (Bonferroni); ``e (prod_j p_j)^(1/m)`` for
    "fisher" and ``2 (1/m) sum_j p_j`` for "average-p" (Vovk & Wang, "Combining p-values via
    averaging", Biometrika 107 (2020) 791: ``e`` times the geometric mean and twice the
    arithmetic mean of p-values are p-values under any dependence). Valid but conservative;
    capped at ``log 1 = 0``.

    Parameters
    ----------
    log_pvalues : array-like of shape (m,)
        Per-test ``log p``.
    combine : {"min-p", "fisher", "average-p"}, default="min-p"

    Returns
    -------
    float
    """
    check_combination(combine, PVALUE_COMBINATION_METHODS)
    lp = np.asarray(log_pvalues, dtype=np.float64)
    m = lp.size
    if combine == "min-p":
        bound = math.log(m) + lp.min()
    elif combine == "fisher":
        bound = 1.0 + lp.mean()
    else:
        bound = math.log(2.0) + special.logsumexp(lp) - math.log(m)
    return min(0.0, float(bound))


def holm_bonferroni(pvalues, alpha: float, *, rule: str = "any") -> np.ndarray:
    """Per-row rejection of the global null by a Holm-Bonferroni-type rule, uncalibrated.

    Each row's ``m`` p-values are sorted, ``p_(0) <= ... <= p_(m-1)``, and compared with
    ``alpha / (m - i)``. No null toys are involved: the level relies on the inequality behind
    the rule, not on calibration.

    - ``rule="any"`` (default) is the variant of the code of arXiv:2408.12296
      (``holm_bonferroni``, used for the published "HB" powers): the row is rejected if **any**
      ``i`` has ``p_(i) <= alpha / (m - i)``. The code returns at the first passing ``i`` and does
      not stop at the first failing one, so this is looser than Holm's step-down procedure. It
      rejects exactly when Hochberg's (1988) step-up procedure rejects at least one hypothesis,
      which controls the family-wise error for independent or positively dependent tests
      (Simes' inequality) but not in general.
    - ``rule="holm"`` is textbook Holm (1979) step-down: at least one hypothesis is rejected iff
      the first step rejects, ``p_(0) <= alpha / m``, which is Bonferroni's test of the global
      null and valid under any dependence.

    Parameters
    ----------
    pvalues : array-like of shape (n_obs, n_tests) or (n_tests,)
        Per-test p-values of each row, e.g. from :func:`~nhtad.stats.calibrated_pvalues`.
    alpha : float
        Level in (0, 1), e.g. ``scipy.stats.norm.sf(Z)``.
    rule : {"any", "holm"}, default="any"

    Returns
    -------
    bool or ndarray of bool of shape (n_obs,)
        Whether each row rejects the global null; a bool for a 1-D input.
    """
    if rule not in HOLM_BONFERRONI_RULES:
        raise ValueError(f"rule must be one of {HOLM_BONFERRONI_RULES}; got {rule!r}.")
    alpha = check_open_unit_interval(alpha, "alpha")
    rows, one_dim = _check_pvalue_rows(pvalues)
    m = rows.shape[1]
    if rule == "holm":
        rejected = rows.min(axis=1) <= alpha / m
    else:
        ordered = np.sort(rows, axis=1)
        rejected = (ordered <= alpha / (m - np.arange(m))).any(axis=1)
    return bool(rejected[0]) if one_dim else rejected
