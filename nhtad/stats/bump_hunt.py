r"""Bump hunt: a sideband fit of the dijet function and a profile-likelihood test of the SR count.

The classic resonance search used as a baseline for weakly supervised anomaly detection
(the seed repository's ``comparison_with_bumphunt`` notebook): histogram ``m_jj`` in a window,
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

What differs from the seed's bump hunt, on purpose: bin expectations are integrals of the dijet
function (not its value at the bin centre); the fit maximises a binned Poisson likelihood (not a
Neyman chi-square with ``+1`` in the variance); ``sigma_b`` is propagated through the full fit
covariance, bin-to-bin correlations included (not a quadrature sum of per-bin spreads from
unseeded parameter draws); after a score cut the background is either refitted on the selected
events or, in the seed's way, scaled by the measured cut efficiency *with* its binomial
uncertainty; p-values are kept in log space.
"""

from __future__ import annotations

import logging
import math
import numbers
from typing import NamedTuple

import numpy as np
from iminuit import Minuit
from scipy import linalg, special

from ..utils.validation import (
    check_events_vector,
    check_open_unit_interval,
    check_paired_vectors,
    check_positive_int,
)
from .base import ASYMPTOTIC, BaseTest
from .dijet_function import DEFAULT_SQRT_S, bin_quadrature, dijet_log_basis
from .pvalues import chi2_log_sf, significance_to_log_pvalue

__all__ = ["BumpHuntTest", "BackgroundFitError", "ProfileLikelihood", "profile_likelihood_q0"]

logger = logging.getLogger(__name__)

CUT_STRATEGIES = ("fit_after_cut", "scale_by_efficiency")
_N_PARAMS = 4
# Keeps exp() of the log-linear model finite while migrad probes far-off parameters; at the
# minimum the model is many orders of magnitude inside these bounds.
_LOG_F_BOUND = 600.0
# Below this sideband-fit p-value the interpolated background is logged as suspect.
_POOR_FIT_PVALUE = 1e-3


class BackgroundFitError(RuntimeError):
    """The dijet fit to the sidebands did not converge, so no background prediction exists.

    Raised instead of returning a significance computed from an unconverged fit.
    """


class ProfileLikelihood(NamedTuple):
    """Result of :func:`profile_likelihood_q0`; floats, or arrays for array input."""

    q0: float | np.ndarray
    significance: float | np.ndarray
    log_pvalue: float | np.ndarray
    signal_yield: float | np.ndarray
    signal_yield_error: float | np.ndarray
    nuisance_conditional: float | np.ndarray


def profile_likelihood_q0(n_observed, background, background_error) -> ProfileLikelihood:
    r"""Discovery statistic ``q0`` of a counting experiment with a Gaussian-constrained background.

    For ``L(mu, theta) = Pois(N | mu + b + theta) N(theta | 0, sigma_b)`` (Cowan, Cranmer,
    Gross, Vitells, EPJC 71 (2011) 1554) both fits have closed forms:

    * free: ``mu_hat = N - b``, ``theta_hat = 0`` (the Poisson mean equals ``N``);
    * ``mu = 0``: ``d ln L / d theta = 0`` is the quadratic
      ``theta^2 + theta (b + sigma_b^2) + sigma_b^2 (b - N) = 0``, whose root
      ``theta_hathat = 2 sigma_b^2 (N - b) / (b + sigma_b^2 + D)`` with
      ``D = sqrt((b - sigma_b^2)^2 + 4 N sigma_b^2)`` is written without cancellation.

    Then, with ``nu = b + theta_hathat``,

    .. math::

        q_0 = 2 \left[N \ln\frac{N}{\nu} - (N - \nu) + \frac{\hat{\hat\theta}^2}{2\sigma_b^2}
        \right] \text{ for } \hat\mu > 0, \qquad q_0 = 0 \text{ otherwise},

    ``Z = sqrt(q0)`` and ``log p = log Phi(-Z)`` (the one-sided half-chi-square law), finite for
    any ``N``. ``sigma_b = 0`` gives the Poisson ``q0 = 2 [N ln(N/b) - (N - b)]``.

    Parameters
    ----------
    n_observed : float or array-like
        Observed count(s) ``N >= 0``.
    background : float or array-like
        Predicted background ``b > 0``.
    background_error : float or array-like
        Its standard deviation ``sigma_b >= 0``.

    Returns
    -------
    ProfileLikelihood
        ``q0``, ``significance`` (Z), ``log_pvalue``, ``signal_yield`` (``mu_hat = N - b``),
        ``signal_yield_error`` and ``nuisance_conditional`` (``theta_hathat``). The yield error
        ``sqrt(N + sigma_b^2)`` is the inverse curvature of the likelihood at its maximum with
        ``theta`` profiled.
    """
    n, b, sigma = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (n_observed, background, background_error))
    )
    if not (np.all(np.isfinite(n)) and np.all(n >= 0)):
        raise ValueError(f"n_observed must be finite and >= 0; got {n_observed!r}.")
    if not (np.all(np.isfinite(b)) and np.all(b > 0)):
        raise ValueError(f"background must be finite and > 0; got {background!r}.")
    if not (np.all(np.isfinite(sigma)) and np.all(sigma >= 0)):
        raise ValueError(f"background_error must be finite and >= 0; got {background_error!r}.")
    var = sigma**2
    root = np.sqrt((b - var) ** 2 + 4.0 * n * var)
    denominator = b + var + root  # > 0 because b > 0
    theta = 2.0 * var * (n - b) / denominator
    # Poisson mean under mu = 0, from whichever root formula has no cancellation.
    small_b = b - var < 0
    safe = np.where(small_b, root - (b - var), 1.0)
    nu = np.where(small_b, 2.0 * n * var / safe, 0.5 * ((b - var) + root))
    # theta^2 / (2 sigma^2) without dividing by sigma, so sigma = 0 is exact.
    penalty = 2.0 * var * (n - b) ** 2 / denominator**2
    q0 = 2.0 * (special.kl_div(n, nu) + penalty)
    q0 = np.where(n > b, np.maximum(q0, 0.0), 0.0)
    z = np.sqrt(q0)
    log_p = np.asarray(significance_to_log_pvalue(z))
    values = (q0, z, log_p, n - b, np.sqrt(n + var), theta)
    if q0.ndim == 0:
        values = tuple(float(v) for v in values)
    return ProfileLikelihood(*values)


class _SidebandFit(NamedTuple):
    params: np.ndarray
    covariance: np.ndarray
    expected: np.ndarray
    background: float
    background_error: float
    deviance: float
    pearson_chi2: float
    ndf: int
    log_pvalue: float
    n_calls: int
    attempts: int


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}.")
    return float(value)


def _pair(value, name: str) -> tuple[float, float]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) in GeV; got {value!r}.") from None
    low, high = _real(low, f"{name}[0]"), _real(high, f"{name}[1]")
    if not low < high:
        raise ValueError(f"{name} must be ordered as (low, high) with low < high; got {value!r}.")
    return low, high


class BumpHuntTest(BaseTest):
    r"""Bump hunt in ``m_jj``: sideband fit of the dijet function and a profile-likelihood test.

    1. ``m_jj`` is histogrammed in ``window`` with bins of ``bin_width``; events outside the
       window are outside the analysis by definition and are ignored (their number is reported
       in ``details["n_outside_window"]``). Bins are ``[e_k, e_{k+1})``, the last one closed.
    2. The dijet function ``f(x) = p0 (1-x)^p1 / x^(p2 + p3 ln x)``, ``x = m_jj / sqrt_s``, is
       fitted to the sideband bins (the window minus ``signal_region``) by a binned Poisson
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

    With scores (``fit(mjj, s, efficiency=eps2)``) only events with ``s > t`` are tested, ``t``
    being the ``1 - eps2`` quantile of ``s`` over the *sideband* events of the window (linear
    interpolation, ``numpy.quantile``); events tied at ``t`` fail the cut, so with tied scores
    the measured sideband pass fraction ``eps2_hat`` may be below ``eps2``. ``cut_strategy``
    sets how the background of the selected events is predicted:

    * ``"fit_after_cut"`` (default): the dijet function is fitted to the *selected* events'
      sidebands. No assumption on how the cut efficiency depends on ``m_jj`` beyond the
      selected spectrum being smooth; needs enough selected sideband events for the fit.
    * ``"scale_by_efficiency"`` (the seed repository's way): the *uncut* sidebands are fitted
      and ``b = eps2_hat b_uncut``, assuming a cut efficiency flat in ``m_jj`` (the very
      assumption that the mutual-information test checks). ``sigma_b`` adds in quadrature the
      fit part ``eps2_hat sigma_b,uncut`` and the binomial part ``b_uncut sqrt(eps2_hat
      (1 - eps2_hat) / N_SB)``, which the seed ignored.

    Parameters
    ----------
    window : (float, float), default=(3100, 3900)
        ``m_jj`` range of the analysis in GeV; a whole number of bins wide.
    signal_region : (float, float), default=(3300, 3700)
        SR in GeV, strictly inside ``window``, its edges on bin edges.
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
        sideband efficiency to sigma_b. False reproduces the seed notebook, which drops it
        (anti-conservative at small eps2: about 130 sideband events pass at eps2 = 0.001).

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
    >>> test = BumpHuntTest().fit(mjj)
    >>> bool(test.significance_ < 3)
    True
    """

    def __init__(
        self,
        window=(3100, 3900),
        signal_region=(3300, 3700),
        bin_width=50,
        sqrt_s=DEFAULT_SQRT_S,
        cut_strategy="fit_after_cut",
        n_nodes=8,
        efficiency_uncertainty=True,
    ):
        self.window = window
        self.signal_region = signal_region
        self.bin_width = bin_width
        self.sqrt_s = sqrt_s
        self.cut_strategy = cut_strategy
        self.n_nodes = n_nodes
        self.efficiency_uncertainty = efficiency_uncertainty

    def fit(self, mjj, s=None, *, efficiency=None):
        """Run the bump hunt on ``m_jj``, optionally after a cut on the score ``s``.

        Parameters
        ----------
        mjj : array-like of shape (n_events,)
            Resonant mass per event in GeV; NaN or inf raise.
        s : array-like of shape (n_events,), default=None
            Anomaly score per event (larger = more signal-like). Requires ``efficiency``.
        efficiency : float, default=None
            Target sideband efficiency ``eps2`` of the cut ``s > t``, in (0, 1).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            On invalid settings or data (see the messages).
        BackgroundFitError
            If the sideband fit does not converge.
        """
        edges, sr_bins = self._check_binning()
        if not isinstance(self.efficiency_uncertainty, bool | np.bool_):
            raise ValueError(
                "efficiency_uncertainty must be True or False; got "
                f"{self.efficiency_uncertainty!r}."
            )
        if self.cut_strategy not in CUT_STRATEGIES:
            raise ValueError(
                f"cut_strategy must be one of {CUT_STRATEGIES}; got {self.cut_strategy!r}."
            )
        n_nodes = check_positive_int(self.n_nodes, "n_nodes")
        if s is None:
            if efficiency is not None:
                raise ValueError(
                    "efficiency is the sideband efficiency of a cut on the score: pass the "
                    "scores too, fit(mjj, s, efficiency=eps2), or drop efficiency."
                )
            mjj = check_events_vector(mjj, "mjj")
        else:
            if efficiency is None:
                raise ValueError(
                    "with scores s, pass the sideband efficiency of the cut, "
                    "fit(mjj, s, efficiency=eps2) with eps2 in (0, 1); or call fit(mjj)."
                )
            mjj, s = check_paired_vectors(mjj, s, s_name="mjj", y_name="s")
            efficiency = check_open_unit_interval(efficiency, "efficiency")

        n_bins = sr_bins.size
        in_window = (mjj >= edges[0]) & (mjj <= edges[-1])
        n_window = int(np.count_nonzero(in_window))
        # Right-closed last bin, as numpy.histogram.
        index = np.minimum(np.searchsorted(edges, mjj[in_window], side="right") - 1, n_bins - 1)
        counts_all = np.bincount(index, minlength=n_bins)
        n_sr_all = int(counts_all[sr_bins].sum())
        if n_sr_all == 0:
            raise ValueError(
                f"the signal region {self.signal_region} holds no events ({n_window} of "
                f"{mjj.size} events lie in the window {self.window}); check that mjj is in GeV "
                f"and that signal_region covers the mass range of the data."
            )

        x_edges = edges / float(self.sqrt_s)
        quadrature = bin_quadrature(x_edges, n_nodes)
        details = {}
        threshold = None
        scale = s is not None and self.cut_strategy == "scale_by_efficiency"
        if s is None:
            tested, what = counts_all, "the data"
        else:
            s_window = s[in_window]
            in_sideband = ~sr_bins[index]
            n_sideband = int(np.count_nonzero(in_sideband))
            if n_sideband == 0:
                raise ValueError(
                    f"the sidebands of the window {self.window} hold no events, so the cut "
                    f"threshold cannot be set; check that mjj is in GeV and covers the window."
                )
            threshold = float(np.quantile(s_window[in_sideband], 1.0 - efficiency))
            tested = np.bincount(index[s_window > threshold], minlength=n_bins)
            what = f"the events passing the cut s > {threshold:g} (efficiency {efficiency:g})"
            n_sideband_passed = int(tested[~sr_bins].sum())
            if n_sideband_passed == 0:
                raise ValueError(
                    f"no sideband event has s > {threshold:g} (the {1 - efficiency:g} quantile "
                    f"of s in the sidebands): the scores are tied at the top. Use a larger "
                    f"efficiency or break the ties in s."
                )
            eps_hat = n_sideband_passed / n_sideband
            eps_error = math.sqrt(eps_hat * (1.0 - eps_hat) / n_sideband)
            details.update(
                efficiency=efficiency,
                efficiency_measured=eps_hat,
                efficiency_error=eps_error,
                threshold=threshold,
                cut_strategy=self.cut_strategy,
                n_sideband_uncut=n_sideband,
                n_signal_region_uncut=n_sr_all,
            )

        if scale:
            # The seed's prediction: uncut sideband fit times the sideband pass fraction, which
            # assumes an efficiency flat in m_jj; eps2_hat's binomial error is no longer dropped.
            fit = self._fit_sidebands(counts_all, x_edges, sr_bins, quadrature, "the data")
            background = eps_hat * fit.background
            fit_part = eps_hat * fit.background_error
            efficiency_part = fit.background * eps_error if self.efficiency_uncertainty else 0.0
            background_error = math.hypot(fit_part, efficiency_part)
            expected = eps_hat * fit.expected
            details.update(
                background_uncut=fit.background,
                background_error_fit=fit_part,
                background_error_efficiency=efficiency_part,
            )
        else:
            fit = self._fit_sidebands(tested, x_edges, sr_bins, quadrature, what)
            background, background_error, expected = (
                fit.background,
                fit.background_error,
                fit.expected,
            )

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
        self.threshold_ = threshold
        sr_index = np.flatnonzero(sr_bins)
        details.update(
            window=(float(edges[0]), float(edges[-1])),
            signal_region=(float(edges[sr_index[0]]), float(edges[sr_index[-1] + 1])),
            bin_width=float(self.bin_width),
            sqrt_s=float(self.sqrt_s),
            n_bins=n_bins,
            n_sideband_bins=int(np.count_nonzero(~sr_bins)),
            n_signal_region_bins=int(np.count_nonzero(sr_bins)),
            n_window=n_window,
            n_outside_window=int(mjj.size - n_window),
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
            n_events=n_window,
            details=details,
        )

    # -- settings -------------------------------------------------------------------------
    def _check_binning(self):
        sqrt_s = _real(self.sqrt_s, "sqrt_s")
        if sqrt_s <= 0:
            raise ValueError(f"sqrt_s must be > 0 (GeV); got {self.sqrt_s!r}.")
        width = _real(self.bin_width, "bin_width")
        if width <= 0:
            raise ValueError(f"bin_width must be > 0 (GeV); got {self.bin_width!r}.")
        low, high = _pair(self.window, "window")
        if not 0 < low < high < sqrt_s:
            raise ValueError(
                f"window must satisfy 0 < low < high < sqrt_s={sqrt_s:g} GeV; got {self.window!r}."
            )
        n_bins_float = (high - low) / width
        n_bins = round(n_bins_float)
        if n_bins < 1 or abs(n_bins_float - n_bins) > 1e-9 * max(n_bins, 1):
            raise ValueError(
                f"the window {self.window!r} is not a whole number of bins of width {width:g} "
                f"GeV ({n_bins_float:.4g} bins); choose bin_width dividing {high - low:g}."
            )
        sr_low, sr_high = _pair(self.signal_region, "signal_region")
        if not low < sr_low < sr_high < high:
            raise ValueError(
                f"signal_region={self.signal_region!r} must lie strictly inside "
                f"window={self.window!r}, leaving a sideband on each side."
            )
        positions = []
        for value in (sr_low, sr_high):
            k = (value - low) / width
            if abs(k - round(k)) > 1e-9 * max(abs(k), 1.0):
                below = low + math.floor(k) * width
                raise ValueError(
                    f"signal_region edges must lie on bin edges window[0] + k * bin_width; "
                    f"{value:g} does not (nearest edges {below:g} and {below + width:g}). Use "
                    f"e.g. signal_region=({low + round((sr_low - low) / width) * width:g}, "
                    f"{low + round((sr_high - low) / width) * width:g}) or another bin_width."
                )
            positions.append(round(k))
        edges = low + width * np.arange(n_bins + 1, dtype=np.float64)
        edges[-1] = high
        sr_bins = np.zeros(n_bins, dtype=bool)
        sr_bins[positions[0] : positions[1]] = True
        n_sideband_bins = n_bins - int(sr_bins.sum())
        if n_sideband_bins < _N_PARAMS + 1:
            raise ValueError(
                f"the sidebands hold {n_sideband_bins} bins, but the {_N_PARAMS}-parameter "
                f"dijet fit needs at least {_N_PARAMS + 1}; use a smaller bin_width, a wider "
                f"window or a narrower signal_region."
            )
        return edges, sr_bins

    # -- background fit -------------------------------------------------------------------
    def _fit_sidebands(self, counts, x_edges, sr_bins, quadrature, what) -> _SidebandFit:
        nodes, weights = quadrature
        sideband = ~sr_bins
        observed = counts[sideband].astype(np.float64)
        filled = sideband & (counts > 0)
        low_side = np.arange(sr_bins.size) < np.argmax(sr_bins)
        if (
            np.count_nonzero(filled) < _N_PARAMS + 1
            or not np.any(filled & low_side)
            or not np.any(filled & ~low_side)
        ):
            raise ValueError(
                f"too few sideband events in {what} to fit the {_N_PARAMS}-parameter dijet "
                f"function: {int(observed.sum())} events in {np.count_nonzero(filled)} non-empty "
                f"sideband bins (need >= {_N_PARAMS + 1} non-empty bins and events on both "
                f"sides of the signal region). Use more events, wider bins, a wider window, or a "
                f"looser cut (larger efficiency, or cut_strategy='scale_by_efficiency')."
            )
        basis = dijet_log_basis(nodes)  # (n_bins, n_nodes, 4)

        # Starting point: weighted least squares of ln(counts / width) at the bin centres, with
        # the Poisson weights of ln(counts); close enough that MIGRAD only polishes it.
        centres = 0.5 * (x_edges[:-1] + x_edges[1:])[filled]
        root_w = np.sqrt(counts[filled].astype(np.float64))
        design = dijet_log_basis(centres) * root_w[:, None]
        target = np.log(counts[filled] / np.diff(x_edges)[filled]) * root_w
        theta_start = linalg.lstsq(design, target)[0]

        # Reparametrise theta = R^{-1} c with R from the QR decomposition of the basis weighted
        # by the starting model: the Fisher information in c is then ~identity, which removes
        # the near-degeneracy of (p1, p2, p3) on a narrow window from MIGRAD's problem.
        sb_basis = basis[sideband]
        sb_weights = weights[sideband]
        start_density = np.exp(np.clip(sb_basis @ theta_start, -_LOG_F_BOUND, _LOG_F_BOUND))
        scaled = (np.sqrt(sb_weights * start_density)[..., None] * sb_basis).reshape(-1, _N_PARAMS)
        r = linalg.qr(scaled, mode="r")[0][:_N_PARAMS]
        # Psi = Phi R^{-1}: ln f = Psi c.
        psi = linalg.solve_triangular(r, basis.reshape(-1, _N_PARAMS).T, trans="T").T.reshape(
            basis.shape
        )
        psi_sb = psi[sideband]

        def model(c, psi_part, weights_part):
            log_f = np.clip(psi_part @ c, -_LOG_F_BOUND, _LOG_F_BOUND)
            return weights_part * np.exp(log_f)  # per-node contributions to the bin integral

        def nll(c):
            # Half the Poisson deviance: the Poisson NLL up to a constant, ~ndf/2 at the minimum,
            # so MIGRAD's EDM tolerance is meaningful however large the counts.
            expected = model(c, psi_sb, sb_weights).sum(axis=1)
            return float(special.kl_div(observed, expected).sum())

        def gradient(c):
            contrib = model(c, psi_sb, sb_weights)
            expected = contrib.sum(axis=1)
            return np.einsum("i,ik,ikj->j", 1.0 - observed / expected, contrib, psi_sb)

        flat = np.zeros(_N_PARAMS)
        flat[0] = math.log(max(observed.sum(), 1.0) / np.diff(x_edges)[sideband].sum())
        starts = [(r @ theta_start, 1), (None, 2), (r @ flat, 2)]
        minuit = None
        for attempt, (start, strategy) in enumerate(starts, start=1):
            if start is not None:
                minuit = Minuit(nll, start, grad=gradient)
                minuit.errordef = Minuit.LIKELIHOOD
                minuit.errors = np.ones(_N_PARAMS)
            minuit.strategy = strategy
            minuit.migrad()
            if minuit.valid:
                minuit.hesse()
            if minuit.valid and minuit.accurate:
                break
            logger.debug("sideband fit attempt %d invalid:\n%s", attempt, minuit.fmin)
        else:
            raise BackgroundFitError(
                f"the dijet fit to the sidebands of {what} did not converge after "
                f"{len(starts)} attempts (last MIGRAD state: valid={minuit.valid}, "
                f"accurate covariance={minuit.accurate}, edm={minuit.fmin.edm:.3g}); no "
                f"background prediction and no significance. Inspect the sideband spectrum "
                f"(np.histogram of mjj), use wider bins, a different window, or more events."
            )

        c_hat = np.array(minuit.values)
        cov_c = np.array(minuit.covariance)
        contrib = weights * np.exp(np.clip(psi @ c_hat, -_LOG_F_BOUND, _LOG_F_BOUND))
        expected = contrib.sum(axis=1)
        background = float(expected[sr_bins].sum())
        grad_b = np.einsum("ik,ikj->j", contrib[sr_bins], psi[sr_bins])
        background_error = math.sqrt(max(float(grad_b @ cov_c @ grad_b), 0.0))

        r_inv = linalg.solve_triangular(r, np.eye(_N_PARAMS))
        params = r_inv @ c_hat  # (ln p0, p1, p2, p3)
        covariance = r_inv @ cov_c @ r_inv.T

        deviance = 2.0 * minuit.fval
        fitted_sb = expected[sideband]
        ndf = int(observed.size - _N_PARAMS)
        return _SidebandFit(
            params=params,
            covariance=covariance,
            expected=expected,
            background=background,
            background_error=background_error,
            deviance=deviance,
            pearson_chi2=float(((observed - fitted_sb) ** 2 / fitted_sb).sum()),
            ndf=ndf,
            log_pvalue=float(chi2_log_sf(deviance, ndf)),
            n_calls=int(minuit.nfcn),
            attempts=attempt,
        )
