"""Cut-and-count tests on an anomaly score: the classic baselines of weakly supervised searches.

* :class:`AnomalyCutTest` (Kamenik & Szewc, PLB 840 (2023) 137836, the "anomaly cuts"
  baseline): cut the score at the value that keeps a fraction ``eps2`` of the sidebands (SB)
  and compare the signal-region (SR) count with ``eps2 N1``. Gaussian Z,
  ``method="asymptotic"``.
* :class:`TemplateCutAndCountTest` (Grosso, Sengupta, Golling, Harris, EPJC 85, 1074 (2025):
  NPLM used as a classifier, then a cut-and-count): cut the score at a quantile of a background
  *reference* sample and compare the data count with the reference count scaled by
  ``w = N(R) / N_R``. Exact binomial (or Poisson) tail, ``method="exact"``. Several thresholds
  are combined by :class:`~nhtad.stats.HyperTest`.

The two take different ``y`` (region labels; data/reference labels) and different settings, so
they are two classes; :class:`CutAndCountTest` (``mode=`` one or the other) is kept one more
release. p-values are carried in log space (:mod:`nhtad.stats.counting`), so Z stays finite far
into the tail. Their calibration, measured, is in ``docs/baselines.md``.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings

import numpy as np

from ..utils.validation import (
    check_not_constant,
    check_open_unit_interval,
    check_positive_finite,
)
from .base import ASYMPTOTIC, EXACT, BaseTest
from .counting import (
    anomaly_cut_significance,
    binomial_log_sf,
    poisson_likelihood_ratio,
    poisson_log_sf,
    quantile_threshold,
    split_by_label,
)
from .pvalues import significance_to_log_pvalue

__all__ = [
    "AnomalyCutTest",
    "TemplateCutAndCountTest",
    "CutAndCountTest",
    "anomaly_cut_significance",
    "poisson_likelihood_ratio",
    "binomial_log_sf",
    "poisson_log_sf",
]

logger = logging.getLogger(__name__)

_MODES = ("anomaly_cut", "template")
_METHODS = ("poisson", "poisson_known_background")


class AnomalyCutTest(BaseTest):
    """Anomaly cut: keep the events whose score passes a sideband quantile, count them in the SR.

    Larger ``s`` must mean more signal-like (flip the sign of a score that ranks the other
    way). The threshold is the ``1 - efficiency`` quantile of the sideband scores
    (``numpy.quantile``, linear interpolation) and an event passes if ``s > threshold``
    (strictly; ties at the threshold all fail). The *realised* sideband efficiency
    ``eps2 = n2_selected / N2`` enters Kamenik & Szewc's

    ``Z = (eps1 - eps2) N1 / sqrt(eps2 (N1 + N2))`` if ``eps1 >= eps2`` else 0,

    ``eps1 = n1_selected / N1``; the statistic is Z and ``p = Phi(-Z)``. Their variance stands
    in for the error of ``eps2`` only when ``N1 ~ N2`` (with more events in the signal region
    than in the sidebands it fakes excesses), so by default (``efficiency_uncertainty=True``,
    as :class:`BumpHuntTest`) the variance is ``eps2 N1 + N1^2 eps2 (1 - eps2) / N2``: the
    Poisson variance of the SR background plus the binomial variance of the measured ``eps2``
    (see :func:`anomaly_cut_significance`); ``efficiency_uncertainty=False`` is the paper's
    formula. For an
    exact p-value of the same cut, use :class:`TemplateCutAndCountTest` on the same arrays with
    ``quantile = 1 - efficiency`` (same threshold, counts and background, ``w = N1 / N2``).

    Parameters
    ----------
    efficiency : float, default=0.01
        The requested sideband efficiency eps2, in (0, 1).
    efficiency_uncertainty : bool, default=True
        Add the binomial error of the measured eps2 to the variance; ``False`` gives the
        paper's formula, which keeps its nominal false-positive rate only when the signal
        region and the sidebands hold about as many events (docs/baselines.md).

    Attributes
    ----------
    statistic_ : float
        Z.
    pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`; ``result_.details`` holds the counts.
    threshold_ : float
        The score cut; events with ``s > threshold_`` pass.
    n_selected_ : int
        Selected SR events, n1_selected.
    expected_background_ : float
        Their expectation under the null, ``eps2 N1``.
    efficiency_sr_, efficiency_sb_ : float
        eps1 and the realised eps2.

    References
    ----------
    D. F. Kamenik and M. Szewc, "Null hypothesis test for anomaly detection", Phys. Lett. B 840
    (2023) 137836.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s, region = rng.normal(size=6000), np.r_[np.ones(2000), np.zeros(4000)]
    >>> test = AnomalyCutTest(efficiency=0.05).fit(s, region)
    >>> round(test.efficiency_sb_, 3)
    0.05
    """

    def __init__(self, efficiency=0.01, efficiency_uncertainty=True):
        self.efficiency = efficiency
        self.efficiency_uncertainty = efficiency_uncertainty

    def fit(self, s, y):
        """Run the test.

        Parameters
        ----------
        s : array-like of shape (n_events,)
            Anomaly score per event, larger = more signal-like.
        y : array-like of shape (n_events,)
            The region: 1 for signal-region and 0 for sideband events.

        Returns
        -------
        self
        """
        eps2_requested = check_open_unit_interval(self.efficiency, "efficiency")
        if not isinstance(self.efficiency_uncertainty, (bool, np.bool_)):
            got = self.efficiency_uncertainty
            raise ValueError(f"efficiency_uncertainty must be True or False; got {got!r}.")
        # Messages call y what it is here: the region label.
        s, in_sr = split_by_label(
            s,
            y,
            "region",
            ("signal region", "sideband"),
            "region must be 1 for signal-region and 0 for sideband events",
        )
        s_sr, s_sb = s[in_sr], s[~in_sr]
        n1, n2 = s_sr.size, s_sb.size
        if eps2_requested * n2 < 1.0:
            raise ValueError(
                f"efficiency={eps2_requested:g} of {n2} sideband events is "
                f"{eps2_requested * n2:.3g} expected passing events, fewer than one: the cut "
                f"cannot be placed. Raise efficiency to at least 1/N2 = {1.0 / n2:.3g} or use "
                f"more sideband events."
            )
        check_not_constant(
            s_sb,
            "s in the sideband (region == 0)",
            "no threshold can select a fraction of the sideband. Check the score (a dead "
            "classifier outputs a constant).",
        )
        threshold, n2_sel = quantile_threshold(s_sb, 1.0 - eps2_requested, "sideband", "efficiency")
        n1_sel = int(np.count_nonzero(s_sr > threshold))
        eps1, eps2 = n1_sel / n1, n2_sel / n2
        z, variance = anomaly_cut_significance(
            n1_sel, n1, n2_sel, n2, efficiency_uncertainty=bool(self.efficiency_uncertainty)
        )
        logger.debug(
            "anomaly cut s > %.6g: eps1 = %d/%d, eps2 = %d/%d (requested %g), Z = %.4g",
            threshold,
            n1_sel,
            n1,
            n2_sel,
            n2,
            eps2_requested,
            z,
        )

        self.threshold_ = threshold
        self.efficiency_sr_ = eps1
        self.efficiency_sb_ = eps2
        self.n_selected_ = n1_sel
        self.expected_background_ = eps2 * n1
        details = {
            "mode": "anomaly_cut",
            "threshold": threshold,
            "eps1": eps1,
            "eps2": eps2,
            "eps2_requested": eps2_requested,
            "n1_selected": n1_sel,
            "n2_selected": n2_sel,
            "N1": n1,
            "N2": n2,
            "expected_background": eps2 * n1,
            "variance": variance,
            "efficiency_uncertainty": bool(self.efficiency_uncertainty),
        }
        return self._set_result(
            z,
            significance_to_log_pvalue(z),
            method=ASYMPTOTIC,
            n_events=n1 + n2,
            details=details,
        )


class TemplateCutAndCountTest(BaseTest):
    """Cut at a quantile of a background reference and count data against the scaled reference.

    The threshold q is the ``quantile`` quantile of the reference scores (linear interpolation,
    keep ``s > q``). ``N_obs`` data and ``k_R`` reference events pass; the expected background
    is ``b = w k_R`` with ``w = expected_n_data / N_R``. The statistic is the one-count Poisson
    likelihood ratio (Cowan et al., EPJC 71 (2011) 1554)

    ``t_cc = 2 [N_obs ln(N_obs / b) - (N_obs - b)]`` for ``N_obs > b``, else 0.

    With ``reference_error=True`` (default) the reference count fluctuates too: for two Poisson
    counts with means ``w mu`` and ``mu`` under the null, ``N_obs`` given
    ``n = N_obs + k_R`` is ``Binomial(n, w / (1 + w))`` whatever mu (the conditional test of
    two Poisson means, Przyborowski & Wilenski, Biometrika 31 (1940) 313) and
    ``p = P(X >= N_obs)``. With ``reference_error=False``, ``p = P(Poisson(b) >= N_obs)``
    treats b as exact and over-states the significance unless ``k_R >> N_obs``. Either p is an
    exact tail sum of a discrete count (valid, ``P(p <= alpha) <= alpha``, not uniform),
    computed in log space.

    Parameters
    ----------
    quantile : float, default=0.9
        Quantile of the reference scores used as the threshold, in (0, 1); ``1 - quantile``
        is the reference efficiency. A scan over thresholds is :class:`HyperTest`'s job.
    expected_n_data : float or None, default=None
        N(R), the expected number of data events under the null, so that
        ``w = expected_n_data / N_R`` (as in :class:`~nhtad.scoring.NPLMKernelEstimator`).
        ``None`` uses the observed number of data events N_D.
    reference_error : bool, default=True
        Include the reference sample's statistical error (the conditional binomial test);
        False treats the scaled reference count as the exact background.

    Attributes
    ----------
    statistic_ : float
        t_cc.
    pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`; ``result_.details`` holds the counts.
    threshold_ : float
        The score cut; events with ``s > threshold_`` pass.
    n_selected_ : int
        Selected data events, N_obs.
    n_reference_selected_ : int
        Selected reference events, k_R.
    expected_background_ : float
        ``b = w k_R``.
    weight_ : float
        w.

    References
    ----------
    M. Grosso, D. Sengupta, T. Golling, P. Harris, Eur. Phys. J. C 85 (2025) 1074.
    G. Cowan, K. Cranmer, E. Gross, O. Vitells, Eur. Phys. J. C 71 (2011) 1554.
    J. Przyborowski and H. Wilenski, Biometrika 31 (1940) 313.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s_data, s_ref = rng.normal(size=2000), rng.normal(size=4000)
    >>> res = TemplateCutAndCountTest(quantile=0.9).test(
    ...     np.r_[s_data, s_ref], np.r_[np.ones(2000), np.zeros(4000)])
    >>> res.details["k_R"]
    400
    """

    def __init__(self, quantile=0.9, expected_n_data=None, reference_error=True):
        self.quantile = quantile
        self.expected_n_data = expected_n_data
        self.reference_error = reference_error

    def fit(self, s, y):
        """Run the test.

        Parameters
        ----------
        s : array-like of shape (n_events,)
            Anomaly score per event, larger = more signal-like.
        y : array-like of shape (n_events,)
            1 for data and 0 for background-reference events.

        Returns
        -------
        self
        """
        quantile = check_open_unit_interval(self.quantile, "quantile")
        if not isinstance(self.reference_error, bool | np.bool_):
            raise ValueError(
                f"reference_error must be True or False; got {self.reference_error!r}."
            )
        s, is_data = split_by_label(
            s,
            y,
            "y",
            ("data", "reference"),
            "y must be 1 for data and 0 for reference events",
        )
        s_data, s_ref = s[is_data], s[~is_data]
        n_data, n_ref = s_data.size, s_ref.size
        expected_n = n_data if self.expected_n_data is None else self.expected_n_data
        check_positive_finite(expected_n, "expected_n_data", "a positive finite number or None")
        if (1.0 - quantile) * n_ref < 1.0:
            raise ValueError(
                f"quantile={quantile:g} of {n_ref} reference events leaves "
                f"{(1.0 - quantile) * n_ref:.3g} expected reference events above the cut, fewer "
                f"than one: the background cannot be estimated. Lower quantile to at most "
                f"{1.0 - 1.0 / n_ref:.6g} or use a larger reference sample."
            )
        check_not_constant(
            s_ref,
            "s of the reference (y == 0)",
            "no threshold can select a fraction of the reference. Check the score (a dead "
            "classifier outputs a constant).",
        )
        threshold, k_ref = quantile_threshold(s_ref, quantile, "reference", "quantile")
        n_obs = int(np.count_nonzero(s_data > threshold))
        w = float(expected_n) / n_ref
        b = w * k_ref
        t_cc = poisson_likelihood_ratio(n_obs, b)
        details = {
            "mode": "template",
            "threshold": threshold,
            "N_obs": n_obs,
            "k_R": k_ref,
            "b": b,
            "w": w,
            "quantile": quantile,
            "N_D": n_data,
            "N_R": n_ref,
            "reference_error": bool(self.reference_error),
        }
        if self.reference_error:
            # Conditional on n = N_obs + k_R the unknown background rate drops out.
            success = w / (1.0 + w)
            log_p = binomial_log_sf(n_obs, n_obs + k_ref, success)
            details.update(n_total=n_obs + k_ref, binomial_p=success)
        else:
            log_p = poisson_log_sf(n_obs, b)
        logger.debug(
            "template cut s > %.6g: N_obs = %d of %d, k_R = %d of %d, b = %.6g, t_cc = %.4g",
            threshold,
            n_obs,
            n_data,
            k_ref,
            n_ref,
            b,
            t_cc,
        )

        self.threshold_ = threshold
        self.n_selected_ = n_obs
        self.n_reference_selected_ = k_ref
        self.expected_background_ = b
        self.weight_ = w
        # Both are finite-sample laws (the conditional binomial, or the Poisson tail of a known
        # background), summed exactly in log space: no large-sample approximation.
        return self._set_result(t_cc, log_p, method=EXACT, n_events=n_data + n_ref, details=details)


class CutAndCountTest(BaseTest):
    """Deprecated: :class:`AnomalyCutTest` or :class:`TemplateCutAndCountTest` by ``mode``.

    Kept for one release: ``fit`` warns (``FutureWarning``), runs the test ``mode`` names with
    the matching settings (``method="poisson"`` is ``reference_error=True``,
    ``"poisson_known_background"`` is False) and takes over its fitted attributes and result.

    Parameters
    ----------
    mode : {"anomaly_cut", "template"}, default="anomaly_cut"
    efficiency, efficiency_uncertainty
        See :class:`AnomalyCutTest`.
    quantile, expected_n_data
        See :class:`TemplateCutAndCountTest`.
    method : {"poisson", "poisson_known_background"}, default="poisson"
        ``reference_error`` of :class:`TemplateCutAndCountTest`.
    """

    def __init__(
        self,
        mode="anomaly_cut",
        efficiency=0.01,
        quantile=0.9,
        method="poisson",
        efficiency_uncertainty=False,
        expected_n_data=None,
    ):
        self.mode = mode
        self.efficiency = efficiency
        self.quantile = quantile
        self.method = method
        self.efficiency_uncertainty = efficiency_uncertainty
        self.expected_n_data = expected_n_data

    def _replacement(self):
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}; got {self.mode!r}.")
        if self.mode == "anomaly_cut":
            return AnomalyCutTest(self.efficiency, self.efficiency_uncertainty)
        if self.method not in _METHODS:
            raise ValueError(
                f"method must be one of {_METHODS} for mode='template'; got {self.method!r}."
            )
        return TemplateCutAndCountTest(
            self.quantile, self.expected_n_data, reference_error=self.method == "poisson"
        )

    def fit(self, s, y):
        """Run the test ``mode`` names (see the class); deprecated."""
        test = self._replacement()
        warnings.warn(
            f"CutAndCountTest(mode={self.mode!r}) is deprecated: use {test!r}, one class per "
            "test (they take different y and settings).",
            FutureWarning,
            stacklevel=2,
        )
        test.fit(s, y)
        fitted = {k: v for k, v in vars(test).items() if k.endswith("_")}
        for key, value in fitted.items():
            setattr(self, key, value)
        self.result_ = dataclasses.replace(test.result_, test=type(self).__name__)
        return self
