"""Independence of an anomaly score and m_jj up to a smooth trend: a data-driven null.

A score trained on data is a function of features whose distribution drifts with m_jj, so even
in pure background its distribution given m_jj is not constant: the plain independence test
(mutual information with its chi^2 law) then rejects at large N without any signal. What a
background does not do is change the score distribution *abruptly* where a resonance would sit.
This test makes that, the bump hunt's assumption of a smooth background in m_jj, the null
hypothesis for the whole score distribution, with no cut on the score and no fit of the m_jj
spectrum.

The ``d_s x d_y`` table of counts (equal-count bins of s and of y = m_jj) is described by the
Poisson log-linear model (Agresti, *Categorical Data Analysis*, 3rd ed., Sec. 9.5, a row-effects
model with a polynomial in the column score)

    log mu_ij = a_i + b_j + sum_{k=1..K} c_ik P_k(u_j),

with ``u_j`` the bin's mean m_jj mapped to [-1, 1] over the window and ``P_k`` Legendre
polynomials: every score bin's share of the events may drift with m_jj as a polynomial of
degree K (in the log), and the m_jj spectrum ``b_j`` is free. ``K = 0`` is plain independence.
Its G^2 against chi^2 with ``(d_s - 1)(d_y - 1 - K)`` dof tests the model on the whole table
(``alternative="any"``). The signal-region alternative adds one term ``d_i 1[y_j in SR]`` per
score bin, a change of the score distribution confined to the signal region, and tests it by
the likelihood ratio ``G^2_K - G^2_{K+SR}`` against chi^2 with ``d_s - 1`` dof: the power of the
whole table spent where a resonance in the signal region puts it.

Profiling the free ``b_j`` turns the Poisson model into a multinomial logit of the score bin
given the y bin (the two have the same maximum-likelihood ``mu`` and G^2), which is fitted here
by Newton's method with a line search: ``(d_s - 1)(K + 1)`` parameters, concave log-likelihood.

The null is honest when the background's m_jj dependence lies inside the model. The degree is
therefore chosen from what carries no signal: the smallest ``K`` that the sideband columns of
the data and, when given, the simulation's whole table (passed through the same score) accept.
The simulation's own signal-region term is the "spurious signal" of resonance searches (ATLAS,
Phys. Rev. D 90 (2014) 112015, Sec. 6): a signal-free sample in which the smooth model must not
find one.
"""

from __future__ import annotations

import logging
import numbers
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre
from scipy import linalg, special

from ..utils.threads import single_threaded_blas
from ..utils.validation import check_open_unit_interval, check_paired_vectors
from .base import ASYMPTOTIC, RESAMPLED, BaseTest
from .binning import assign_bins, min_count_for
from .contingency import is_region, score_mass_table
from .pvalues import chi2_log_sf, empirical_log_pvalue, log_pvalue_to_significance
from .resampling import check_null_method, resample_null

__all__ = [
    "SmoothTrendIndependenceTest",
    "TrendFit",
    "fit_trend_model",
    "trend_design",
]

logger = logging.getLogger(__name__)

_METHODS = ("asymptotic", "bootstrap")
_ALTERNATIVES = ("any", "signal_region")
_DEGREE_FROM = ("auto", "simulation", "sidebands", "both")
_MAX_ITER = 100

#: Fewest events every score bin must expect (under the fitted null) in the signal region and in
#: the sidebands for the chi^2 law of the signal-region likelihood ratio
#: (``method="asymptotic"``). The default halving ladder's top bin expects about 40-80 in the
#: signal region of a 3.1-3.9 TeV window.
MIN_REGION_COUNT = 25
#: Largest small-count shift of G^2 (Williams' leading term, in null standard deviations) that
#: the corrected chi^2 law of ``alternative="any"`` accepts.
MAX_WILLIAMS_SHIFT = 0.5


@dataclass(frozen=True, eq=False)
class TrendFit:
    """Maximum-likelihood fit of the smooth-trend model to a table.

    Attributes
    ----------
    coefficients : ndarray of shape (d_s, n_terms)
        Row ``i``: score bin ``i``'s coefficients of the design's columns (row 0 is the
        reference, all zero).
    expected : ndarray of shape (d_s, d_y)
        Fitted counts ``mu_ij`` (column totals equal the observed ones).
    g2 : float
        Deviance ``2 sum n log(n / mu)``.
    covariance : ndarray of shape (d_s - 1, n_terms, d_s - 1, n_terms)
        Inverse Fisher information of the free coefficients (rows 1..d_s-1).
    n_iter : int
        Newton iterations.
    """

    coefficients: np.ndarray
    expected: np.ndarray
    g2: float
    covariance: np.ndarray
    n_iter: int


def trend_design(u, degree: int, signal_region=None) -> np.ndarray:
    """Design matrix of the y bins: Legendre polynomials ``P_0..P_K`` of ``u`` (+ an SR term).

    Parameters
    ----------
    u : array-like of shape (d_y,)
        Bin positions mapped to [-1, 1].
    degree : int
        Polynomial degree K.
    signal_region : array-like of bool of shape (d_y,), optional
        Marks the signal-region bins; adds their indicator as the last column.

    Returns
    -------
    ndarray of shape (d_y, K + 1) or (d_y, K + 2)
    """
    u = np.asarray(u, dtype=np.float64)
    columns = [legendre.legval(u, np.eye(degree + 1)[k]) for k in range(degree + 1)]
    if signal_region is not None:
        columns.append(np.asarray(signal_region, dtype=np.float64))
    return np.column_stack(columns)


def _log_probabilities(theta, design):
    eta = theta @ design.T
    return eta - special.logsumexp(eta, axis=0, keepdims=True)


def fit_trend_model(table, design, *, max_iter: int = _MAX_ITER) -> TrendFit:
    """Fit ``log mu_ij = b_j + theta_i . x_j`` (``theta_0 = 0``) to a table by Newton's method.

    With the column effects ``b_j`` profiled out this is the multinomial logit of the row given
    the column (Agresti, Sec. 8.1 and 9.5); its log-likelihood is concave, so Newton steps with
    step halving converge to the unique maximum when it exists.

    The small linear systems are solved with one BLAS thread (:mod:`nhtad.utils.threads`).

    Parameters
    ----------
    table : array-like of shape (d_s, d_y)
        Non-negative counts, every column and row populated.
    design : array-like of shape (d_y, n_terms)
        Column covariates ``x_j`` (the first column constant), of full column rank.
    max_iter : int, default=100

    Returns
    -------
    TrendFit

    Raises
    ------
    ValueError
        If the design is rank-deficient or the fit does not converge (a table so sparse that
        some coefficient runs off to infinity).
    """
    with single_threaded_blas():
        return _fit_trend_model(table, design, max_iter)


def _fit_trend_model(table, design, max_iter):
    n = np.asarray(table, dtype=np.float64)
    x = np.asarray(design, dtype=np.float64)
    d_s, d_y = n.shape
    n_terms = x.shape[1]
    if x.shape[0] != d_y:
        raise ValueError(f"the design has {x.shape[0]} rows for {d_y} table columns.")
    if np.linalg.matrix_rank(x) < n_terms:
        raise ValueError(
            f"the trend model has {n_terms} terms per score bin but its {d_y} y bins cannot "
            "determine them all: use more y bins (a smaller rel_uncertainty or more events) or "
            "a lower degree."
        )
    columns = n.sum(axis=0)
    rows = n.sum(axis=1)
    if not (rows > 0).all() or not (columns > 0).all():
        raise ValueError(
            f"the table has {int((rows == 0).sum())} empty score bins and "
            f"{int((columns == 0).sum())} empty y bins; the trend model needs every bin populated."
        )
    m = d_s - 1
    theta = np.zeros((d_s, n_terms))
    # Start from independence: row shares as intercepts (x_j's first column is constant 1).
    theta[:, 0] = np.log(rows / rows[0]) / x[0, 0]
    log_p = _log_probabilities(theta, x)
    loglik = float((n * log_p).sum())
    outer = np.einsum("jk,jl->jkl", x, x).reshape(d_y, n_terms * n_terms)
    n_iter, decrement = 0, np.inf
    while True:
        n_iter += 1
        if n_iter > max_iter:
            raise ValueError(
                f"the smooth-trend fit did not converge in {max_iter} Newton iterations (Newton "
                f"decrement {decrement:.3g}): the table is too sparse for the model. Use coarser "
                "bins (a larger rel_uncertainty) or a lower degree."
            )
        p = np.exp(log_p)
        gradient = ((n - p * columns)[1:] @ x).ravel()
        weighted = columns * p[1:]  # (m, d_y)
        # Fisher information sum_j c_j (diag p_j - p_j p_j^T) (x) x_j x_j^T over rows 1..d_s-1.
        off = -np.einsum("aj,bj,jq->abq", weighted, p[1:], outer, optimize=True)
        diag = weighted @ outer
        off[np.arange(m), np.arange(m)] += diag
        info = (
            off.reshape(m, m, n_terms, n_terms)
            .transpose(0, 2, 1, 3)
            .reshape(m * n_terms, m * n_terms)
        )
        try:
            factor = linalg.cho_factor(info)
            step = linalg.cho_solve(factor, gradient)
        except linalg.LinAlgError:
            step = np.linalg.lstsq(info, gradient, rcond=None)[0]
        decrement = float(gradient @ step)
        if decrement < 1e-9:
            break
        step = step.reshape(m, n_terms)
        scale = 1.0
        while True:
            trial = theta.copy()
            trial[1:] += scale * step
            trial_log_p = _log_probabilities(trial, x)
            trial_loglik = float((n * trial_log_p).sum())
            if trial_loglik >= loglik - 1e-12 * abs(loglik) or scale < 1e-10:
                break
            scale *= 0.5
        theta, log_p, loglik = trial, trial_log_p, trial_loglik
    expected = np.exp(log_p) * columns
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > 0, n * np.log(n / expected), 0.0)
    g2 = max(2.0 * float(terms.sum()), 0.0)
    try:
        covariance = linalg.cho_solve(linalg.cho_factor(info), np.eye(m * n_terms))
    except linalg.LinAlgError:
        covariance = np.linalg.pinv(info)
    return TrendFit(
        coefficients=theta,
        expected=expected,
        g2=g2,
        covariance=covariance.reshape(m, n_terms, m, n_terms),
        n_iter=n_iter,
    )


def _signal_free_check(table, u, degree, in_sr=None, *, higher=True):
    """The degree-K trend model on a signal-free table: is a higher degree or an SR term needed?

    Returns the p-values of the likelihood ratios for one more degree (``K -> K+1``, chi^2 with
    ``d_s - 1`` dof, the Fisher-test practice of choosing a dijet function's number of
    parameters) and, with ``in_sr``, for the signal-region term (the spurious signal), and the
    goodness of fit of the degree-K model as a diagnostic. Score bins that the table leaves
    empty (a simulation that never reaches the data's top score bin) carry no information on
    the trend and are left out. Returns None when too few bins remain for a test.
    """
    rows = np.flatnonzero(table.sum(axis=1) > 0)
    sub = table[rows]
    d_s, d_y = sub.shape
    if d_s < 2 or d_y - 1 - degree < 1:
        return None
    fit = fit_trend_model(sub, trend_design(u, degree))
    out = {
        "gof_pvalue": float(np.exp(chi2_log_sf(fit.g2, (d_s - 1) * (d_y - 1 - degree)))),
        "rows": rows,
    }
    if higher and d_y - 2 - degree >= 1:
        up = fit_trend_model(sub, trend_design(u, degree + 1))
        out["higher_degree_pvalue"] = float(np.exp(chi2_log_sf(max(fit.g2 - up.g2, 0.0), d_s - 1)))
    if in_sr is not None and in_sr.any() and (~in_sr).sum() > degree + 1:
        sr_fit = fit_trend_model(sub, trend_design(u, degree, in_sr))
        lr = max(fit.g2 - sr_fit.g2, 0.0)
        sr_log_p = chi2_log_sf(lr, d_s - 1)
        out.update(
            signal_region_pvalue=float(np.exp(sr_log_p)),
            signal_region_log_pvalue=sr_log_p,
            signal_region_statistic=lr,
            signal_region_fit=sr_fit,
        )
    return out


def _check_degree(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value!r}.")
    return int(value)


def _bootstrap_batch(rng, n, expected, design, alternative_design):
    # Tables drawn from the fitted null (column totals fixed, each column multinomial), refitted
    # with the same design: the statistic's law under the fitted model, bins held fixed.
    columns = np.rint(expected.sum(axis=0)).astype(np.int64)
    shares = expected / expected.sum(axis=0, keepdims=True)
    out = np.empty(n)
    for k in range(n):
        table = np.stack([rng.multinomial(c, shares[:, j]) for j, c in enumerate(columns)], axis=1)
        null_fit = fit_trend_model(table, design)
        if alternative_design is None:
            out[k] = null_fit.g2
        else:
            out[k] = max(null_fit.g2 - fit_trend_model(table, alternative_design).g2, 0.0)
    return out


class SmoothTrendIndependenceTest(BaseTest):
    r"""Test that the score's distribution changes with m_jj only smoothly (no resonance).

    The null hypothesis is the Poisson log-linear model of the binned ``(s, y)`` table

    .. math:: \log \mu_{ij} = a_i + b_j + \sum_{k=1}^{K} c_{ik} P_k(u_j),

    each score bin's share drifting with m_jj as a degree-K Legendre polynomial of the y bin's
    position ``u_j`` (its mean y mapped to [-1, 1]), the m_jj spectrum ``b_j`` free. See the
    module docstring for the model and the references. A signal localised in m_jj changes the
    score distribution in a few y bins, which no low-degree polynomial follows.

    The null is honest only when the background's dependence lies inside the model; the degree
    must be high enough for the score at hand, which ``degree="auto"`` decides from
    signal-free information (the sidebands and the simulation), and low enough not to absorb a
    resonance as wide as the signal region (a quadratic over a window twice the signal region's
    width follows a central bump well).

    Parameters
    ----------
    rel_uncertainty : float, default=0.01
        Target relative Poisson uncertainty of every marginal bin of s and of y, in (0, 1)
        (as :class:`MutualInformationIndependenceTest`).
    y_bins : None, int, array-like or SignalRegion, default=None
        Binning of y (see :class:`MutualInformationIndependenceTest`). A
        :class:`~nhtad.datasets.SignalRegion` puts the region boundaries on bin edges and is
        required by ``alternative="signal_region"`` and by ``degree="auto"`` without a
        simulation.
    s_quantiles : array-like of float or "halving", default=None
        Cut the score at these quantiles of the data's scores (strictly increasing fractions
        in (0, 1)) instead of into equal-count bins under ``rel_uncertainty``. ``"halving"``:
        bins of 1/2, 1/4, 1/8, ... of the events down to a top bin of 100-200 events. A ladder
        that narrows towards high scores keeps a signal that sits in the score's tail (a
        classifier trained to find the signal region puts it there) in bins of its own, at a
        number of degrees of freedom that grows only like the logarithm of the sample size.
    degree : int or "auto", default="auto"
        Polynomial degree K of the trend. ``"auto"``: the smallest degree in
        ``[min_degree, max_degree]`` that the signal-free tables named by ``degree_from``
        accept at level ``selection_alpha``: neither one more degree (the likelihood ratio
        ``K -> K+1``, the Fisher-test rule of dijet fits) nor, for ``"signal_region"``, a
        signal-region term in the simulation (a spurious signal) improves their fit
        significantly. ``max_degree`` is accepted unless the simulation shows a spurious
        signal even there, which a warning reports. The goodness of fit of each degree is
        reported in ``degree_selection_`` but does not decide.
    degree_from : {"auto", "simulation", "sidebands", "both"}, default="auto"
        Which tables choose the degree. ``"simulation"``: the simulation's whole table passed
        through the same score (its goodness of fit and, for ``alternative="signal_region"``,
        its signal-region term, the spurious signal). ``"sidebands"``: the data's sideband
        columns (``y_bins`` a SignalRegion). ``"both"``: both must accept. ``"auto"``: the
        simulation when ``fit`` is given one, else the sidebands. The sidebands are signal-free
        only if the resonance is narrow: a signal's tails in the sidebands raise the degree
        there, and a degree-2 trend over a window twice the signal region's width absorbs a
        central resonance, so a signal can hide itself; the simulation cannot. It must only
        follow the *kind* of m_jj dependence the data have (linear, curved), not its size.
    alternative : {"any", "signal_region"}, default="any"
        ``"any"``: the G^2 goodness of fit of the trend model, chi^2 with
        ``(d_s - 1)(d_y - 1 - K)`` dof. ``"signal_region"``: the likelihood ratio for one extra
        term per score bin confined to the signal region, chi^2 with ``d_s - 1`` dof.
    min_degree, max_degree : int, default=0, 3
        Range searched by ``degree="auto"``.
    selection_alpha : float, default=0.05
        Level at which ``degree="auto"`` rejects a degree.
    method : {"asymptotic", "bootstrap"}, default="asymptotic"
        The chi^2 law above, or a parametric bootstrap from the fitted null model (tables
        drawn with the observed column totals and the fitted shares, refitted; the degree
        and the bins are held fixed). The chi^2 law is refused (ValueError) where the table
        cannot carry it: for ``"signal_region"`` when a score bin expects fewer than 25 events
        (``MIN_REGION_COUNT``) in the signal region or in the sidebands under the fitted null.
        For ``"any"`` the G^2 is divided by Williams' ``q = 1 + sum(1/mu) / (6 dof)``
        (Biometrika 63 (1976) 33, leading term; conservative), and tables whose shift exceeds
        0.5 null standard deviations (``MAX_WILLIAMS_SHIFT``) are refused.
    n_resamples : int, default=999
        Bootstrap tables for ``method="bootstrap"``.
    n_jobs : int, default=None
        Parallel workers for the bootstrap, through joblib.
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Seeds the bootstrap; the same value gives identical results for any ``n_jobs``.
    verbose : int, default=0
        Progress bar for the bootstrap when > 0.

    Attributes
    ----------
    statistic_ : float
        G^2 of the trend model (``"any"``) or ``G^2_K - G^2_{K+SR}`` (``"signal_region"``).
    pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`.
    degree_ : int
        The degree used.
    degree_selection_ : list of dict
        For ``degree="auto"``: per degree tried, the p-values of the checks on each
        signal-free table (``<table>_higher_degree_pvalue``,
        ``<table>_signal_region_pvalue``, ``<table>_gof_pvalue`` with ``<table>`` "sideband"
        or "simulation") and whether it was accepted.
    dof_ : int
    n_bins_ : tuple of int
        ``(d_s, d_y)``.
    s_edges_, y_edges_ : ndarray
    y_positions_ : ndarray of shape (d_y,)
        ``u_j``: mean y of every y bin mapped to [-1, 1].
    in_signal_region_ : ndarray of bool of shape (d_y,) or None
        Which y bins form the signal region (with a SignalRegion).
    contingency_ : ndarray of shape (d_s, d_y)
    expected_ : ndarray of shape (d_s, d_y)
        Fitted counts under the null (the trend model of degree ``degree_``).
    trend_ : ndarray of shape (d_s, d_y)
        Fitted share of every score bin in every y bin under the null (columns sum to 1):
        the smooth trend, to plot against ``contingency_ / contingency_.sum(axis=0)``.
    trend_coefficients_ : ndarray of shape (d_s, K + 1)
        Fitted ``(a_i, c_i1, ..., c_iK)`` (row 0 is the reference bin).
    signal_region_coefficients_, signal_region_errors_ : ndarray of shape (d_s,) or None
        For ``"signal_region"``: the fitted SR term ``d_i`` of every score bin (bin 0 is the
        reference) and its standard error; positive = more events in the SR than the trend.
    trend_significance_ : float
        Z of the fitted trend against none (degree 0), from the likelihood ratio with
        ``(d_s - 1) degree_`` dof: how strongly the data's score follows m_jj (0 at degree 0).
    simulation_contingency_ : ndarray or None
        The simulation's table in the data's bins.
    spurious_signal_ : dict or None
        For a simulation and ``"signal_region"``: the simulation's SR term at the chosen
        degree (``coefficients``, ``errors``, ``statistic``, ``significance``).

    Examples
    --------
    >>> import numpy as np
    >>> from nhtad.datasets import SignalRegion
    >>> rng = np.random.default_rng(0)
    >>> y = rng.uniform(3100, 3900, 100_000)
    >>> s = rng.normal(size=y.size) + 1e-3 * (y - 3500)   # a linear drift, no resonance
    >>> test = SmoothTrendIndependenceTest(
    ...     rel_uncertainty=0.02, y_bins=SignalRegion(), alternative="signal_region"
    ... ).fit(s, y)
    >>> test.degree_ >= 1, bool(test.pvalue_ > 1e-3)
    (True, True)
    """

    def __init__(
        self,
        rel_uncertainty=0.01,
        y_bins=None,
        s_quantiles=None,
        degree="auto",
        degree_from="auto",
        alternative="any",
        min_degree=0,
        max_degree=3,
        selection_alpha=0.05,
        method="asymptotic",
        n_resamples=999,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.rel_uncertainty = rel_uncertainty
        self.y_bins = y_bins
        self.s_quantiles = s_quantiles
        self.degree = degree
        self.degree_from = degree_from
        self.alternative = alternative
        self.min_degree = min_degree
        self.max_degree = max_degree
        self.selection_alpha = selection_alpha
        self.method = method
        self.n_resamples = n_resamples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _accepts_simulation(self) -> bool:
        return True

    # -- validation -------------------------------------------------------------------------
    def _check_params(self):
        rel = check_open_unit_interval(self.rel_uncertainty, "rel_uncertainty")
        check_null_method(self.method, _METHODS, self.n_resamples)
        if self.alternative not in _ALTERNATIVES:
            raise ValueError(
                f"alternative must be one of {_ALTERNATIVES}; got {self.alternative!r}."
            )
        region = self.y_bins if is_region(self.y_bins) else None
        if self.alternative == "signal_region" and region is None:
            raise ValueError(
                "alternative='signal_region' needs to know the signal region: pass "
                "y_bins=SignalRegion(low, high, window) (nhtad.datasets.SignalRegion)."
            )
        if isinstance(self.degree, str):
            if self.degree != "auto":
                raise ValueError(f"degree must be 'auto' or an integer >= 0; got {self.degree!r}.")
            low = _check_degree(self.min_degree, "min_degree")
            high = _check_degree(self.max_degree, "max_degree")
            if low > high:
                raise ValueError(f"min_degree ({low}) must not exceed max_degree ({high}).")
            check_open_unit_interval(self.selection_alpha, "selection_alpha")
            if self.degree_from not in _DEGREE_FROM:
                raise ValueError(
                    f"degree_from must be one of {_DEGREE_FROM}; got {self.degree_from!r}."
                )
            if self.degree_from in ("sidebands", "both") and region is None:
                raise ValueError(
                    f"degree_from={self.degree_from!r} needs the sidebands: pass "
                    "y_bins=SignalRegion(...)."
                )
        else:
            _check_degree(self.degree, "degree")
        return rel, region

    # -- fit --------------------------------------------------------------------------------
    def fit(self, s, y, *, s_simulation=None, y_simulation=None):
        """Run the test on scores ``s`` and resonant-variable values ``y``.

        Parameters
        ----------
        s : array-like of shape (n_events,)
            Anomaly score per event (out-of-fold for trained scores).
        y : array-like of shape (n_events,)
            Resonant variable per event (m_jj in GeV).
        s_simulation, y_simulation : array-like of shape (n_simulated,), default=None
            The same score on simulated background (out-of-fold), binned with the data's
            bins. Used only to choose the degree (``degree="auto"``) and to report the
            spurious signal; the test itself uses the data alone.

        Returns
        -------
        self
        """
        rel, region = self._check_params()
        s, y = check_paired_vectors(s, y)
        simulation = None
        if (s_simulation is None) != (y_simulation is None):
            raise ValueError("pass both s_simulation and y_simulation, or neither.")
        if s_simulation is not None:
            simulation = check_paired_vectors(
                s_simulation, y_simulation, s_name="s_simulation", y_name="y_simulation"
            )
        sources = ()
        if self.degree == "auto":
            sources = self._degree_sources(region is not None, simulation is not None)

        binned = score_mass_table(
            s,
            y,
            min_count=min_count_for(rel),
            rel_uncertainty=rel,
            y_bins=self.y_bins,
            s_quantiles=self.s_quantiles,
        )
        table = binned.table
        d_s, d_y = table.shape
        lo, hi = region.window if region is not None else (binned.y_edges[0], binned.y_edges[-1])
        u = 2.0 * (binned.y_means - lo) / (hi - lo) - 1.0
        in_sr = region.in_signal_region(binned.y_means) if region is not None else None
        if in_sr is not None and not (in_sr.any() and (~in_sr).any()):
            raise ValueError(
                f"the y bins of {region} must include signal-region and sideband bins."
            )
        sim_table = sim_u = None
        if simulation is not None:
            sim_table, sim_means = self._simulation_table(simulation, binned, region)
            sim_u = 2.0 * (sim_means - lo) / (hi - lo) - 1.0

        selection = []
        if self.degree == "auto":
            degree = self._select_degree(
                table,
                u,
                in_sr if "sidebands" in sources else None,
                sim_table if "simulation" in sources else None,
                sim_u,
                in_sr,
                selection,
            )
        else:
            degree = int(self.degree)
        if d_y - 1 - degree < 1:
            raise ValueError(
                f"degree {degree} leaves no degrees of freedom with {d_y} y bins: use more y bins "
                "(a smaller rel_uncertainty or more events) or a lower degree."
            )

        design = trend_design(u, degree)
        null_fit = fit_trend_model(table, design)
        # How strongly the data's score follows m_jj: the trend against no trend at all.
        trend_z = 0.0
        if degree > 0:
            flat = fit_trend_model(table, trend_design(u, 0))
            trend_z = log_pvalue_to_significance(
                chi2_log_sf(max(flat.g2 - null_fit.g2, 0.0), (d_s - 1) * degree)
            )
        sr_design = sr_fit = None
        if self.alternative == "signal_region":
            sr_design = trend_design(u, degree, in_sr)
            sr_fit = fit_trend_model(table, sr_design)
            statistic = max(null_fit.g2 - sr_fit.g2, 0.0)
            dof = d_s - 1
        else:
            statistic = null_fit.g2
            dof = (d_s - 1) * (d_y - 1 - degree)
        williams_q = 1.0
        if self.method == "asymptotic":
            williams_q = self._check_asymptotic(null_fit.expected, in_sr, dof)

        null = None
        if self.method == "bootstrap":
            null = resample_null(
                _bootstrap_batch,
                self.n_resamples,
                args=(null_fit.expected, design, sr_design),
                batch_size=25,
                random_state=self.random_state,
                n_jobs=self.n_jobs,
                verbose=self.verbose,
                desc="smooth-trend bootstrap",
            )
            log_p, kind = empirical_log_pvalue(null, statistic), RESAMPLED
        else:
            log_p, kind = chi2_log_sf(statistic / williams_q, dof), ASYMPTOTIC

        spurious = None
        if sim_table is not None and sr_design is not None:
            spurious = self._spurious_signal(sim_table, sim_u, degree, in_sr)

        self.degree_ = degree
        self.degree_selection_ = selection
        self.dof_ = int(dof)
        self.n_bins_ = (d_s, d_y)
        self.s_edges_ = binned.s_edges
        self.y_edges_ = binned.y_edges
        self.y_positions_ = u
        self.in_signal_region_ = in_sr
        self.contingency_ = table
        self.expected_ = null_fit.expected
        self.trend_ = null_fit.expected / null_fit.expected.sum(axis=0, keepdims=True)
        self.trend_coefficients_ = null_fit.coefficients
        self.simulation_contingency_ = sim_table
        self.spurious_signal_ = spurious
        self.trend_significance_ = trend_z
        if sr_fit is not None:
            self.signal_region_coefficients_ = sr_fit.coefficients[:, -1]
            errors = np.sqrt(np.diagonal(sr_fit.covariance[:, -1, :, -1]))
            self.signal_region_errors_ = np.concatenate(([0.0], errors))
        else:
            self.signal_region_coefficients_ = self.signal_region_errors_ = None
        details = {
            "n_bins": (d_s, d_y),
            "dof": int(dof),
            "degree": degree,
            "degree_rule": "auto" if self.degree == "auto" else "fixed",
            "degree_selection": tuple(selection),
            "alternative": self.alternative,
            "null": self.method,
            "g2_trend": null_fit.g2,
            "g2_trend_dof": (d_s - 1) * (d_y - 1 - degree),
            "trend_significance": trend_z,
            "williams_q": williams_q,
            "s_edges": binned.s_edges,
            "y_edges": binned.y_edges,
            "y_counts": binned.y_counts,
            "contingency": table,
        }
        if sr_fit is not None:
            details["g2_with_signal_region"] = sr_fit.g2
        if spurious is not None:
            details["spurious_signal_significance"] = spurious["significance"]
        return self._set_result(
            statistic,
            log_p,
            method=kind,
            n_events=s.size,
            null_distribution=null,
            details=details,
        )

    # -- helpers ----------------------------------------------------------------------------
    def _check_asymptotic(self, expected, in_sr, dof):
        """Refuse tables that cannot carry the chi^2 law; return Williams' q for ``"any"``."""
        fix = (
            "Use coarser bins (a smaller rel_uncertainty, fewer s_quantiles), more events, or "
            "method='bootstrap'."
        )
        if self.alternative == "signal_region":
            # The signal-region term of a score bin rests on its signal-region and sideband
            # totals. Their *expected* counts under the null decide: a strong signal that
            # crowds the background out of a top bin must not make the test refuse.
            totals = np.stack([expected[:, in_sr].sum(axis=1), expected[:, ~in_sr].sum(axis=1)])
            short = np.flatnonzero(totals.min(axis=0) < MIN_REGION_COUNT)
            if short.size:
                i = short[-1]
                raise ValueError(
                    f"score bin {i} expects {totals[0, i]:.1f} events in the signal region and "
                    f"{totals[1, i]:.1f} in the sidebands; the chi^2 law of the signal-region "
                    f"term needs at least {MIN_REGION_COUNT} in each. {fix}"
                )
            return 1.0
        # Williams' leading-order correction of the mean of G^2 (Biometrika 63 (1976) 33):
        # E[G^2] = dof (1 + sum(1/mu) / (6 dof) + ...), the omitted margin terms negative, so
        # dividing by q errs on the conservative side.
        shift = float(np.sum(1.0 / expected)) / 6.0
        if shift / np.sqrt(2.0 * dof) > MAX_WILLIAMS_SHIFT:
            raise ValueError(
                f"the chi^2 law of the trend model's G^2 is not justified for this "
                f"{expected.shape[0]} x {expected.shape[1]} table even with Williams' correction: "
                f"its fitted counts are too small (smallest {expected.min():.3g}). {fix}"
            )
        return 1.0 + shift / dof

    def _simulation_table(self, simulation, binned, region):
        s_sim, y_sim = simulation
        d_s, d_y = binned.table.shape
        # The data's outermost score bins extend to +-inf for the simulation: its scores may
        # reach beyond the data's range, and they belong to the end bins.
        s_index = assign_bins(np.clip(s_sim, binned.s_edges[0], binned.s_edges[-1]), binned.s_edges)
        if region is not None:
            outside = ~region.in_window(y_sim)
            if outside.any():
                raise ValueError(
                    f"{int(outside.sum())} of {y_sim.size} simulated events lie outside the window "
                    f"of {region}; keep only events with region.in_window(mjj)."
                )
            y_edges = binned.y_edges
        else:
            y_edges = binned.y_edges.copy()
            y_edges[0] = min(y_edges[0], y_sim.min())
            y_edges[-1] = max(y_edges[-1], y_sim.max())
        y_index = assign_bins(y_sim, y_edges)
        cells = s_index.astype(np.int64) * d_y + y_index
        table = np.bincount(cells, minlength=d_s * d_y).reshape(d_s, d_y)
        y_counts = np.bincount(y_index, minlength=d_y)
        empty_cols = np.flatnonzero(y_counts == 0)
        if empty_cols.size:
            raise ValueError(
                f"the simulation leaves {empty_cols.size} of the data's y bins empty: give a "
                "larger simulated sample or coarser bins."
            )
        # The simulation's own mean m_jj per bin: its spectrum may differ from the data's.
        y_means = np.bincount(y_index, weights=y_sim, minlength=d_y) / y_counts
        return table, y_means

    def _degree_sources(self, have_region, have_simulation):
        wanted = self.degree_from
        if wanted == "auto":
            wanted = "simulation" if have_simulation else "sidebands"
        sources = ("sidebands", "simulation") if wanted == "both" else (wanted,)
        if "simulation" in sources and not have_simulation:
            raise ValueError(
                f"degree='auto' with degree_from={self.degree_from!r} needs the simulation: "
                "pass fit(..., s_simulation=, y_simulation=), or give an integer degree."
            )
        if "sidebands" in sources and not have_region:
            raise ValueError(
                "degree='auto' chooses the degree from signal-free tables: pass y_bins="
                "SignalRegion(...) (its sidebands) and/or fit(..., s_simulation=, y_simulation=), "
                "or give an integer degree."
            )
        return sources

    def _select_degree(self, table, u, sideband_sr, sim_table, sim_u, in_sr, selection):
        alpha = float(self.selection_alpha)
        top = int(self.max_degree)
        sr_for_sim = in_sr if self.alternative == "signal_region" else None
        for degree in range(int(self.min_degree), top + 1):
            row = {"degree": degree}
            sources = []
            if sideband_sr is not None:
                side = ~sideband_sr
                sources.append(
                    (
                        "sideband",
                        _signal_free_check(table[:, side], u[side], degree, higher=degree < top),
                    )
                )
            if sim_table is not None:
                sources.append(
                    (
                        "simulation",
                        _signal_free_check(
                            sim_table, sim_u, degree, sr_for_sim, higher=degree < top
                        ),
                    )
                )
            deciding = []
            for name, checked in sources:
                if checked is None:
                    continue
                row[f"{name}_gof_pvalue"] = checked["gof_pvalue"]
                for key in ("higher_degree_pvalue", "signal_region_pvalue"):
                    if key in checked:
                        row[f"{name}_{key}"] = checked[key]
                        deciding.append(checked[key])
            # A degree stands when neither one more degree nor a signal-region term improves the
            # signal-free fits significantly; the global goodness of fit is reported only, as
            # its failures (noise, a binning effect) do not depend on the degree.
            row["accepted"] = min(deciding, default=1.0) >= alpha
            selection.append(row)
            if row["accepted"]:
                return degree
        warnings.warn(
            f"no trend degree in [{self.min_degree}, {top}] describes the signal-free tables at "
            f"level {alpha:g}: the simulation shows a signal-region term (a spurious signal) "
            f"even at degree {top} ({selection[-1]}). The background's m_jj dependence may lie "
            "outside the model: narrow the window, or check the score and the simulation.",
            UserWarning,
            stacklevel=3,
        )
        return top

    @staticmethod
    def _spurious_signal(sim_table, sim_u, degree, in_sr):
        checked = _signal_free_check(sim_table, sim_u, degree, in_sr)
        if checked is None or "signal_region_fit" not in checked:
            return None
        fit, rows = checked["signal_region_fit"], checked["rows"]
        coefficients = np.full(sim_table.shape[0], np.nan)
        errors = np.full(sim_table.shape[0], np.nan)
        coefficients[rows] = fit.coefficients[:, -1]
        errors[rows] = np.concatenate(([0.0], np.sqrt(np.diagonal(fit.covariance[:, -1, :, -1]))))
        return {
            "coefficients": coefficients,
            "errors": errors,
            "statistic": checked["signal_region_statistic"],
            "significance": log_pvalue_to_significance(checked["signal_region_log_pvalue"]),
        }
