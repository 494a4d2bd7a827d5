"""HyperTest: one test out of a family of tests of the same data (thresholds, widths, ...).

Grosso, Sengupta, Golling, Harris (EPJC 85, 1074 (2025), Sec. on the NPLM classifier) remove
the "threshold lottery" of a cut-and-count by running it at several selection thresholds and
combining them into a hyper-test. The members see the same events, so their p-values are
strongly correlated: the combination is calibrated on toys that rerun the whole chain
(:class:`~nhtad.calibration.ToyCalibrator`), never with an independence formula (Grosso &
Letizia, arXiv:2408.12296, Sec. 3).

The combined statistic T is min-p, Fisher or average-p of the members' p-values
(:func:`~nhtad.stats.combined_statistic`, computed from their log p-values so that p-values far
in the tail stay distinct; table in :mod:`nhtad.stats.combination`). With
``null_distribution`` (T on null toys) the p-value is the empirical
``(1 + #{T_null >= T}) / (1 + n)`` and the result says ``method="toys"``. Without it the
p-value is a bound valid under any dependence (:func:`~nhtad.stats.log_pvalue_bound`:
Bonferroni, or Vovk & Wang, "Combining p-values via averaging", Biometrika 107 (2020) 791),
conservative, and the result says ``method="bound"``.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone

from .base import BOUND, TOYS, BaseTest
from .combination import (
    PVALUE_COMBINATION_METHODS,
    check_combination,
    combined_statistic,
    log_pvalue_bound,
)
from .pvalues import empirical_log_pvalue

__all__ = ["HyperTest", "HYPER_COMBINATIONS"]

#: Combinations a HyperTest knows: those of its members' p-values.
HYPER_COMBINATIONS = PVALUE_COMBINATION_METHODS


_WHAT_A_TEST_IS = (
    "a member must be a test of (s, y) whose fit(s, y) sets log_pvalue_ and statistic_ (a "
    "nhtad.stats.BaseTest, e.g. TemplateCutAndCountTest())"
)


def _check_member(name: str, test) -> None:
    """Refuse, before any member runs, a member that is not a test of ``(s, y)``."""
    if isinstance(test, BaseTest):
        return
    if not hasattr(test, "fit"):
        raise ValueError(
            f"member {name!r} is not a test: it is a {type(test).__name__} ({test!r}) with no "
            f"fit method; {_WHAT_A_TEST_IS}."
        )
    # A model (classifier, regressor, transformer) has fit too, and its fit(s, y) failed
    # inside scikit-learn ("Expected 2D array") after the other members had run.
    model_methods = ("predict", "predict_proba", "decision_function", "transform")
    found = [m for m in model_methods if hasattr(test, m)]
    if found:
        raise ValueError(
            f"member {name!r} is a {type(test).__name__}, a model (it has {found[0]}), not a "
            f"test; {_WHAT_A_TEST_IS}. To test a model's score, compute it first (e.g. out of "
            f"fold) and pass it as s, or put the model in a Pipeline before the HyperTest "
            f"(e.g. make_pipeline(ScoreTransformer(model), HyperTest(...)))."
        )


class HyperTest(BaseTest):
    """Combine a family of tests of the same ``(s, y)`` into one test.

    Parameters
    ----------
    tests : list of tests, or list of (name, test) pairs
        Members, each a :class:`~nhtad.stats.BaseTest` (anything whose ``fit(s, y)`` sets
        ``log_pvalue_``), e.g. :class:`~nhtad.stats.TemplateCutAndCountTest` at several thresholds
        (:meth:`over_parameter` builds that family). For NPLM at several widths, whose members
        have no p-value of their own, use :class:`~nhtad.stats.MultipleTestCombination`.
        Models (anything with ``predict`` or ``transform``) are refused before any member runs.
    combine : {"min-p", "fisher", "average-p"}, default="min-p"
        Combination of the members' p-values (:func:`~nhtad.stats.combined_statistic`); the
        parameter of the same name of :class:`~nhtad.stats.MultipleTestCombination`.
    null_distribution : array-like of shape (n_toys,) or None
        The combined statistic on null toys, e.g. ``ToyCalibrator(pipeline ending in this
        HyperTest, null_generator).fit().null_distribution_``: the p-value is then empirical
        (``method="toys"``). ``None`` gives the dependence-free bound of the module docstring
        (``method="bound"``).

    Attributes
    ----------
    tests_ : list of (name, fitted test)
    member_log_pvalues_ : ndarray of shape (k,)
    member_statistics_ : ndarray of shape (k,)
    statistic_, pvalue_, log_pvalue_, significance_, n_events_, result_
        As for every :class:`~nhtad.stats.BaseTest`; ``statistic_`` is T.

    Examples
    --------
    >>> import numpy as np
    >>> from nhtad.stats import AnomalyCutTest, TemplateCutAndCountTest, HyperTest
    >>> hyper = HyperTest.over_parameter(
    ...     TemplateCutAndCountTest(), "quantile", [0.8, 0.9, 0.95, 0.99])
    >>> rng = np.random.default_rng(0)
    >>> s, y = rng.normal(size=30_000), np.r_[np.ones(10_000), np.zeros(20_000)]
    >>> result = hyper.test(s, y)
    >>> result.method
    'bound'
    """

    def __init__(self, tests, combine="min-p", null_distribution=None):
        self.tests = tests
        self.combine = combine
        self.null_distribution = null_distribution

    @classmethod
    def over_parameter(cls, test, name, values, **kwargs):
        """The family ``test`` with parameter ``name`` set to each of ``values`` (increasing).

        ``HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile",
        [0.8, 0.9, 0.95, 0.99])`` is the hyper-test over selection thresholds of Grosso et al.,
        EPJC 85, 1074 (2025).
        """
        values = list(values)
        if len(values) < 2:
            raise ValueError(f"a hyper-test needs at least 2 values of {name}; got {values!r}.")
        if name not in test.get_params(deep=False):
            raise ValueError(f"{type(test).__name__} has no parameter {name!r}.")
        if all(isinstance(v, numbers.Real) for v in values):
            if np.any(np.diff(np.asarray(values, dtype=float)) <= 0):
                raise ValueError(
                    f"the values of {name} must be strictly increasing (thresholds in order, no "
                    f"repeats); got {values!r}. Sort them."
                )
        members = [(f"{name}={v!r}", clone(test).set_params(**{name: v})) for v in values]
        return cls(members, **kwargs)

    def _named_tests(self):
        tests = self.tests
        if isinstance(tests, BaseTest) or not isinstance(tests, list | tuple) or not tests:
            raise ValueError(
                f"tests must be a non-empty list of tests or of (name, test) pairs; got {tests!r}."
            )
        named = []
        for j, item in enumerate(tests):
            if isinstance(item, tuple) and len(item) != 2:
                raise ValueError(
                    f"member {j} of tests is a tuple of {len(item)} items, {item!r}; a named "
                    f"member is a (name, test) pair."
                )
            name, test = item if isinstance(item, tuple) else (f"test{j}", item)
            _check_member(str(name), test)
            named.append((str(name), test))
        return named

    def fit(self, s, y=None, **fit_params):
        """Run every member on ``(s, y)`` and combine their p-values.

        Parameters
        ----------
        s, y : array-like
            Passed unchanged to every member's ``fit``.
        **fit_params
            Passed to every member's ``fit``.

        Returns
        -------
        self
        """
        check_combination(self.combine, HYPER_COMBINATIONS)
        named = self._named_tests()
        null = None
        if self.null_distribution is not None:
            null = np.asarray(self.null_distribution, dtype=np.float64)
            if null.ndim != 1 or null.size == 0 or not np.all(np.isfinite(null)):
                raise ValueError(
                    "null_distribution must be a non-empty 1-D array of finite combined "
                    "statistics from null toys (ToyCalibrator(...).null_distribution_)."
                )
        fitted = [(name, clone(test).fit(s, y, **fit_params)) for name, test in named]
        for name, test in fitted:
            if not hasattr(test, "log_pvalue_"):
                raise ValueError(
                    f"member {name!r} ({type(test).__name__}) sets no log_pvalue_; a hyper-test "
                    "combines p-values."
                )
        log_p = np.array([test.log_pvalue_ for _, test in fitted], dtype=np.float64)
        if np.isnan(log_p).any():
            raise ValueError("a member returned a NaN p-value; check its inputs.")
        statistic = combined_statistic(log_pvalues=log_p, combine=self.combine)
        if null is None:
            log_pvalue, method = log_pvalue_bound(log_p, self.combine), BOUND
        else:
            log_pvalue, method = empirical_log_pvalue(null, statistic), TOYS
        self.tests_ = fitted
        self.member_log_pvalues_ = log_p
        self.member_statistics_ = np.array([t.statistic_ for _, t in fitted], dtype=np.float64)
        best = int(np.argmin(log_p))
        return self._set_result(
            statistic,
            log_pvalue,
            method=method,
            n_events=max(int(getattr(t, "n_events_", 0)) for _, t in fitted),
            null_distribution=null,
            details={
                "combine": self.combine,
                # The same as method; kept for code written before method said it.
                "calibration": method,
                "members": tuple(name for name, _ in fitted),
                "member_log_pvalues": tuple(log_p.tolist()),
                "best_member": fitted[best][0],
            },
        )
