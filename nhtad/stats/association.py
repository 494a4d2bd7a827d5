"""Simulation-referenced test: is the score/mass association the same in data and simulation?

A score trained on data (SA-CWoLa) is a function of features whose distribution depends on the
resonant mass ``y = m_jj``, so ``s`` and ``y`` are associated even in pure background and the
plain independence test rejects at large N. Simulated background passed through the same score
carries the same association. This module tests whether the ``s``-``y`` association is
*homogeneous* across the two samples: the log-linear model without three-way interaction of
the ``2 x d_s x d_y`` table (sample ``g``, score bin ``i``, mass bin ``j``),

.. math:: \\log \\mu_{gij} = \\lambda + a_{gi} + b_{gj} + c_{ij},

which lets data and simulation differ in their score marginal, their mass spectrum and in how
those two differ jointly, but not in the conditional odds ratios of ``s`` and ``y``. A signal
localised in ``y`` adds a data-only ``s``-``y`` association and shows up as a three-way
interaction. (Agresti, *Categorical Data Analysis*, 3rd ed., Sec. 9.2-9.4; Bishop, Fienberg &
Holland, *Discrete Multivariate Analysis*, Ch. 3.)
"""

from __future__ import annotations

import logging
import math

import numpy as np

from ..utils.validation import check_open_unit_interval, check_paired_vectors
from .base import ASYMPTOTIC, RESAMPLED, BaseTest
from .binning import min_count_for
from .contingency import is_region, score_mass_table
from .pvalues import chi2_log_sf, empirical_log_pvalue
from .resampling import check_null_method, resample_null

__all__ = [
    "HomogeneousAssociationTest",
    "fit_no_three_way",
    "g_squared",
    "g_squared_bias",
    "MAX_G2_BIAS",
]

logger = logging.getLogger(__name__)

_METHODS = ("asymptotic", "bootstrap", "permutation")

#: Largest estimated small-count bias of G^2, in units of its null standard deviation, for
#: which ``method="asymptotic"`` uses the chi-square law (see :func:`g_squared_bias`); larger
#: values are refused. Chosen from Type-I measurements on null tables (docs/statistics.md).
MAX_G2_BIAS = 0.05

# Iterative proportional fitting stops when every fitted two-way margin matches the observed one
# to this relative precision. G^2 is stationary at the maximum-likelihood fit, so its error is
# of second order in this tolerance.
_IPF_TOL = 1e-10
_IPF_MAX_ITER = 10_000


def _scale(observed, fitted):
    # Margin ratio with 0/0 -> 0: a zero fitted margin only holds cells that are zero already.
    return np.divide(observed, fitted, out=np.zeros_like(fitted), where=fitted > 0)


def _margin_error(mu, gs, gy):
    # Relative mismatch of the (g, s) and (g, y) margins; the (s, y) margin is exact after the
    # last step of a cycle. max(observed, 1) keeps near-empty margins on an absolute scale.
    err_s = np.abs(mu.sum(axis=-1) - gs) / np.maximum(gs, 1.0)
    err_y = np.abs(mu.sum(axis=-2) - gy) / np.maximum(gy, 1.0)
    return np.maximum(err_s.max(axis=(-2, -1)), err_y.max(axis=(-2, -1)))


def fit_no_three_way(tables, *, tol=_IPF_TOL, max_iter=_IPF_MAX_ITER):
    """Maximum-likelihood fit of the no-three-way-interaction model by iterative proportional
    fitting.

    The model ``log mu_gij = lambda + a_gi + b_gj + c_ij`` ([gs][gy][sy]) has as sufficient
    statistics the three two-way margins of the table, so its maximum-likelihood fit (Poisson or
    multinomial sampling alike) is the table of that form whose two-way margins equal the
    observed ones (Birch's theorem). Iterative proportional fitting (Deming & Stephan 1940;
    Bishop, Fienberg & Holland Sec. 3.5) scales a start table of the model's form to each
    observed margin in turn; every step stays in the model and increases the likelihood.

    Parameters
    ----------
    tables : array-like of shape (..., K, d_s, d_y)
        Counts; leading axes are a batch of tables, ``K`` the samples (2: data, simulation).
    tol : float, default=1e-10
        Largest relative mismatch ``|fitted - observed| / max(observed, 1)`` allowed in any
        two-way margin at convergence.
    max_iter : int, default=10000
        Most IPF cycles (one cycle scales to all three margins).

    Returns
    -------
    expected : ndarray of the shape of ``tables``
        Fitted expected counts.
    n_iter : ndarray of int of shape (...)
        Cycles each table needed (``max_iter`` where it did not converge).
    converged : ndarray of bool of shape (...)
        Whether each table met ``tol``. Where the maximum-likelihood estimate lies on the
        boundary (some fitted counts tend to 0 without a zero margin forcing them), IPF converges
        only sublinearly; the likelihood still increases at every cycle, so an unconverged G^2
        is an upper bound of its limit.
    """
    n = np.asarray(tables, dtype=np.float64)
    if n.ndim < 3:
        raise ValueError(f"tables must have shape (..., K, d_s, d_y); got shape {n.shape}.")
    batch_shape = n.shape[:-3]
    n = n.reshape(-1, *n.shape[-3:])
    gs, gy, sy = n.sum(axis=-1), n.sum(axis=-2), n.sum(axis=-3)
    # The (s, y) step applied to a flat start: already of the model's form.
    mu = np.repeat((sy / n.shape[1])[:, None], n.shape[1], axis=1)
    n_iter = np.full(n.shape[0], max_iter, dtype=np.int64)
    converged = np.zeros(n.shape[0], dtype=bool)
    active = np.arange(n.shape[0])
    for it in range(1, max_iter + 1):
        m, a_gs, a_gy = mu[active], gs[active], gy[active]
        m *= _scale(a_gs, m.sum(axis=-1))[..., None]
        m *= _scale(a_gy, m.sum(axis=-2))[..., None, :]
        m *= _scale(sy[active], m.sum(axis=-3))[:, None]
        mu[active] = m
        done = _margin_error(m, a_gs, a_gy) <= tol
        n_iter[active[done]] = it
        converged[active[done]] = True
        active = active[~done]
        if active.size == 0:
            break
    return (
        mu.reshape(*batch_shape, *mu.shape[1:]),
        n_iter.reshape(batch_shape),
        converged.reshape(batch_shape),
    )


def g_squared(tables, expected):
    """Likelihood-ratio statistic ``G^2 = 2 sum n log(n / mu)`` of tables and their fits.

    Computed as the Poisson deviance ``2 sum [n log(n/mu) - n + mu]``, whose terms are all
    >= 0 (no cancellation between cells); it equals ``G^2`` because the fit reproduces every
    sample's total. Empty cells contribute ``mu`` (``0 log 0 = 0``).

    Parameters
    ----------
    tables, expected : array-like of shape (..., K, d_s, d_y)

    Returns
    -------
    float or ndarray of shape (...)
    """
    n = np.asarray(tables, dtype=np.float64)
    mu = np.asarray(expected, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > 0, n * np.log(n / mu), 0.0) - n + mu
    g2 = 2.0 * np.maximum(terms, 0.0).sum(axis=(-3, -2, -1))
    return float(g2) if g2.ndim == 0 else g2


def g_squared_bias(expected, dof):
    """Estimated small-count bias of ``G^2`` in units of its null standard deviation.

    Williams (Biometrika 63 (1976) 33) expanded the mean of the likelihood-ratio statistic:
    ``E[G^2] = dof + (1/6) sum 1/mu + ...``, the dots being terms of the fitted margins, of
    opposite sign and an order smaller. The leading term over the null standard deviation
    ``sqrt(2 dof)`` of the chi-square law,

    .. math:: b = \\frac{\\sum_{gij} 1/\\hat\\mu_{gij}}{6 \\sqrt{2\\,\\mathrm{dof}}},

    measures how far sparse cells push ``G^2`` above the law: unlike a minimum count or a
    fraction of cells below 5 it accounts for the number of cells, which matters because the
    bias adds up over cells while the null spread grows only like ``sqrt(dof)``. Omitting the
    margin terms, of opposite sign, makes ``b`` lean towards overestimating. A zero expected count
    (an empty margin or (s, y) cell, where the dof of the chi-square law would be wrong) gives
    ``inf``.

    The threshold :data:`MAX_G2_BIAS` and the Type-I measurements behind it are in
    docs/statistics.md.

    Parameters
    ----------
    expected : array-like of shape (K, d_s, d_y)
        Fitted expected counts.
    dof : int
        Degrees of freedom of the chi-square law.

    Returns
    -------
    float
    """
    mu = np.asarray(expected, dtype=np.float64)
    if (mu <= 0).any():
        return math.inf
    return float(np.sum(1.0 / mu) / (6.0 * math.sqrt(2.0 * dof)))


def _g_squared_of(tables):
    # Null statistics of a batch of resampled tables. A toy whose fit has not converged keeps
    # a G^2 above its limit (IPF raises the likelihood every cycle): conservative.
    expected, _, converged = fit_no_three_way(tables)
    if not converged.all():
        logger.debug(
            "%d of %d resampled tables did not converge in IPF", (~converged).sum(), converged.size
        )
    return g_squared(tables, expected)


def _bootstrap_batch(rng, n, probabilities, totals, shape):
    # Parametric bootstrap from the fitted [gs][gy][sy] model with every sample's size fixed
    # (multinomial per sample): toys obey the test's own null, which lets the marginals differ.
    toys = rng.multinomial(totals, probabilities, size=(n, totals.size))
    return _g_squared_of(toys.reshape(n, *shape))


def _relabel_batch(rng, n, pooled, n_data, shape):
    # Relabelling which pooled events are data: the data table is multivariate hypergeometric
    # given the pooled cell counts (as in mutual_info._relabel_batch).
    data = rng.multivariate_hypergeometric(pooled, n_data, size=n, method="marginals")
    toys = np.stack([data, pooled - data], axis=1)
    return _g_squared_of(toys.reshape(n, *shape))


class HomogeneousAssociationTest(BaseTest):
    """Test that the score/mass association is the same in data and in simulated background.

    Data ``(s, y)`` and simulation ``(s_simulation, y_simulation)`` -- the same score evaluated
    on held-out simulated background -- are binned together (equal-count bins of the pooled
    sample) into a ``2 x d_s x d_y`` table ``n_gij``. The null hypothesis is the log-linear model
    without three-way interaction ([gs][gy][sy]; Agresti, *Categorical Data Analysis*, 3rd ed.,
    Sec. 9.2-9.4; Bishop, Fienberg & Holland, *Discrete Multivariate Analysis*, Ch. 3):

    .. math:: \\log \\mu_{gij} = \\lambda + a_{gi} + b_{gj} + c_{ij},

    i.e. every odds ratio of the ``s``-``y`` table is the same in both samples, while data and
    simulation may differ in their score distribution, their ``m_jj`` spectrum and jointly in
    both. It is fitted by iterative proportional fitting, and the statistic is

    .. math:: G^2 = 2 \\sum_{gij} n_{gij} \\log(n_{gij} / \\hat\\mu_{gij}),

    asymptotically chi-square with ``(d_s - 1)(d_y - 1)`` degrees of freedom under the null
    (``0 log 0 = 0``). A signal localised in ``y`` at high ``s`` adds an association that only
    the data have, so ``G^2`` grows. p and Z are computed in log space, finite deep in the tail.

    **Assumption.** The p-value is honest only if the simulation reproduces the background's
    ``s``-``y`` association, that is, the ``m_jj`` dependence of every feature the score uses.
    The test does not need the simulation to match the data's ``m_jj`` spectrum or score
    distribution, but a simulation whose jet-mass-vs-``m_jj`` slope differs from the data's
    fakes a signal: a realistic data/simulation pair with jet masses a few percent apart gave a
    false Z = 5.6. Check the simulation's feature/``m_jj`` correlations (e.g. in a control
    region or with a score not trained on the data) before reading Z as evidence.

    The null is a statement about the *binned* table. Within a ``y`` bin, data and simulation
    with different ``m_jj`` spectra average the score's ``m_jj`` dependence with different
    weights, a three-way interaction that grows with the number of events; it stays negligible
    for narrow bins inside an analysis window, but not for an open-ended tail bin of a falling
    spectrum. Keep ``y`` inside a window (``y_bins=SignalRegion(...)`` or explicit edges).

    Parameters
    ----------
    rel_uncertainty : float, default=0.01
        Target relative Poisson uncertainty of every marginal bin, in (0, 1), applied to the
        *smaller* sample: the pooled bins hold at least
        ``(n_data + n_simulation) / min(n_data, n_simulation) / rel_uncertainty**2`` events.
    y_bins : None, int, array-like or SignalRegion, default=None
        Binning of ``y`` on the pooled sample, as in
        :class:`~nhtad.stats.MutualInformationIndependenceTest`: ``None`` equal-count bins under
        the same rule as ``s``; int that many equal-count bins; array-like the exact edges; a
        :class:`~nhtad.datasets.SignalRegion` equal-count bins within each sideband and the
        signal region (every event of both samples must lie in its window).
    method : {"asymptotic", "bootstrap", "permutation"}, default="asymptotic"
        Null distribution of ``G^2``:

        - ``"asymptotic"``: chi-square with ``(d_s - 1)(d_y - 1)`` dof. Refused (ValueError)
          where the fitted expected counts are too small for the law: when the estimated
          small-count bias of ``G^2`` (:func:`g_squared_bias`) exceeds ``MAX_G2_BIAS`` null
          standard deviations, or an expected count is 0.
        - ``"bootstrap"``: parametric bootstrap from the fitted no-three-way model, each sample
          multinomial with its own size and fitted cell probabilities, refitted every toy.
          Valid under the test's own null (marginals may differ), also for sparse tables.
        - ``"permutation"``: random relabelling of which pooled events are data (multivariate
          hypergeometric per cell, bins fixed). **Valid only under full exchangeability**, i.e.
          data and simulation identical in law; with different ``m_jj`` spectra or score
          marginals -- which the null of this test allows -- its null distribution is not
          that of ``G^2`` and its p-value is not calibrated. Use it only when the two samples
          are meant to be identically distributed.
    n_resamples : int, default=9999
        Number of resamples for the resampled methods.
    n_jobs : int, default=None
        Parallel workers for resampling, through joblib.
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Seeds the resamples. The same value gives identical results for any ``n_jobs``.
    verbose : int, default=0
        Progress bar for resampling when > 0.

    Attributes
    ----------
    statistic_ : float
        ``G^2``.
    pvalue_, log_pvalue_, significance_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`.
    n_events_ : int
        Number of data events.
    n_bins_ : tuple of int
        ``(d_s, d_y)``.
    dof_ : int
        ``(d_s - 1)(d_y - 1)``.
    s_edges_, y_edges_ : ndarray
        Bin edges of ``s`` and ``y`` (from the pooled sample).
    contingency_ : ndarray of int of shape (2, d_s, d_y)
        Counts; ``[0]`` data, ``[1]`` simulation.
    expected_ : ndarray of shape (2, d_s, d_y)
        Fitted counts under the no-three-way model.
    pearson_residuals_ : ndarray of shape (d_s, d_y)
        ``(n - mu) / sqrt(mu)`` of the data table (0 where ``mu = 0``): where the data's
        association departs from the simulation's.
    min_expected_ : float
        Smallest fitted expected count.
    g2_bias_ : float
        Estimated small-count bias of ``G^2`` in null standard deviations
        (:func:`g_squared_bias`), the quantity the asymptotic method checks.
    n_iter_ : int
        IPF cycles of the fit.
    min_bin_count_ : int
        Fewest pooled events a marginal bin had to hold.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> def background(n, spectrum):  # the score follows m_jj as a trained score would
    ...     y = 3100.0 + 800.0 * rng.beta(1.0, spectrum, n)
    ...     return rng.normal(1e-3 * y, 1.0), y
    >>> s, y = background(40_000, 3.0)
    >>> s_sim, y_sim = background(60_000, 2.0)  # another m_jj spectrum, same association
    >>> test = HomogeneousAssociationTest(rel_uncertainty=0.02)
    >>> test = test.fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
    >>> test.n_bins_, test.dof_
    ((16, 16), 225)
    >>> bool(0 < test.pvalue_ < 1)
    True
    """

    def __init__(
        self,
        rel_uncertainty=0.01,
        y_bins=None,
        method="asymptotic",
        n_resamples=9999,
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.rel_uncertainty = rel_uncertainty
        self.y_bins = y_bins
        self.method = method
        self.n_resamples = n_resamples
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    def _accepts_simulation(self) -> bool:
        return True

    def fit(self, s, y, *, s_simulation=None, y_simulation=None):
        """Run the test on data ``(s, y)`` against simulation ``(s_simulation, y_simulation)``.

        Parameters
        ----------
        s : array-like of shape (n_data,)
            Anomaly score per data event (out-of-fold for trained scores).
        y : array-like of shape (n_data,)
            Resonant variable per data event (m_jj in GeV).
        s_simulation, y_simulation : array-like of shape (n_simulation,)
            The same score and variable for held-out simulated background. Required.

        Returns
        -------
        self
        """
        rel = check_open_unit_interval(self.rel_uncertainty, "rel_uncertainty")
        check_null_method(self.method, _METHODS, self.n_resamples)
        s, y = check_paired_vectors(s, y)
        if s_simulation is None or y_simulation is None:
            raise ValueError(
                "HomogeneousAssociationTest compares the data with simulated background: pass "
                "fit(s, y, s_simulation=..., y_simulation=...) with the same score evaluated on "
                "held-out simulation events."
            )
        s_sim, y_sim = check_paired_vectors(
            s_simulation, y_simulation, s_name="s_simulation", y_name="y_simulation"
        )
        if is_region(self.y_bins):
            # Checked per sample so the message says which one strays out of the window.
            for values, name in ((y, "y"), (y_sim, "y_simulation")):
                outside = int((~self.y_bins.in_window(values)).sum())
                if outside:
                    raise ValueError(
                        f"{outside} of {values.size} {name} values lie outside the window of "
                        f"{self.y_bins}; keep only events with region.in_window(mjj) in both "
                        f"data and simulation before testing."
                    )
        n_data, n_sim = s.size, s_sim.size
        per_sample = min_count_for(rel)
        smaller, smaller_name = (n_data, "data") if n_data <= n_sim else (n_sim, "simulation")
        if smaller < 2 * per_sample:
            raise ValueError(
                f"the {smaller_name} sample has {smaller} events but needs at least "
                f"{2 * per_sample} (2 bins of {per_sample} events for rel_uncertainty={rel:g}); "
                f"provide more events or raise rel_uncertainty."
            )
        # Pooled bins sized so that the smaller sample still expects per_sample events a bin.
        min_count = math.ceil(per_sample * (n_data + n_sim) / smaller)
        binned = score_mass_table(
            np.concatenate([s, s_sim]),
            np.concatenate([y, y_sim]),
            min_count=min_count,
            rel_uncertainty=rel,
            y_bins=self.y_bins,
        )
        d_s, d_y = binned.shape
        data = binned.counts_of(slice(0, n_data))
        table = np.stack([data, binned.table - data])
        dof = (d_s - 1) * (d_y - 1)

        expected, n_iter, converged = fit_no_three_way(table, max_iter=_IPF_MAX_ITER)
        if not converged:
            raise RuntimeError(
                f"iterative proportional fitting of the no-three-way model did not converge in "
                f"{_IPF_MAX_ITER} cycles on the {d_s} x {d_y} table: its maximum-likelihood fit "
                f"lies on the boundary (some expected counts tend to 0, e.g. a score or y bin "
                f"that one sample barely populates). Use fewer, fuller bins (a smaller "
                f"rel_uncertainty or fewer y_bins)."
            )
        g2 = g_squared(table, expected)
        min_expected = float(expected.min())
        bias = g_squared_bias(expected, dof)

        null = None
        if self.method == "asymptotic":
            self._check_asymptotic(table, expected, bias)
            log_p = chi2_log_sf(g2, dof)
            kind = ASYMPTOTIC
        else:
            null = self._resample(table, expected, n_data, n_sim)
            log_p = empirical_log_pvalue(null, g2)
            kind = RESAMPLED

        with np.errstate(divide="ignore", invalid="ignore"):
            residuals = np.where(
                expected[0] > 0, (table[0] - expected[0]) / np.sqrt(expected[0]), 0.0
            )
        self.n_bins_ = (d_s, d_y)
        self.dof_ = dof
        self.s_edges_ = binned.s_edges
        self.y_edges_ = binned.y_edges
        self.contingency_ = table
        self.expected_ = expected
        self.pearson_residuals_ = residuals
        self.min_expected_ = min_expected
        self.g2_bias_ = bias
        self.n_iter_ = int(n_iter)
        self.min_bin_count_ = min_count
        details = {
            "n_bins": (d_s, d_y),
            "dof": dof,
            "null": self.method,
            "G2": g2,
            "n_data": n_data,
            "n_simulation": n_sim,
            "s_edges": binned.s_edges,
            "y_edges": binned.y_edges,
            "min_expected": min_expected,
            "g2_bias": bias,
            "n_iter": int(n_iter),
            "contingency": table,
            "expected": expected,
        }
        return self._set_result(
            g2, log_p, method=kind, n_events=n_data, null_distribution=null, details=details
        )

    def _check_asymptotic(self, table, expected, bias):
        if bias <= MAX_G2_BIAS:
            return
        shape = "2 x {} x {}".format(*table.shape[1:])
        samples = ("data", "simulation")
        fix = (
            "Use fewer, fuller bins (a smaller rel_uncertainty or fewer y_bins), more events, or "
            "method='bootstrap'."
        )
        # Empty margins first: they are a coverage problem more than a sparsity one.
        for axis, name in ((2, "s"), (1, "y")):
            empty = np.argwhere(table.sum(axis=axis) == 0)
            if empty.size:
                g, k = empty[0]
                raise ValueError(
                    f"the {samples[g]} sample has no events in {name} bin {k} of the {shape} "
                    f"table (the other sample has {int(table[1 - g].sum(axis=axis - 1)[k])}), so "
                    f"the chi-square law of G^2 does not apply. If the {samples[g]} does not "
                    f"cover the other sample's range of {name}, the comparison is not "
                    f"meaningful there; restrict both samples to a common range. {fix}"
                )
        g, i, j = np.unravel_index(np.argmin(expected), expected.shape)
        raise ValueError(
            f"the chi-square law of G^2 is not justified for this {shape} table: its fitted "
            f"expected counts are too small (estimated small-count bias of G^2 = {bias:.3g} "
            f"null standard deviations, allowed {MAX_G2_BIAS:g}; smallest expected count "
            f"{expected[g, i, j]:.3g}, {samples[g]} sample, s bin {i}, y bin {j}). {fix}"
        )

    def _resample(self, table, expected, n_data, n_sim):
        shape = table.shape
        # Toys of a batch are drawn and fitted as one array: cap it at ~1M cells. The batch
        # size depends on the table only, so results stay reproducible.
        batch_size = int(np.clip(1_000_000 // table.size, 1, 1000))
        if self.method == "bootstrap":
            totals = np.array([n_data, n_sim], dtype=np.int64)
            flat = expected.reshape(2, -1)
            # Normalised explicitly: numpy rejects probabilities summing above 1 + 1e-12.
            probabilities = flat / flat.sum(axis=1, keepdims=True)
            batch, args = _bootstrap_batch, (probabilities, totals, shape)
        else:
            batch, args = _relabel_batch, (table.sum(axis=0).ravel(), n_data, shape)
        return resample_null(
            batch,
            self.n_resamples,
            args=args,
            batch_size=batch_size,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=f"G^2 {self.method}",
        )
