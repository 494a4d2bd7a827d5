"""Combining several tests of the same data, calibrated on the same null toys.

Grosso & Letizia, "Multiple testing for signal-agnostic searches of new physics with machine
learning", arXiv:2408.12296, run one test (NPLM) at several hyper-parameters (kernel widths
sigma) on each toy and combine the m statistics into one. Every toy, null or alternative, is
fitted at all m settings, so the columns of a toy are correlated; the combination is therefore
never calibrated with an independence formula (Fisher's chi2_{2m}, Bonferroni) but empirically,
by applying the same transform to the null toys (section 3 of the paper):

1. Per-column p-values. A null toy is compared with the *other* null toys of its column
   (:func:`leave_one_out_pvalues`), so it is not its own reference; any other row (an
   alternative toy, the observed data) is compared with the full null column
   (:func:`calibrated_pvalues`).
2. A combined statistic per row (:func:`combine`), larger = more anomalous:

   ============  ==========================================  ======================
   method        statistic                                   name in the paper/code
   ============  ==========================================  ======================
   "min-p"       ``T = -min_j p_j``                          p-min
   "fisher"      ``T = -sum_j log p_j``                      p-prod
   "average-p"   ``T = -log((1/m) sum_j p_j)``               p-avg
   "softmax-t"   ``T = tau log((1/m) sum_j exp(t_j / tau))``  t-smax (on the raw t)
   ============  ==========================================  ======================

3. The p-value of a combined statistic is its empirical p against the combined statistics of
   the null toys (:class:`MultipleTestCombination`).

Empirical p-values here follow nhtad's conservative convention
(:func:`nhtad.stats.empirical_pvalue`): ``(1 + #{null >= t}) / (1 + n)``, where a null
value equal to ``t`` up to a relative ``1e-12`` counts as at least as extreme. The paper's code
counts ``null > t``; the two differ only on ties, which continuous statistics do not have (on the
published LHCO arrays every pass count is the same under both).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import special
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..utils.validation import _describe_bad_values, check_open_unit_interval
from .pvalues import log_pvalue_to_significance

__all__ = [
    "COMBINATION_METHODS",
    "PVALUE_COMBINATION_METHODS",
    "HOLM_BONFERRONI_RULES",
    "leave_one_out_pvalues",
    "calibrated_pvalues",
    "combine",
    "holm_bonferroni",
    "MultipleTestCombination",
]

#: Combinations of per-column p-values.
PVALUE_COMBINATION_METHODS = ("min-p", "fisher", "average-p")
#: Every combination :func:`combine` knows; "softmax-t" works on the raw statistics.
COMBINATION_METHODS = (*PVALUE_COMBINATION_METHODS, "softmax-t")
#: Rules of :func:`holm_bonferroni`.
HOLM_BONFERRONI_RULES = ("any", "holm")

# Same relative tie tolerance as nhtad.stats.pvalues.empirical_pvalue: combined statistics of two
# toys whose p-values are permutations of each other (Fisher, average-p) can differ by one ulp
# from the summation order alone, and must still count as tied.
_REL_TIE_TOL = 1e-12


def _check_method(method) -> str:
    if method not in COMBINATION_METHODS:
        raise ValueError(
            f"method must be one of {COMBINATION_METHODS}; got {method!r}. The paper's names "
            "p-min, p-prod, p-avg and t-smax are 'min-p', 'fisher', 'average-p' and 'softmax-t'."
        )
    return method


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


def _check_null_matrix(null_statistics, name: str = "null_statistics") -> np.ndarray:
    """(n_toys, m) finite float64 null statistics with n_toys >= 2; 1-D is one column."""
    arr = _as_float_array(null_statistics, name)
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must have shape (n_toys, n_tests), one row per null toy and one column per "
            f"test, or be 1-D for a single test; got an array of shape {arr.shape}."
        )
    if arr.shape[0] < 2 or arr.shape[1] == 0:
        raise ValueError(
            f"{name} needs at least 2 null toys and 1 test to calibrate anything; got shape "
            f"{arr.shape}. Generate more null toys."
        )
    _check_finite(arr, name)
    return arr


def _check_rows(statistics, n_tests: int, name: str) -> tuple[np.ndarray, bool]:
    """Rows of ``n_tests`` statistics as (n_obs, n_tests), plus whether the input was 1-D.

    A 1-D input is one row of ``n_tests`` values, except for a single test, where it is a
    column of ``n_obs`` values (the two agree when it has length 1).
    """
    arr = _as_float_array(statistics, name)
    one_dim = arr.ndim == 1
    if one_dim:
        arr = arr[:, np.newaxis] if n_tests == 1 else arr[np.newaxis, :]
    if arr.ndim != 2 or arr.shape[1] != n_tests:
        raise ValueError(
            f"{name} must have shape (n_obs, {n_tests}) or ({n_tests},), one value per test "
            f"as in the null statistics; got an array of shape {np.shape(statistics)}."
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: pass at least one row of statistics.")
    _check_finite(arr, name)
    return arr, one_dim


def _counts_at_least(sorted_null: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """``#{null >= observed}`` for each observed value, against an ascending-sorted null."""
    tol = np.maximum(np.finfo(float).eps, np.abs(observed) * _REL_TIE_TOL)
    return sorted_null.size - np.searchsorted(sorted_null, observed - tol, side="left")


def leave_one_out_pvalues(null_statistics) -> np.ndarray:
    """Per-column p-value of every null toy against the other null toys of its column.

    For toy ``i`` of column ``j`` of ``n`` null toys (arXiv:2408.12296, ``return_pvalues``)::

        p_ij = (1 + #{k != i : t_kj >= t_ij}) / n

    which is the empirical p-value ``(1 + #{null >= t}) / (1 + |null|)`` of ``t_ij`` against the
    ``n - 1`` other toys. Excluding the toy from its own reference makes ``p_ij`` exactly as
    distributed as the p-value of a fresh null toy against ``n - 1`` toys, so the combined
    statistics of the null toys are a valid null sample for the combined statistic of new rows.
    Computed with one sort per column, ``O(n log n)``.

    Parameters
    ----------
    null_statistics : array-like of shape (n_toys, n_tests) or (n_toys,)
        Test statistics of the null toys, larger = more anomalous; ``n_toys >= 2``.

    Returns
    -------
    ndarray of shape (n_toys, n_tests)
        Values in ``[1/n, 1]``; a 1-D input gives shape (n_toys, 1).

    Raises
    ------
    ValueError
        For NaN or inf, fewer than 2 toys, or an array that is not 1-D or 2-D.
    """
    null = _check_null_matrix(null_statistics)
    n = null.shape[0]
    pvalues = np.empty_like(null)
    for j in range(null.shape[1]):  # a handful of tests; each column is vectorised over toys
        column = null[:, j]
        # The count includes toy i itself (t_ij >= t_ij), which stands in for the "1 +".
        pvalues[:, j] = _counts_at_least(np.sort(column), column) / n
    return pvalues


def calibrated_pvalues(null_statistics, statistics) -> np.ndarray:
    """Per-column empirical p-values of new rows against the full null columns.

    For a row of statistics ``t_j`` (an alternative toy or the observed data) and ``n`` null
    toys per column (arXiv:2408.12296, ``return_pvalues``)::

        p_j = (1 + #{null_j >= t_j}) / (1 + n)

    Parameters
    ----------
    null_statistics : array-like of shape (n_toys, n_tests) or (n_toys,)
        Test statistics of the null toys, one column per test.
    statistics : array-like of shape (n_obs, n_tests) or (n_tests,)
        Statistics to calibrate, the same tests in the same column order. With a single test
        a 1-D array is a column of ``n_obs`` values.

    Returns
    -------
    ndarray
        p-values in ``[1/(n + 1), 1]``, with the shape of ``statistics``.
    """
    null = _check_null_matrix(null_statistics)
    rows, one_dim = _check_rows(statistics, null.shape[1], "statistics")
    n = null.shape[0]
    pvalues = np.empty_like(rows)
    for j in range(null.shape[1]):
        pvalues[:, j] = (1.0 + _counts_at_least(np.sort(null[:, j]), rows[:, j])) / (1.0 + n)
    if one_dim:
        return pvalues[:, 0] if null.shape[1] == 1 else pvalues[0]
    return pvalues


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


def combine(pvalues=None, statistics=None, *, method: str = "min-p", temperature: float = 1.0):
    """Combined statistic of several tests per row, larger = more anomalous.

    The four combinations of arXiv:2408.12296 (``tests.py``): "min-p" ``T = -min_j p_j``;
    "fisher" ``T = -sum_j log p_j`` (the product of p-values, calibrated empirically rather than
    with Fisher's chi2_{2m}, which assumes independent tests); "average-p"
    ``T = -log((1/m) sum_j p_j)``; "softmax-t" ``T = tau log((1/m) sum_j exp(t_j / tau))`` on the
    raw statistics, a smooth maximum (``fusion`` in the paper's code).

    Parameters
    ----------
    pvalues : array-like of shape (n_obs, n_tests) or (n_tests,), optional
        Per-test p-values in ``(0, 1]``; required by the p-value methods.
    statistics : array-like of shape (n_obs, n_tests) or (n_tests,), optional
        Raw test statistics; required by "softmax-t".
    method : {"min-p", "fisher", "average-p", "softmax-t"}, default="min-p"
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
    _check_method(method)
    if method == "softmax-t":
        if statistics is None:
            raise ValueError("method='softmax-t' combines the raw statistics; pass statistics=.")
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, numbers.Real)
            or not np.isfinite(temperature)
            or temperature <= 0
        ):
            raise ValueError(f"temperature must be a positive number; got {temperature!r}.")
        rows, one_dim = _as_rows(statistics, "statistics")
        _check_finite(rows, "statistics")
        combined = temperature * special.logsumexp(
            rows / temperature, axis=1, b=1.0 / rows.shape[1]
        )
    else:
        if pvalues is None:
            raise ValueError(f"method={method!r} combines p-values; pass pvalues=.")
        rows, one_dim = _check_pvalue_rows(pvalues)
        if method == "min-p":
            combined = -rows.min(axis=1)
        elif method == "fisher":
            combined = -np.log(rows).sum(axis=1)
        else:
            combined = -np.log(rows.mean(axis=1))
    return float(combined[0]) if one_dim else combined


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
        Per-test p-values of each row, e.g. from :func:`calibrated_pvalues`.
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


class MultipleTestCombination(BaseEstimator):
    """Several tests of the same data combined into one, calibrated on shared null toys.

    arXiv:2408.12296, section 3: each null toy is fitted with all ``m`` tests (e.g. NPLM at ``m``
    kernel widths); :meth:`fit` turns the null statistics into leave-one-out p-values and then
    into a null sample of the combined statistic. New rows (alternative toys, the observed data)
    get per-test p-values against the full null columns, are combined the same way, and
    :meth:`pvalue` is the empirical p of their combined statistic against that null sample.

    Parameters
    ----------
    method : {"min-p", "fisher", "average-p", "softmax-t"}, default="min-p"
        Combination, see :func:`combine`.
    columns : array-like of int, optional
        Indices of the tests to combine (the paper's LHCO study uses ``[0, 2, 3, 4, 7, 8]`` of
        9 widths). ``None`` combines all of them. Rows passed after fitting keep all the
        columns of the null statistics; the selection is applied to them too.
    temperature : float, default=1.0
        Temperature of "softmax-t".

    Attributes
    ----------
    n_features_in_ : int
        Number of tests (columns) in the null statistics passed to :meth:`fit`.
    columns_ : ndarray of int
        The combined columns.
    null_statistics_ : ndarray of shape (n_toys, n_combined)
        Null statistics of the combined columns.
    null_pvalues_ : ndarray of shape (n_toys, n_combined)
        Their leave-one-out p-values (:func:`leave_one_out_pvalues`).
    null_combined_ : ndarray of shape (n_toys,)
        Combined statistic of each null toy.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> null = rng.chisquare(10, size=(1000, 3))
    >>> combination = MultipleTestCombination(method="fisher").fit(null)
    >>> p = combination.pvalue(rng.chisquare(10, size=(5, 3)))
    >>> p.shape
    (5,)
    """

    def __init__(self, method="min-p", columns=None, temperature=1.0):
        self.method = method
        self.columns = columns
        self.temperature = temperature

    def _resolve_columns(self, n_tests: int) -> np.ndarray:
        if self.columns is None:
            return np.arange(n_tests)
        columns = np.asarray(self.columns)
        if (
            columns.ndim != 1
            or columns.size == 0
            or not np.issubdtype(columns.dtype, np.integer)
            or columns.min() < -n_tests
            or columns.max() >= n_tests
        ):
            raise ValueError(
                f"columns must be a non-empty list of integer column indices into the "
                f"{n_tests} tests; got {self.columns!r}."
            )
        columns = columns % n_tests
        if np.unique(columns).size != columns.size:
            raise ValueError(f"columns must not repeat a test; got {self.columns!r}.")
        return columns

    def fit(self, null_statistics, y=None):
        """Calibrate the combination on null toys.

        Parameters
        ----------
        null_statistics : array-like of shape (n_toys, n_tests) or (n_toys,)
            Statistics of the null toys, one column per test, each toy fitted with every test.
        y : None
            Ignored; present for scikit-learn API consistency.

        Returns
        -------
        self
        """
        _check_method(self.method)
        null = _check_null_matrix(null_statistics)
        columns = self._resolve_columns(null.shape[1])
        self.n_features_in_ = null.shape[1]
        self.columns_ = columns
        self.null_statistics_ = null[:, columns]
        self.null_pvalues_ = leave_one_out_pvalues(self.null_statistics_)
        self.null_combined_ = combine(
            self.null_pvalues_,
            self.null_statistics_,
            method=self.method,
            temperature=self.temperature,
        )
        self._sorted_null_combined = np.sort(self.null_combined_)
        return self

    def combined_statistic(self, statistics):
        """Combined statistic of new rows, their per-test p-values taken against the full null.

        Parameters
        ----------
        statistics : array-like of shape ``(n_obs, n_features_in_)`` or ``(n_features_in_,)``
            All the tests' statistics of each row, in the column order of the null statistics.

        Returns
        -------
        float or ndarray of shape (n_obs,)
        """
        check_is_fitted(self)
        rows, one_dim = _check_rows(statistics, self.n_features_in_, "statistics")
        rows = rows[:, self.columns_]
        pvalues = None
        if self.method != "softmax-t":
            pvalues = calibrated_pvalues(self.null_statistics_, rows)
        combined = combine(pvalues, rows, method=self.method, temperature=self.temperature)
        return float(combined[0]) if one_dim and self.n_features_in_ > 1 else combined

    def _counts(self, statistics):
        combined = np.asarray(self.combined_statistic(statistics))
        return _counts_at_least(self._sorted_null_combined, combined), combined.ndim == 0

    def pvalue(self, statistics):
        """Empirical p-value ``(1 + #{T_null >= T}) / (1 + n_toys)`` of each row's combined T.

        The convention of :func:`nhtad.stats.empirical_pvalue`, vectorised over rows;
        never below ``1 / (1 + n_toys)``.

        Returns
        -------
        float or ndarray of shape (n_obs,)
        """
        counts, scalar = self._counts(statistics)
        p = (1.0 + counts) / (1.0 + self.null_combined_.size)
        return float(p) if scalar else p

    def log_pvalue(self, statistics):
        """Natural logarithm of :meth:`pvalue`."""
        counts, scalar = self._counts(statistics)
        log_p = np.log1p(counts) - np.log1p(self.null_combined_.size)
        return float(log_p) if scalar else log_p

    def significance(self, statistics):
        """One-sided Gaussian significance ``Z = Phi^{-1}(1 - p)`` of :meth:`pvalue`.

        The empirical p is at least ``1 / (1 + n_toys)``, so Z saturates there (about 3.5 for
        2000 toys): a larger Z needs more null toys or an asymptotic null.
        """
        return log_pvalue_to_significance(self.log_pvalue(statistics))
