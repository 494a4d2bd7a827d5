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

import numpy as np

from ._no_three_way import (
    IPF_MAX_ITER,
    bootstrap_batch,
    fit_no_three_way,
    g_squared,
    g_squared_bias,
    relabel_batch,
)
from ._table_tests import BinnedTableTest, pooled_min_count
from .base import ASYMPTOTIC, RESAMPLED
from .binning import min_count_for
from .contingency import check_in_window, is_region, score_mass_table
from .pvalues import chi2_log_sf, empirical_log_pvalue

__all__ = [
    "HomogeneousAssociationTest",
    "fit_no_three_way",
    "g_squared",
    "g_squared_bias",
    "MAX_G2_BIAS",
]

logger = logging.getLogger(__name__)


#: Largest estimated small-count bias of G^2, in units of its null standard deviation, for
#: which ``method="asymptotic"`` uses the chi-square law (see :func:`g_squared_bias`); larger
#: values are refused. Chosen from Type-I measurements on null tables (docs/statistics.md).
MAX_G2_BIAS = 0.05

# Read by fit at call time, so that a test can lower it to provoke non-convergence.
_IPF_MAX_ITER = IPF_MAX_ITER


class HomogeneousAssociationTest(BinnedTableTest):
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

    _METHODS = ("asymptotic", "bootstrap", "permutation")

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
        rel = self._check_rel_and_method()
        s, y, (s_sim, y_sim) = self._check_inputs(
            s,
            y,
            s_simulation,
            y_simulation,
            simulation="required",
            why=(
                "HomogeneousAssociationTest compares the data with simulated background: pass "
                "fit(s, y, s_simulation=..., y_simulation=...) with the same score evaluated "
                "on held-out simulation events."
            ),
        )
        if is_region(self.y_bins):
            # Checked per sample so the message says which one strays out of the window.
            for values, name in ((y, "y"), (y_sim, "y_simulation")):
                check_in_window(
                    self.y_bins, values, f"{name} values", " in both data and simulation"
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
        min_count = pooled_min_count(per_sample, n_data, n_sim)
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
        self._set_table(binned, table, dof)
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
            batch, args = bootstrap_batch, (probabilities, totals, shape)
        else:
            batch, args = relabel_batch, (table.sum(axis=0).ravel(), n_data, shape)
        return self._resample_null(batch, args, batch_size=batch_size, desc=f"G^2 {self.method}")
