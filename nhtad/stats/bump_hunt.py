r"""Bump hunt: a sideband fit of the dijet function and a profile-likelihood test of the SR count.

The classic resonance search used as a baseline for weakly supervised anomaly detection
(Kamenik & Szewc, PLB 840 (2023) 137836, and their public code): histogram ``m_jj`` in a window,
fit the four-parameter dijet function (CDF, PRD 79 (2009) 112002; see
:mod:`nhtad.stats.dijet_function`) to the sideband bins only, interpolate it into the signal
region (SR) to predict the background ``b`` with uncertainty ``sigma_b``, and test the SR count
``N1`` with the profile likelihood

.. math::

    L(\mu, \theta) = \mathrm{Pois}(N_1 \mid \mu + b + \theta)\, \mathcal{N}(\theta \mid 0,
    \sigma_b), \qquad
    q_0 = -2 \ln \frac{L(0, \hat{\hat\theta})}{L(\hat\mu, \hat\theta)} \ (\hat\mu \ge 0),
    \quad q_0 = 0 \ (\hat\mu < 0), \qquad Z = \sqrt{q_0}

(Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554, eqs. 12 and 52). Optionally the events are
first selected by an anomaly-score cut of sideband efficiency ``eps2``.

What differs from that code's bump hunt, on purpose: bin expectations are integrals of the dijet
function (not its value at the bin centre); the fit maximises a binned Poisson likelihood (not a
Neyman chi-square with ``+1`` in the variance); ``sigma_b`` is propagated through the full fit
covariance, bin-to-bin correlations included (not a quadrature sum of per-bin spreads from
unseeded parameter draws); after a score cut the background is either refitted on the selected
events or, as that code does, scaled by the measured cut efficiency *with* its binomial
uncertainty; p-values are kept in log space.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np

from ..utils.validation import (
    check_events_vector,
    check_open_unit_interval,
    check_paired_vectors,
    check_positive_int,
)
from ._bump_hunt_inputs import fit_arguments, window_and_signal_region
from .base import ASYMPTOTIC, BaseTest
from .dijet_fit import (
    BackgroundFitError,
    fit_dijet_sidebands,
    histogram_window,
    window_bins,
)
from .dijet_function import DEFAULT_SQRT_S, bin_quadrature
from .profile_likelihood import ProfileLikelihood, profile_likelihood_q0

__all__ = ["BumpHuntTest", "BackgroundFitError", "ProfileLikelihood", "profile_likelihood_q0"]

logger = logging.getLogger(__name__)

CUT_STRATEGIES = ("fit_after_cut", "scale_by_efficiency")
# Below this sideband-fit p-value the interpolated background is logged as suspect.
_POOR_FIT_PVALUE = 1e-3


class _Selection(NamedTuple):
    counts: np.ndarray  # tested events per bin (after the cut, if any)
    what: str  # for messages
    threshold: float | None
    details: dict


class BumpHuntTest(BaseTest):
    r"""Bump hunt in ``m_jj``: sideband fit of the dijet function and a profile-likelihood test.

    1. ``m_jj`` is histogrammed in the window of ``region`` with bins of ``bin_width``; events
       outside the window are outside the analysis by definition and are ignored (their number
       is reported in ``details["n_outside_window"]``). Bins are ``[e_k, e_{k+1})``, like the
       window and the signal region of :class:`~nhtad.datasets.SignalRegion`.
    2. The dijet function ``f(x) = p0 (1-x)^p1 / x^(p2 + p3 ln x)``, ``x = m_jj / sqrt_s``, is
       fitted to the sideband bins (the window minus the signal region) by a binned Poisson
       likelihood on the bin *integrals* of ``f`` (Gauss-Legendre, see
       :mod:`nhtad.stats.dijet_function`), with iminuit's MIGRAD and HESSE. Since ``ln f`` is
       linear in ``(ln p0, p1, p2, p3)``, the fit runs in a linear reparametrisation in which
       the Fisher information at the starting point (a weighted least-squares fit of
       ``ln(counts)``) is the identity; the four parameters are nearly degenerate on a narrow
       window, and this makes the fit converge in a few steps. The fit is retried with
       ``strategy=2`` and from a flat start; if it is still invalid a
       :class:`BackgroundFitError` (a ``RuntimeError``) is raised, never a silent Z.
    3. The SR background ``b`` is the sum of the fitted bin integrals over the SR bins, and
       ``sigma_b^2 = g^T C g`` with ``g = db/dparams`` (analytic) and ``C`` the full HESSE
       covariance, so the strong parameter correlations are kept.
    4. The SR count ``N1`` is tested with :func:`profile_likelihood_q0`: statistic ``q0``,
       ``Z = sqrt(q0)``, ``log p = log Phi(-Z)`` (Cowan et al., EPJC 71 (2011) 1554). Half the
       null toys give ``q0 = 0`` (one-sided test), so ``Z = 0`` is common.

    With scores (``BumpHuntTest(efficiency=eps2).fit(s, mjj)``) only events with ``s > t`` are
    tested, ``t``
    being the ``1 - eps2`` quantile of ``s`` over the *sideband* events of the window (linear
    interpolation, ``numpy.quantile``); events tied at ``t`` fail the cut, so with tied scores
    the measured sideband pass fraction ``eps2_hat`` may be below ``eps2``. ``cut_strategy``
    sets how the background of the selected events is predicted:

    * ``"fit_after_cut"`` (default): the dijet function is fitted to the *selected* events'
      sidebands. No assumption on how the cut efficiency depends on ``m_jj`` beyond the
      selected spectrum being smooth; needs enough selected sideband events for the fit.
    * ``"scale_by_efficiency"`` (Kamenik & Szewc's way): the *uncut* sidebands are fitted
      and ``b = eps2_hat b_uncut``, assuming a cut efficiency flat in ``m_jj`` (the very
      assumption that the mutual-information test checks). ``sigma_b`` adds in quadrature the
      fit part ``eps2_hat sigma_b,uncut`` and the binomial part ``b_uncut sqrt(eps2_hat
      (1 - eps2_hat) / N_SB)``, which the seed ignored.

    Parameters
    ----------
    region : SignalRegion or None, default=None
        Window and signal region in GeV (:class:`~nhtad.datasets.SignalRegion`; ``None`` is
        ``SignalRegion()``, 3.3-3.7 TeV in 3.1-3.9 TeV). The window must be a whole number of
        bins and the signal-region edges must lie on bin edges.
    efficiency : float or None, default=None
        Target sideband efficiency ``eps2`` in (0, 1) of the cut ``s > t`` on the scores;
        ``None`` tests all events (then ``fit(None, mjj)``).
    bin_width : float, default=50
        Bin width in GeV; the sidebands must hold at least 5 bins (4 fit parameters + 1).
    sqrt_s : float, default=13000
        Centre-of-mass energy in GeV, the scale of ``x = m_jj / sqrt_s``.
    cut_strategy : {"fit_after_cut", "scale_by_efficiency"}, default="fit_after_cut"
        Background prediction after a score cut (see above); unused without scores.
    n_nodes : int, default=8
        Gauss-Legendre nodes per bin for the bin integrals.
    efficiency_uncertainty : bool, default=True
        With ``cut_strategy="scale_by_efficiency"``, add the binomial error of the measured
        sideband efficiency to sigma_b. False reproduces Kamenik & Szewc's code, which drops it
        (anti-conservative at small eps2: about 130 sideband events pass at eps2 = 0.001).
    window, signal_region : (float, float)
        Deprecated: give ``region=SignalRegion(low, high, window)`` instead (removed in the
        next release).

    Attributes
    ----------
    statistic_ : float
        ``q0``.
    pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`; ``n_events_`` counts the events in the window
        (before any cut).
    signal_yield_, signal_yield_error_ : float
        ``mu_hat = N1 - b`` (may be negative) and ``sqrt(N1 + sigma_b^2)``.
    background_, background_error_ : float
        ``b`` and ``sigma_b`` in the SR.
    fit_params_ : ndarray of shape (4,)
        Fitted ``(ln p0, p1, p2, p3)``, ``f`` in events per unit ``x`` (of the uncut spectrum
        for ``"scale_by_efficiency"``); evaluate with
        ``dijet_bin_integrals(bin_edges_ / sqrt_s, fit_params_, log_p0=True)``. ``ln p0``, not
        ``p0``: on a 3.1-3.9 TeV window the shape parameters are nearly degenerate (``p1`` of
        +-200 from toy to toy, with ``p2``, ``p3`` compensating), and ``p0 = exp(+-several
        hundred)`` can leave the float range although the fitted curve is well determined.
    fit_covariance_ : ndarray of shape (4, 4)
        Covariance of ``fit_params_`` (ill-conditioned for the same reason;
        ``background_error_`` is propagated in the well-conditioned basis of the fit).
    bin_edges_ : ndarray of shape (n_bins + 1,)
        Bin edges in GeV.
    counts_ : ndarray of shape (n_bins,)
        Counts of the tested events (the selected ones after a cut).
    expected_ : ndarray of shape (n_bins,)
        Fitted background per bin for the tested events.
    signal_region_bins_ : ndarray of bool, shape (n_bins,)
        Which bins form the SR.
    threshold_ : float or None
        Score threshold ``t`` (None without scores).

    Examples
    --------
    >>> from nhtad.stats.dijet_function import sample_dijet
    >>> mjj = sample_dijet(50_000, (1.0, 10.0, 5.0, 0.0), random_state=0)
    >>> test = BumpHuntTest().fit(None, mjj)
    >>> bool(test.significance_ < 3)
    True
    """

    def __init__(
        self,
        region=None,
        efficiency=None,
        bin_width=50,
        sqrt_s=DEFAULT_SQRT_S,
        cut_strategy="fit_after_cut",
        n_nodes=8,
        efficiency_uncertainty=True,
        window="deprecated",
        signal_region="deprecated",
    ):
        self.region = region
        self.efficiency = efficiency
        self.bin_width = bin_width
        self.sqrt_s = sqrt_s
        self.cut_strategy = cut_strategy
        self.n_nodes = n_nodes
        self.efficiency_uncertainty = efficiency_uncertainty
        self.window = window
        self.signal_region = signal_region

    def fit(self, s, y=None, **legacy):
        """Run the bump hunt on ``m_jj`` (``y``), after a cut on the scores ``s`` if given.

        Parameters
        ----------
        s : array-like of shape (n_events,) or None
            Anomaly score per event (larger = more signal-like); ``None`` tests all events.
            With scores, ``efficiency`` must be set.
        y : array-like of shape (n_events,)
            Resonant mass ``m_jj`` per event in GeV; NaN or inf raise.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On invalid settings or data (see the messages).
        BackgroundFitError
            If the sideband fit does not converge.

        Notes
        -----
        The former order ``fit(mjj)`` and ``fit(mjj, s, efficiency=eps2)`` still works for one
        release, with a ``FutureWarning``.
        """
        s, mjj, efficiency = fit_arguments(self, s, y, legacy)
        edges, sr_bins = self._check_binning()
        self._check_settings()
        mjj, s = self._check_events(mjj, s, efficiency)
        binned = histogram_window(mjj, edges, sr_bins)
        x_edges = edges / float(self.sqrt_s)
        quadrature = bin_quadrature(x_edges, check_positive_int(self.n_nodes, "n_nodes"))
        if s is None:
            selection = _Selection(binned.counts, "the data", None, {})
        else:
            selection = self._select(s, binned, sr_bins, efficiency)
        prediction = self._predict_background(binned, selection, x_edges, sr_bins, quadrature)
        return self._test_signal_region(binned, selection, prediction, edges, sr_bins, mjj)

    # -- the steps of fit -----------------------------------------------------------------
    def _check_settings(self):
        if not isinstance(self.efficiency_uncertainty, bool | np.bool_):
            raise ValueError(
                "efficiency_uncertainty must be True or False; got "
                f"{self.efficiency_uncertainty!r}."
            )
        if self.cut_strategy not in CUT_STRATEGIES:
            raise ValueError(
                f"cut_strategy must be one of {CUT_STRATEGIES}; got {self.cut_strategy!r}."
            )

    @staticmethod
    def _check_events(mjj, s, efficiency):
        if mjj is None:
            raise ValueError("y must hold m_jj per event (GeV): fit(s, mjj), or fit(None, mjj).")
        if s is None:
            if efficiency is not None:
                raise ValueError(
                    "efficiency is the sideband efficiency of a cut on the score: pass the "
                    "scores too, fit(s, mjj), or set efficiency=None."
                )
            return check_events_vector(mjj, "mjj"), None
        if efficiency is None:
            raise ValueError(
                "with scores s, set the sideband efficiency of the cut, "
                "BumpHuntTest(efficiency=eps2) with eps2 in (0, 1); or call fit(None, mjj)."
            )
        check_open_unit_interval(efficiency, "efficiency")
        mjj, s = check_paired_vectors(mjj, s, s_name="mjj", y_name="s")
        return mjj, s

    def _select(self, s, binned, sr_bins, efficiency) -> _Selection:
        """The cut ``s > t`` at the ``1 - eps2`` quantile of the sideband scores."""
        s_window = s[binned.in_window]
        in_sideband = ~sr_bins[binned.index]
        n_sideband = int(np.count_nonzero(in_sideband))
        if n_sideband == 0:
            window = window_and_signal_region(self)[0]
            raise ValueError(
                f"the sidebands of the window {window} hold no events, so the cut "
                f"threshold cannot be set; check that mjj is in GeV and covers the window."
            )
        threshold = float(np.quantile(s_window[in_sideband], 1.0 - efficiency))
        tested = np.bincount(binned.index[s_window > threshold], minlength=sr_bins.size)
        what = f"the events passing the cut s > {threshold:g} (efficiency {efficiency:g})"
        n_sideband_passed = int(tested[~sr_bins].sum())
        if n_sideband_passed == 0:
            raise ValueError(
                f"no sideband event has s > {threshold:g} (the {1 - efficiency:g} quantile "
                f"of s in the sidebands): the scores are tied at the top. Use a larger "
                f"efficiency or break the ties in s."
            )
        eps_hat = n_sideband_passed / n_sideband
        details = {
            "efficiency": efficiency,
            "efficiency_measured": eps_hat,
            "efficiency_error": math.sqrt(eps_hat * (1.0 - eps_hat) / n_sideband),
            "threshold": threshold,
            "cut_strategy": self.cut_strategy,
            "n_sideband_uncut": n_sideband,
            "n_signal_region_uncut": binned.n_signal_region,
        }
        return _Selection(tested, what, threshold, details)

    def _predict_background(self, binned, selection, x_edges, sr_bins, quadrature):
        """Background in the SR of the tested events: ``(fit, b, sigma_b, expected per bin)``."""
        if selection.threshold is not None and self.cut_strategy == "scale_by_efficiency":
            # Kamenik & Szewc's prediction: uncut sideband fit times the sideband pass fraction,
            # which assumes an efficiency flat in m_jj; eps2_hat's binomial error is kept.
            eps_hat = selection.details["efficiency_measured"]
            fit = fit_dijet_sidebands(binned.counts, x_edges, sr_bins, quadrature, "the data")
            fit_part = eps_hat * fit.background_error
            efficiency_part = (
                fit.background * selection.details["efficiency_error"]
                if self.efficiency_uncertainty
                else 0.0
            )
            selection.details.update(
                background_uncut=fit.background,
                background_error_fit=fit_part,
                background_error_efficiency=efficiency_part,
            )
            return (
                fit,
                eps_hat * fit.background,
                math.hypot(fit_part, efficiency_part),
                eps_hat * fit.expected,
            )
        fit = fit_dijet_sidebands(selection.counts, x_edges, sr_bins, quadrature, selection.what)
        return fit, fit.background, fit.background_error, fit.expected

    def _test_signal_region(self, binned, selection, prediction, edges, sr_bins, mjj):
        """Profile-likelihood test of the SR count; sets the fitted attributes."""
        fit, background, background_error, expected = prediction
        tested = selection.counts
        n_sr = int(tested[sr_bins].sum())
        profile = profile_likelihood_q0(n_sr, background, background_error)
        fit_pvalue = math.exp(fit.log_pvalue)
        if fit_pvalue < _POOR_FIT_PVALUE:
            logger.warning(
                "the dijet function describes the sidebands poorly (deviance %.1f for %d dof, "
                "p = %.2g): the SR background and Z are suspect.",
                fit.deviance,
                fit.ndf,
                fit_pvalue,
            )
        logger.debug(
            "bump hunt: N1=%d b=%.2f+-%.2f mu_hat=%.2f q0=%.4g Z=%.3f (fit deviance %.2f/%d)",
            n_sr,
            background,
            background_error,
            profile.signal_yield,
            profile.q0,
            profile.significance,
            fit.deviance,
            fit.ndf,
        )
        self.signal_yield_ = profile.signal_yield
        self.signal_yield_error_ = profile.signal_yield_error
        self.background_ = float(background)
        self.background_error_ = float(background_error)
        self.fit_params_ = fit.params
        self.fit_covariance_ = fit.covariance
        self.bin_edges_ = edges
        self.counts_ = tested
        self.expected_ = expected
        self.signal_region_bins_ = sr_bins
        self.threshold_ = selection.threshold
        sr_index = np.flatnonzero(sr_bins)
        details = dict(selection.details)
        details.update(
            window=(float(edges[0]), float(edges[-1])),
            signal_region=(float(edges[sr_index[0]]), float(edges[sr_index[-1] + 1])),
            bin_width=float(self.bin_width),
            sqrt_s=float(self.sqrt_s),
            n_bins=sr_bins.size,
            n_sideband_bins=int(np.count_nonzero(~sr_bins)),
            n_signal_region_bins=int(np.count_nonzero(sr_bins)),
            n_window=binned.n_window,
            n_outside_window=int(mjj.size - binned.n_window),
            n_signal_region=n_sr,
            n_sideband=int(tested[~sr_bins].sum()),
            background=float(background),
            background_error=float(background_error),
            signal_yield=profile.signal_yield,
            signal_yield_error=profile.signal_yield_error,
            nuisance_conditional=profile.nuisance_conditional,
            q0=profile.q0,
            fit_deviance=fit.deviance,
            fit_pearson_chi2=fit.pearson_chi2,
            fit_ndf=fit.ndf,
            fit_chi2_ndf=fit.deviance / fit.ndf,
            fit_pvalue=fit_pvalue,
            fit_params=fit.params,
            fit_calls=fit.n_calls,
            fit_attempts=fit.attempts,
        )
        return self._set_result(
            profile.q0,
            profile.log_pvalue,
            method=ASYMPTOTIC,
            n_events=binned.n_window,
            details=details,
        )

    # -- settings -------------------------------------------------------------------------
    def _check_binning(self):
        window, signal_region = window_and_signal_region(self)
        return window_bins(window, signal_region, self.bin_width, self.sqrt_s)
