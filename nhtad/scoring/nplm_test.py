"""NPLM's end-to-end test as a test object: the kernel model's t with a calibrated p-value.

Grosso, Sengupta, Golling, Harris, EPJC 85, 1074 (2025), Sec. 2: ``t = -2 min L`` of the
kernel model of the data/reference density ratio (:class:`~nhtad.scoring.NPLMKernelEstimator`),
whose null law is measured on signal-free toys; several kernel widths are combined as in
Grosso & Letizia, arXiv:2408.12296 (:class:`~nhtad.stats.MultipleTestCombination`). As a
:class:`~nhtad.stats.BaseTest`, the test fits, scores, calibrates and combines like every
other test of nhtad. Toys resolve p-values down to ``1 / (n_toys + 1)`` only; beyond them,
``extrapolate="chi2"`` uses the chi-square fitted to the toys (Letizia et al., EPJC 82, 879
(2022), arXiv:2204.02317), labelled ``method="extrapolated"``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from ..stats.base import BOUND, EXTRAPOLATED, TOYS, BaseTest
from ..stats.chi2_fit import chi2_extrapolation, fit_chi2_dof, warn_floor_with_chi2
from ..stats.combination import COMBINATION_METHODS
from ..stats.multiple_testing import MultipleTestCombination, combined_statistic
from ..stats.pvalues import empirical_log_pvalue

__all__ = ["NPLMTest"]


class NPLMTest(BaseTest):
    """NPLM's end-to-end test of data against a reference, calibrated on null toys.

    Parameters
    ----------
    estimator : NPLMKernelEstimator or None, default=None
        The kernel model (cloned at every fit); ``None`` is ``NPLMKernelEstimator()``. With a
        sequence of widths ``sigma`` its ``statistic_`` holds one t per width.
    null : array-like of shape (n_toys,) or (n_toys, n_widths), or None, default=None
        t of signal-free toys (e.g. ``ToyCalibrator(NPLMTest(estimator), generator,
        statistic="t_").fit().null_distribution_``). ``None``: no calibration, and the p-value
        is the trivial bound ``p <= 1`` (``method="bound"``), so that toys can run the
        test to build its null (Z = -inf, the Z of p = 1).
    combine : {"min-p", "fisher", "average-p", "softmax-t"}, default="softmax-t"
        How several widths are combined (arXiv:2408.12296, Sec. 3). The p-value
        combinations need ``null``; "softmax-t" is defined without it.
    temperature : float, default=1.0
        Temperature of "softmax-t".
    extrapolate : {None, "chi2"}, default=None
        ``None``: the empirical p-value of t against ``null``, which cannot go below
        ``1 / (n_toys + 1)`` (a :class:`~nhtad.stats.ToyFloorWarning` says when t is beyond
        every toy, quoting the chi-square extrapolation). ``"chi2"`` (one width only): the
        p-value under the chi-square whose dof is fitted to ``null``
        (:func:`~nhtad.stats.chi2_extrapolation`), with ``method="extrapolated"`` and the
        fit and the empirical p-value in the details; refused when the fit's KS p-value is
        below 0.05. Without ``null`` it changes nothing (the toys that make the null run it).

    Attributes
    ----------
    t_ : float or ndarray of shape (n_widths,)
        NPLM's t (one per width).
    statistic_ : float
        ``t_`` for one width; the combined statistic for several.
    estimator_ : NPLMKernelEstimator
        The fitted model.
    chi2_fit_ : Chi2Fit or None
        The chi-square fitted to ``null`` with ``extrapolate="chi2"``, else None.
    pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`; ``method`` is "toys" with ``null``, "bound"
        without, "extrapolated" with ``extrapolate="chi2"``.
    """

    def __init__(
        self, estimator=None, null=None, combine="softmax-t", temperature=1.0, extrapolate=None
    ):
        self.estimator = estimator
        self.null = null
        self.combine = combine
        self.temperature = temperature
        self.extrapolate = extrapolate

    def fit(self, X, y):
        """Fit the kernel model to data (``y = 1``) and reference (``y = 0``) and test it.

        Parameters
        ----------
        X : array-like of shape (n_events, n_features)
            Features of the data and reference events.
        y : array-like of shape (n_events,)
            1 for data, 0 for reference.

        Returns
        -------
        self
        """
        from .nplm import NPLMKernelEstimator

        estimator = NPLMKernelEstimator() if self.estimator is None else self.estimator
        if not isinstance(estimator, NPLMKernelEstimator):
            raise ValueError(
                f"estimator must be an NPLMKernelEstimator; got {type(estimator).__name__}. "
                "For another classifier's score, use a cut-and-count test on its output."
            )
        # Settings checked before the (costly) kernel fit.
        if self.combine not in COMBINATION_METHODS:
            raise ValueError(f"combine must be one of {COMBINATION_METHODS}; got {self.combine!r}.")
        if self.null is not None and not np.all(np.isfinite(np.asarray(self.null, dtype=float))):
            raise ValueError("null holds NaN or inf; rerun or drop the failed toys.")
        chi2_fit = self._fit_chi2()
        model = clone(estimator).fit(X, y)
        t = np.asarray(model.statistic_, dtype=np.float64)
        null = self._null(t)
        extrapolated = None
        if t.ndim == 0:
            statistic = float(t)
            null_combined = null
            if chi2_fit is not None:
                extrapolated = chi2_extrapolation(null, statistic, fit=chi2_fit)
                log_p = float(extrapolated.log_pvalue)
            elif null is None:
                log_p = 0.0
            else:
                log_p = float(empirical_log_pvalue(null, statistic, warn_floor=False))
                warn_floor_with_chi2(null, statistic, what="toys")
        elif null is None:
            statistic = self._softmax_t(t)
            log_p, null_combined = 0.0, None
        else:
            combination = MultipleTestCombination(
                combine=self.combine, temperature=self.temperature
            ).fit(null)
            statistic = float(combination.combined_statistic(t))
            log_p = float(combination.log_pvalue(t))
            null_combined = combination.null_combined_
        self.estimator_ = model
        self.t_ = float(t) if t.ndim == 0 else t
        details = {"t": self.t_, "combine": self.combine if t.ndim else None}
        if null is None:
            details["calibration"] = "none: p <= 1 is the trivial bound; pass null= (toys)"
        method = BOUND if null is None else TOYS
        self.chi2_fit_ = chi2_fit
        if extrapolated is not None:
            details.update(extrapolated.details)
            method = EXTRAPOLATED
        return self._set_result(
            statistic,
            log_p,
            method=method,
            n_events=np.asarray(y).shape[0],
            null_distribution=null_combined,
            details=details,
        )

    def _fit_chi2(self):
        """The chi-square to extrapolate with, fitted before the (costly) kernel fit, or None."""
        if self.extrapolate is None:
            return None
        if self.extrapolate != "chi2":
            raise ValueError(f"extrapolate must be None or 'chi2'; got {self.extrapolate!r}.")
        if self.null is None:
            # Nothing to extrapolate yet: the same test runs the toys that make its null.
            return None
        null = np.asarray(self.null, dtype=np.float64)
        if null.ndim != 1:
            raise ValueError(
                "extrapolate='chi2' extrapolates the toys' t of one kernel width, so it needs "
                f"null= of shape (n_toys,); got shape {null.shape}. With several widths the "
                "combined statistic has no chi-square law: test each width alone "
                "(NPLMTest(NPLMKernelEstimator(sigma=s), null=null[:, j], extrapolate='chi2'))."
            )
        return fit_chi2_dof(null).require()

    def _null(self, t):
        if self.null is None:
            if t.ndim and self.combine != "softmax-t":
                raise ValueError(
                    f"combine={self.combine!r} combines per-width p-values, which need the "
                    "toys' t per width: pass null= (ToyCalibrator(NPLMTest(estimator), "
                    "generator, statistic='t_')), or use combine='softmax-t'."
                )
            return None
        null = np.asarray(self.null, dtype=np.float64)
        want = "(n_toys,)" if t.ndim == 0 else f"(n_toys, {t.size})"
        if null.ndim != t.ndim + 1 or null.shape[1:] != t.shape or null.shape[0] < 1:
            raise ValueError(
                f"null must hold the toys' t with shape {want}, one column per width; got "
                f"shape {null.shape}."
            )
        return null

    def _softmax_t(self, t):
        return float(
            combined_statistic(statistics=t, combine="softmax-t", temperature=self.temperature)
        )
