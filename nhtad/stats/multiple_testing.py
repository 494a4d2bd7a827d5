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
2. A combined statistic per row, larger = more anomalous: min-p, Fisher, average-p or
   softmax-t (:func:`~nhtad.stats.combined_statistic`, table in
   :mod:`nhtad.stats.combination`).
3. The p-value of a combined statistic is its empirical p against the combined statistics of
   the null toys (:class:`MultipleTestCombination`).

Every empirical p-value here is :func:`nhtad.stats.empirical_pvalue`, nhtad's conservative
convention ``(1 + #{null >= t}) / (1 + n)``, where a null value equal to ``t`` up to a relative
``1e-12`` counts as at least as extreme. The paper's code counts ``null > t``; the two differ
only on ties, which continuous statistics do not have (on the published LHCO arrays every pass
count is the same under both).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from .combination import (
    COMBINATION_METHODS,
    HOLM_BONFERRONI_RULES,
    PVALUE_COMBINATION_METHODS,
    _as_float_array,
    _check_finite,
    check_combination,
    combined_statistic,
    holm_bonferroni,
)
from .pvalues import empirical_log_pvalue, empirical_pvalue, log_pvalue_to_significance

# The combinations live in nhtad.stats.combination; their names stay importable from here.
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


def leave_one_out_pvalues(null_statistics) -> np.ndarray:
    """Per-column p-value of every null toy against the other null toys of its column.

    For toy ``i`` of column ``j`` of ``n`` null toys (arXiv:2408.12296, ``return_pvalues``)::

        p_ij = (1 + #{k != i : t_kj >= t_ij}) / n

    which is the empirical p-value ``(1 + #{null >= t}) / (1 + |null|)`` of ``t_ij`` against the
    ``n - 1`` other toys. Excluding the toy from its own reference makes ``p_ij`` exactly as
    distributed as the p-value of a fresh null toy against ``n - 1`` toys, so the combined
    statistics of the null toys are a valid null sample for the combined statistic of new rows.
    Computed by :func:`~nhtad.stats.empirical_pvalue` with ``observed=None``, one sort per
    column, ``O(n log n)``.

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
    return empirical_pvalue(_check_null_matrix(null_statistics))


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
    pvalues = empirical_pvalue(null, rows)
    if one_dim:
        return pvalues[:, 0] if null.shape[1] == 1 else pvalues[0]
    return pvalues


def combine(pvalues=None, statistics=None, *, method="min-p", temperature=1.0):
    """Deprecated: use :func:`~nhtad.stats.combined_statistic` with ``combine=``.

    The same statistic, named and parametrised as in :class:`~nhtad.stats.HyperTest` and
    :class:`MultipleTestCombination`; this alias goes in the next release.
    """
    warnings.warn(
        "nhtad.stats.combine(..., method=...) is deprecated: use "
        "nhtad.stats.combined_statistic(..., combine=...), the parameter name HyperTest and "
        "MultipleTestCombination use.",
        FutureWarning,
        stacklevel=2,
    )
    return combined_statistic(pvalues, statistics, combine=method, temperature=temperature)


class MultipleTestCombination(BaseEstimator):
    """Several tests of the same data combined into one, calibrated on shared null toys.

    arXiv:2408.12296, section 3: each null toy is fitted with all ``m`` tests (e.g. NPLM at ``m``
    kernel widths); :meth:`fit` turns the null statistics into leave-one-out p-values and then
    into a null sample of the combined statistic. New rows (alternative toys, the observed data)
    get per-test p-values against the full null columns, are combined the same way, and
    :meth:`pvalue` is the empirical p of their combined statistic against that null sample.

    Parameters
    ----------
    combine : {"min-p", "fisher", "average-p", "softmax-t"}, default="min-p"
        Combination, see :func:`~nhtad.stats.combined_statistic`; the parameter of the same
        name of :class:`~nhtad.stats.HyperTest`. (Named ``method`` before; ``method=`` still
        works for one release, with a ``FutureWarning`` at :meth:`fit`.)
    method : str, default="deprecated"
        Deprecated name of ``combine``.
    columns : array-like of int, optional
        Indices of the tests to combine (the paper's LHCO study uses ``[0, 2, 3, 4, 7, 8]`` of
        9 widths). ``None`` combines all of them. Rows passed after fitting keep all the
        columns of the null statistics; the selection is applied to them too.
    temperature : float, default=1.0
        Temperature of "softmax-t".

    Attributes
    ----------
    combine_ : str
        The combination used (``combine``, or the deprecated ``method``).
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
    >>> combination = MultipleTestCombination(combine="fisher").fit(null)
    >>> p = combination.pvalue(rng.chisquare(10, size=(5, 3)))
    >>> p.shape
    (5,)
    """

    def __init__(self, combine="min-p", columns=None, temperature=1.0, method="deprecated"):
        self.combine = combine
        self.columns = columns
        self.temperature = temperature
        self.method = method

    def _combination(self) -> str:
        """``combine``, or the deprecated ``method`` when that was given instead."""
        if isinstance(self.method, str) and self.method == "deprecated":
            return check_combination(self.combine)
        # method= also names how a p-value was obtained (TestResult.method); the choice of
        # combination is combine= here as in HyperTest.
        warnings.warn(
            "MultipleTestCombination(method=...) is deprecated: pass combine=..., the name "
            "HyperTest uses for the same choice.",
            FutureWarning,
            stacklevel=3,
        )
        if self.combine not in ("min-p", self.method):
            raise ValueError(
                f"give combine only (method is its deprecated name); got combine="
                f"{self.combine!r} and method={self.method!r}."
            )
        return check_combination(self.method)

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
        self.combine_ = self._combination()
        null = _check_null_matrix(null_statistics)
        columns = self._resolve_columns(null.shape[1])
        self.n_features_in_ = null.shape[1]
        self.columns_ = columns
        self.null_statistics_ = null[:, columns]
        self.null_pvalues_ = leave_one_out_pvalues(self.null_statistics_)
        self.null_combined_ = combined_statistic(
            self.null_pvalues_,
            self.null_statistics_,
            combine=self.combine_,
            temperature=self.temperature,
        )
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
        if self.combine_ != "softmax-t":
            pvalues = calibrated_pvalues(self.null_statistics_, rows)
        combined = combined_statistic(
            pvalues, rows, combine=self.combine_, temperature=self.temperature
        )
        return float(combined[0]) if one_dim and self.n_features_in_ > 1 else combined

    def pvalue(self, statistics):
        """Empirical p-value ``(1 + #{T_null >= T}) / (1 + n_toys)`` of each row's combined T.

        The convention of :func:`nhtad.stats.empirical_pvalue`, vectorised over rows;
        never below ``1 / (1 + n_toys)``.

        Returns
        -------
        float or ndarray of shape (n_obs,)
        """
        combined = self.combined_statistic(statistics)  # checks that self is fitted
        return empirical_pvalue(self.null_combined_, combined)

    def log_pvalue(self, statistics):
        """Natural logarithm of :meth:`pvalue`."""
        combined = self.combined_statistic(statistics)
        return empirical_log_pvalue(self.null_combined_, combined)

    def significance(self, statistics):
        """One-sided Gaussian significance ``Z = Phi^{-1}(1 - p)`` of :meth:`pvalue`.

        The empirical p is at least ``1 / (1 + n_toys)``, so Z saturates there (about 3.5 for
        2000 toys): a larger Z needs more null toys or an asymptotic null.
        """
        return log_pvalue_to_significance(self.log_pvalue(statistics))
