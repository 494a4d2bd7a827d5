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
given the y bin (the two have the same maximum-likelihood ``mu`` and G^2), fitted by Newton's
method with a line search (:mod:`._trend_model`).

The null is honest when the background's m_jj dependence lies inside the model. The degree is
therefore chosen from what carries no signal: the smallest ``K`` that the sideband columns of
the data and, when given, the simulation's whole table (passed through the same score) accept.
The simulation's own signal-region term is the "spurious signal" of resonance searches (ATLAS,
Phys. Rev. D 90 (2014) 112015, Sec. 6): a signal-free sample in which the smooth model must not
find one (:mod:`._trend_degree`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ._table_tests import BinnedTableTest
from ._trend_degree import check_degree_settings, degree_sources, select_degree, spurious_signal
from ._trend_model import TrendFit, bootstrap_batch, fit_trend_model, trend_design, trend_statistic
from ._williams import williams_leading_term
from .base import ASYMPTOTIC, RESAMPLED
from .binning import min_count_for
from .contingency import ScoreMassTable, is_region, score_mass_table, simulation_table
from .pvalues import chi2_log_sf, empirical_log_pvalue

__all__ = [
    "SmoothTrendIndependenceTest",
    "TrendFit",
    "fit_trend_model",
    "trend_design",
]

logger = logging.getLogger(__name__)

_ALTERNATIVES = ("any", "signal_region")

#: Fewest events every score bin must expect (under the fitted null) in the signal region and in
#: the sidebands for the chi^2 law of the signal-region likelihood ratio
#: (``method="asymptotic"``). The default halving ladder's top bin expects about 40-80 in the
#: signal region of a 3.1-3.9 TeV window.
MIN_REGION_COUNT = 25
#: Largest small-count shift of G^2 (Williams' leading term, in null standard deviations) that
#: the corrected chi^2 law of ``alternative="any"`` accepts.
MAX_WILLIAMS_SHIFT = 0.5


@dataclass(frozen=True, eq=False)
class _Tables:
    """The data's binned table and what the fit needs of it, with the simulation's."""

    binned: ScoreMassTable
    u: np.ndarray  # y positions in [-1, 1]
    in_sr: np.ndarray | None  # signal-region y bins (with a SignalRegion)
    sim_table: np.ndarray | None
    sim_u: np.ndarray | None


class SmoothTrendIndependenceTest(BinnedTableTest):
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

    _METHODS = ("asymptotic", "bootstrap")

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
        rel = self._check_rel_and_method()
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
        check_degree_settings(
            self.degree,
            self.min_degree,
            self.max_degree,
            self.selection_alpha,
            self.degree_from,
            have_region=region is not None,
        )
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
        s, y, simulation = self._check_inputs(s, y, s_simulation, y_simulation)
        sources = ()
        if self.degree == "auto":
            sources = degree_sources(self.degree_from, region is not None, simulation is not None)
        tables = self._tables(s, y, simulation, region, rel)
        d_y = tables.binned.shape[1]
        selection = []
        if self.degree == "auto":
            degree, selection = self._select_degree(tables, sources)
        else:
            degree = int(self.degree)
        if d_y - 1 - degree < 1:
            raise ValueError(
                f"degree {degree} leaves no degrees of freedom with {d_y} y bins: use more y bins "
                "(a smaller rel_uncertainty or more events) or a lower degree."
            )
        fitted = trend_statistic(
            tables.binned.table, tables.u, degree, tables.in_sr, self.alternative
        )
        williams_q, null = 1.0, None
        if self.method == "bootstrap":
            null = self._resample_null(
                bootstrap_batch,
                (fitted.null_fit.expected, fitted.null_design, fitted.sr_design),
                batch_size=25,
                desc="smooth-trend bootstrap",
            )
            log_p, kind = empirical_log_pvalue(null, fitted.statistic), RESAMPLED
        else:
            williams_q = self._check_asymptotic(fitted.null_fit.expected, tables.in_sr, fitted.dof)
            log_p, kind = chi2_log_sf(fitted.statistic / williams_q, fitted.dof), ASYMPTOTIC
        spurious = None
        if tables.sim_table is not None and fitted.sr_design is not None:
            spurious = spurious_signal(tables.sim_table, tables.sim_u, degree, tables.in_sr)
        details = self._set_fitted(tables, fitted, degree, selection, spurious, williams_q)
        return self._set_result(
            fitted.statistic,
            log_p,
            method=kind,
            n_events=s.size,
            null_distribution=null,
            details=details,
        )

    # -- the steps of fit -------------------------------------------------------------------
    def _tables(self, s, y, simulation, region, rel) -> _Tables:
        """Bin the data (and the simulation in the data's bins); place the y bins in [-1, 1]."""
        binned = score_mass_table(
            s,
            y,
            min_count=min_count_for(rel),
            rel_uncertainty=rel,
            y_bins=self.y_bins,
            s_quantiles=self.s_quantiles,
        )
        lo, hi = region.window if region is not None else (binned.y_edges[0], binned.y_edges[-1])
        u = 2.0 * (binned.y_means - lo) / (hi - lo) - 1.0
        in_sr = region.in_signal_region(binned.y_means) if region is not None else None
        if in_sr is not None and not (in_sr.any() and (~in_sr).any()):
            raise ValueError(
                f"the y bins of {region} must include signal-region and sideband bins."
            )
        sim_table = sim_u = None
        if simulation is not None:
            sim_table, sim_means = simulation_table(binned, *simulation, region)
            sim_u = 2.0 * (sim_means - lo) / (hi - lo) - 1.0
        return _Tables(binned, u, in_sr, sim_table, sim_u)

    def _select_degree(self, tables, sources):
        return select_degree(
            tables.binned.table,
            tables.u,
            tables.in_sr if "sidebands" in sources else None,
            tables.sim_table if "simulation" in sources else None,
            tables.sim_u,
            tables.in_sr if self.alternative == "signal_region" else None,
            min_degree=int(self.min_degree),
            max_degree=int(self.max_degree),
            alpha=float(self.selection_alpha),
        )

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
        # Williams' leading-order correction of the mean of G^2; the omitted margin terms are
        # negative, so dividing by q errs on the conservative side.
        q, shift = williams_leading_term(expected, dof)
        if shift > MAX_WILLIAMS_SHIFT:
            raise ValueError(
                f"the chi^2 law of the trend model's G^2 is not justified for this "
                f"{expected.shape[0]} x {expected.shape[1]} table even with Williams' correction: "
                f"its fitted counts are too small (smallest {expected.min():.3g}). {fix}"
            )
        return q

    def _set_fitted(self, tables, fitted, degree, selection, spurious, williams_q) -> dict:
        """Set the fitted attributes; return the result's details."""
        binned, table = tables.binned, tables.binned.table
        d_s, d_y = table.shape
        null_fit, sr_fit = fitted.null_fit, fitted.sr_fit
        self._set_table(binned, table, fitted.dof)
        self.degree_ = degree
        self.degree_selection_ = selection
        self.y_positions_ = tables.u
        self.in_signal_region_ = tables.in_sr
        self.expected_ = null_fit.expected
        self.trend_ = null_fit.expected / null_fit.expected.sum(axis=0, keepdims=True)
        self.trend_coefficients_ = null_fit.coefficients
        self.simulation_contingency_ = tables.sim_table
        self.spurious_signal_ = spurious
        self.trend_significance_ = fitted.trend_z
        self.signal_region_coefficients_ = self.signal_region_errors_ = None
        if sr_fit is not None:
            self.signal_region_coefficients_, self.signal_region_errors_ = sr_fit.last_term()
        details = {
            "n_bins": (d_s, d_y),
            "dof": int(fitted.dof),
            "degree": degree,
            "degree_rule": "auto" if self.degree == "auto" else "fixed",
            "degree_selection": tuple(selection),
            "alternative": self.alternative,
            "null": self.method,
            "g2_trend": null_fit.g2,
            "g2_trend_dof": (d_s - 1) * (d_y - 1 - degree),
            "trend_significance": fitted.trend_z,
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
        return details
