"""The shape every test of the null shares: :class:`BaseTest` and :class:`TestResult`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ..utils import summary as _text
from .pvalues import log_pvalue_to_significance

__all__ = [
    "TestResult",
    "BaseTest",
    "ASYMPTOTIC",
    "EXACT",
    "RESAMPLED",
    "TOYS",
    "BOUND",
    "EXTRAPOLATED",
    "METHODS",
]

#: How a p-value was obtained: an asymptotic law (chi^2, Gamma, normal); an exact finite-sample
#: law; resampling of the observed events (permutation, relabelling, bootstrap); toys of the
#: whole chain; a bound (the true p-value is at most the reported one); or a law fitted to
#: null toys, applied beyond them (the chi-square of NPLM's t, past the toys' 1/(n + 1) floor).
ASYMPTOTIC = "asymptotic"
EXACT = "exact"
RESAMPLED = "resampled"
TOYS = "toys"
BOUND = "bound"
EXTRAPOLATED = "extrapolated"
METHODS = (ASYMPTOTIC, EXACT, RESAMPLED, TOYS, BOUND, EXTRAPOLATED)


# eq=False: results hold arrays, for which field-wise == is ambiguous; compare fields explicitly.
@dataclass(frozen=True, eq=False)
class TestResult:
    """Outcome of a test of the background-only null hypothesis.

    Attributes
    ----------
    statistic : float
        The test statistic (larger = less compatible with the null).
    pvalue : float
        p-value; may underflow to 0.0 for extreme results, use ``log_pvalue`` then.
    significance : float
        One-sided Gaussian significance ``Z = Phi^{-1}(1 - p)``, computed from ``log_pvalue``
        so it stays finite far into the tail.
    method : {"asymptotic", "exact", "resampled", "toys", "bound", "extrapolated"}
        How the p-value was obtained: an asymptotic null law, an exact finite-sample law,
        resampling of the observed events, toys of the whole chain, an upper bound on the
        p-value (the significance is then a lower bound), or a law fitted to null toys and
        extrapolated beyond them (``details`` has the fit and the empirical p-value).
    null_distribution : ndarray or None
        Resampled null statistics (read-only), ``None`` for asymptotic p-values.
    n_events : int
        Number of events the test used.
    details : Mapping
        Test-specific extras (binning, degrees of freedom, ...), read-only.
    log_pvalue : float
        Natural logarithm of the p-value.
    test : str
        Name of the test class that produced the result.
    """

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    pvalue: float
    significance: float
    method: str
    null_distribution: np.ndarray | None = None
    n_events: int = 0
    details: Mapping = field(default_factory=dict)
    log_pvalue: float = float("nan")
    test: str = ""

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {self.method!r}.")
        if self.null_distribution is not None:
            null = np.array(self.null_distribution, dtype=float)
            null.setflags(write=False)
            object.__setattr__(self, "null_distribution", null)
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def __getstate__(self):
        # mappingproxy does not pickle; store a plain dict and freeze it again on load.
        state = dict(self.__dict__)
        state["details"] = dict(self.details)
        return state

    def __setstate__(self, state):
        for name, value in state.items():
            object.__setattr__(self, name, value)
        self.__post_init__()

    def __repr__(self) -> str:
        null = (
            "" if self.null_distribution is None else f", n_resamples={self.null_distribution.size}"
        )
        return (
            f"TestResult(test={self.test!r}, statistic={self.statistic:.6g}, "
            f"pvalue={self.pvalue:.4g}, log_pvalue={self.log_pvalue:.6g}, "
            f"significance={self.significance:.4f}, method={self.method!r}, "
            f"n_events={self.n_events}{null})"
        )

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """The result in words: test, statistic, p, Z and its meaning, how p was obtained.

        ``Z = Phi^{-1}(1 - p)`` is the one-sided Gaussian significance (Cowan, Cranmer, Gross,
        Vitells, EPJC 71 (2011) 1554, eq. 1); p is printed from ``log_pvalue`` when the float
        underflows. The scalar and short-tuple entries of ``details`` follow (arrays and nested
        records are left to the attributes), then, for tests that compare an observed with an
        expected count, why Z can be below ``S / sqrt(B)``.

        Returns
        -------
        str
            Several lines, for a person to read; ``str(result)`` gives the same text.
        """
        n_null = 0 if self.null_distribution is None else int(self.null_distribution.size)
        name = self.test or "TestResult"
        log_p = "" if math.isnan(self.log_pvalue) else f" (log p = {self.log_pvalue:.6g})"
        lines = [f"{name}: test of the background-only hypothesis"]
        lines += _text.aligned(
            [
                ("statistic", f"{self.statistic:.6g}"),
                ("p-value", _text.format_pvalue(self.pvalue, self.log_pvalue) + log_p),
                (
                    "significance",
                    _text.significance_sentence(
                        self.significance, lower_bound=self.method == BOUND
                    ),
                ),
                ("p obtained", _text.method_text(self.method, self.details, n_null)),
                ("events", f"{self.n_events}"),
            ]
        )
        rows, notes = _text.detail_lines(self.details)
        if rows:
            lines += ["  details:", *rows]
        lines += _text.counting_lines(self.details, self.significance)
        lines += [_text.wrap(note, indent="    ", first="  note: ") for note in notes]
        return "\n".join(lines)


class BaseTest(BaseEstimator):
    """Base class of nhtad's tests of the null hypothesis.

    A test is an estimator whose ``fit`` *is* the test: ``fit(s, y)`` computes the statistic
    and its p-value on the given events and returns ``self``. Subclasses implement ``fit`` and
    finish it with :meth:`_set_result`, which sets the fitted attributes below.

    Attributes
    ----------
    statistic_ : float
        The test statistic.
    pvalue_ : float
        The p-value (may underflow to 0; see ``log_pvalue_``).
    log_pvalue_ : float
        Natural logarithm of the p-value, finite for any finite statistic.
    significance_ : float
        One-sided Gaussian significance Z (higher = less compatible with the null).
    n_events_ : int
        Number of events tested.
    null_distribution_ : ndarray or None
        Resampled null statistics, ``None`` for asymptotic tests.
    result_ : TestResult
        All of the above as one frozen record.
    """

    def score(self, s, y=None, **fit_params) -> float:
        """Run the test on ``(s, y)`` and return its significance Z.

        The test runs on a clone, so ``self`` is left untouched; higher Z means less
        compatible with the null, so ``score`` can rank pipelines as scikit-learn expects.
        """
        return clone(self).fit(s, y, **fit_params).significance_

    def test(self, s, y=None, **fit_params) -> TestResult:
        """Fit the test on ``(s, y)`` and return the frozen :class:`TestResult`."""
        return self.fit(s, y, **fit_params).result_

    def summary(self) -> str:
        """The fitted result in words: :meth:`TestResult.summary` of ``result_``.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        """
        check_is_fitted(self, "result_")
        return self.result_.summary()

    def _accepts_simulation(self) -> bool:
        """Whether ``fit`` takes the simulation's scores (``s_simulation``, ``y_simulation``).

        Chains such as :class:`~nhtad.SACWoLaTest` pass them only to tests that use them.
        """
        return False

    def _set_result(
        self, statistic, log_pvalue, *, method, n_events, null_distribution=None, details=None
    ):
        log_pvalue = float(min(log_pvalue, 0.0))
        self.statistic_ = float(statistic)
        self.log_pvalue_ = log_pvalue
        self.pvalue_ = math.exp(log_pvalue)
        self.significance_ = log_pvalue_to_significance(log_pvalue)
        self.n_events_ = int(n_events)
        self.null_distribution_ = (
            None if null_distribution is None else np.asarray(null_distribution)
        )
        self.result_ = TestResult(
            statistic=self.statistic_,
            pvalue=self.pvalue_,
            significance=self.significance_,
            method=method,
            null_distribution=self.null_distribution_,
            n_events=self.n_events_,
            details=details or {},
            log_pvalue=log_pvalue,
            test=type(self).__name__,
        )
        return self
