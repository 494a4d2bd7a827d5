"""Binned mutual-information test of independence of an anomaly score and the resonant mass.

Kamenik & Szewc, "Null hypothesis test for anomaly detection", PLB 840 (2023) 137836: if the
score ``s(x)`` was trained without learning the background's feature/m_jj correlations (SA-CWoLa,
out-of-fold), then under the background-only hypothesis ``s`` and ``m_jj`` are independent, and
a signal localised in m_jj makes them dependent. The plug-in mutual information of the binned
``(s, m_jj)`` table then tests the null without a cut on ``s`` and without a background fit.
"""

from __future__ import annotations

import math

import numpy as np

from ..utils.validation import check_open_unit_interval, check_paired_vectors
from .base import ASYMPTOTIC, RESAMPLED, BaseTest
from .binning import min_count_for
from .contingency import score_mass_table
from .pvalues import empirical_log_pvalue, log_gamma_sf
from .resampling import check_null_method, resample_null

__all__ = ["MutualInformationIndependenceTest", "mutual_information"]

_METHODS = ("asymptotic", "permutation", "bootstrap", "simulation")


def mutual_information(table) -> np.ndarray | float:
    """Plug-in mutual information (nats) of contingency tables.

    ``I = sum_ij (n_ij / N) log(n_ij N / (n_i. n_.j))`` (Kamenik & Szewc, Sec. 3), with each
    table's own marginals and total; empty cells contribute nothing.

    Parameters
    ----------
    table : array-like of shape (..., d_s, d_y)
        Counts; leading axes are a batch of tables.

    Returns
    -------
    float or ndarray of shape (...)
    """
    table = np.asarray(table, dtype=np.float64)
    total = table.sum(axis=(-2, -1), keepdims=True)
    rows = table.sum(axis=-1, keepdims=True)
    cols = table.sum(axis=-2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = table * np.log(table * total / (rows * cols))
    terms = np.where(table > 0, terms, 0.0)
    mi = terms.sum(axis=(-2, -1)) / total[..., 0, 0]
    # I >= 0 exactly; clip the last-bit negative round-off of nearly independent tables.
    mi = np.maximum(mi, 0.0)
    return float(mi) if mi.ndim == 0 else mi


def _permutation_batch(rng, n, s_index, y_index, shape):
    # Permuting y against s keeps both marginals, hence the binning, fixed: an exact
    # permutation null conditional on the marginals.
    d_s, d_y = shape
    flat_s = s_index * d_y
    out = np.empty(n)
    for k in range(n):
        table = np.bincount(flat_s + rng.permutation(y_index), minlength=d_s * d_y)
        out[k] = mutual_information(table.reshape(shape))
    return out


def _bootstrap_batch(rng, n, expected):
    # The parametric bootstrap of the reference notebook (Fig. 3): every cell Poisson with mean
    # N p_i. p_.j from the observed marginals, so the toys are exactly independent.
    return mutual_information(rng.poisson(expected, size=(n, *expected.shape)))


def _relabel_batch(rng, n, pooled, n_data, shape):
    # Randomly relabelling which pooled events are data draws the data table from the
    # multivariate hypergeometric law of the pooled cell counts: the exact permutation null
    # with the pooled bins fixed, at O(cells) per resample instead of O(events).
    data = rng.multivariate_hypergeometric(pooled, n_data, size=n, method="marginals")
    sim = pooled - data
    return mutual_information(data.reshape(n, *shape)) - mutual_information(sim.reshape(n, *shape))


class MutualInformationIndependenceTest(BaseTest):
    """Test independence of an anomaly score ``s`` and the resonant variable ``y`` by binned MI.

    Both variables are binned into equal-count bins, merged until every *marginal* bin holds at
    least ``1/rel_uncertainty**2`` events (Kamenik & Szewc, Sec. 3: 1% means >= 10,000 events
    per bin of s and of y; the 2-D cells hold fewer). The plug-in mutual information ``I`` of
    the ``d_s x d_y`` table is the statistic. Under independence ``2 N I`` follows a chi-square
    law with ``(d_s - 1)(d_y - 1)`` degrees of freedom, i.e. ``I ~ Gamma((d_s-1)(d_y-1)/2,
    scale=1/N)``; p and Z are computed in log space so that Z stays finite deep in the tail.

    Parameters
    ----------
    rel_uncertainty : float, default=0.01
        Target relative Poisson uncertainty of every marginal bin, in (0, 1).
    y_bins : None, int, array-like or SignalRegion, default=None
        Binning of ``y``. ``None``: equal-count bins under the same uncertainty rule as ``s``.
        int: that many equal-count bins (the reference used 24), each of which must meet the
        rule. array-like: the exact bin edges (``[e_k, e_{k+1})``, last bin closed), kept as
        given; every bin must meet the rule and every event must lie inside. A
        :class:`~nhtad.datasets.SignalRegion`: equal-count bins within each sideband and the
        signal region, so the region boundaries are bin edges; events must lie in its window.
    method : {"asymptotic", "permutation", "bootstrap", "simulation"}, default="asymptotic"
        Null distribution of ``I``: the Gamma law above; permutations of ``y`` against ``s``
        with the bins fixed (exact, conditional on the marginals); or the parametric bootstrap
        of the reference code (each cell Poisson with mean ``N p_s p_y``).

        ``"simulation"`` is the simulation-referenced null: ``fit`` also takes the same score
        evaluated on held-out simulated background (``s_simulation``, ``y_simulation``), the
        statistic becomes ``I_data - I_sim`` on bins fixed from the pooled sample, and its null
        comes from randomly relabelling which pooled events are data. A trained score that is
        not exactly constant is a function of features that depend on m_jj, so it depends on
        m_jj even in pure background and the asymptotic null rejects at large N; the
        simulation carries the same dependence and cancels it. **Valid only when the
        simulation models the background** (data and simulation exchangeable under the null):
        a data/simulation difference in the features the score uses shows up as a signal.
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
        Plug-in mutual information in nats; ``I_data - I_sim`` for ``method="simulation"``.
    pvalue_, log_pvalue_, significance_, n_events_, null_distribution_, result_
        See :class:`~nhtad.stats.BaseTest`.
    n_bins_ : tuple of int
        ``(d_s, d_y)``.
    s_edges_, y_edges_ : ndarray
        Bin edges of ``s`` and ``y``.
    contingency_ : ndarray of shape (d_s, d_y)
        Event counts per cell.
    dof_ : int
        ``(d_s - 1)(d_y - 1)``.
    min_bin_count_ : int
        Fewest events a marginal bin had to hold (of the pooled sample for "simulation").
    mutual_information_, mutual_information_simulation_ : float
        ``I`` of the data and, for ``method="simulation"``, of the simulation (else None).
    contingency_simulation_ : ndarray of shape (d_s, d_y) or None
        The simulation's table for ``method="simulation"``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> s, y = rng.random(40_000), rng.random(40_000)
    >>> test = MutualInformationIndependenceTest(rel_uncertainty=0.02).fit(s, y)
    >>> test.n_bins_
    (16, 16)
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

    def fit(self, s, y, *, s_simulation=None, y_simulation=None):
        """Run the test on scores ``s`` and resonant-variable values ``y``.

        Parameters
        ----------
        s : array-like of shape (n_events,)
            Anomaly score per event (out-of-fold for trained scores).
        y : array-like of shape (n_events,)
            Resonant variable per event (m_jj in GeV), or any variable to test against.
        s_simulation, y_simulation : array-like of shape (n_simulated,), default=None
            The same score and variable for held-out simulated background; required by, and
            only accepted with, ``method="simulation"``.

        Returns
        -------
        self
        """
        rel = check_open_unit_interval(self.rel_uncertainty, "rel_uncertainty")
        check_null_method(self.method, _METHODS, self.n_resamples)
        s, y = check_paired_vectors(s, y)
        min_count = min_count_for(rel)
        referenced = self.method == "simulation"
        if referenced:
            if s_simulation is None or y_simulation is None:
                raise ValueError(
                    "method='simulation' compares the data with simulated background: pass "
                    "fit(s, y, s_simulation=..., y_simulation=...) with the same out-of-fold "
                    "score evaluated on held-out simulation events."
                )
            s_sim, y_sim = check_paired_vectors(
                s_simulation, y_simulation, s_name="s_simulation", y_name="y_simulation"
            )
            n_data, n_sim = s.size, s_sim.size
            s_all, y_all = np.concatenate([s, s_sim]), np.concatenate([y, y_sim])
            # Pooled bins sized so that the smaller sample still expects min_count a bin.
            min_count = math.ceil(min_count * (n_data + n_sim) / min(n_data, n_sim))
        else:
            if s_simulation is not None or y_simulation is not None:
                raise ValueError(
                    f"s_simulation/y_simulation are used only with method='simulation'; got "
                    f"method={self.method!r}."
                )
            s_all, y_all, n_data = s, y, s.size
        binned = score_mass_table(
            s_all, y_all, min_count=min_count, rel_uncertainty=rel, y_bins=self.y_bins
        )
        d_s, d_y = binned.shape
        table = binned.counts_of(slice(0, n_data))
        n = n_data
        mi = mutual_information(table)
        dof = (d_s - 1) * (d_y - 1)

        null = sim_table = mi_sim = None
        if referenced:
            pooled = binned.table.ravel()
            sim_table = binned.table - table
            mi_sim = mutual_information(sim_table)
            statistic = mi - mi_sim
            null = self._resample_relabelled(pooled, n_data, (d_s, d_y))
            log_p = empirical_log_pvalue(null, statistic)
            kind = RESAMPLED
        elif self.method == "asymptotic":
            statistic = mi
            log_p = log_gamma_sf(dof / 2.0, n * mi)
            kind = ASYMPTOTIC
        else:
            statistic = mi
            null = self._resample(binned.s_index, binned.y_index, table)
            log_p = empirical_log_pvalue(null, mi)
            kind = RESAMPLED

        self.n_bins_ = (d_s, d_y)
        self.s_edges_ = binned.s_edges
        self.y_edges_ = binned.y_edges
        self.contingency_ = table
        self.contingency_simulation_ = sim_table
        self.mutual_information_ = mi
        self.mutual_information_simulation_ = mi_sim
        self.dof_ = dof
        self.min_bin_count_ = min_count
        details = {
            "n_bins": (d_s, d_y),
            "dof": dof,
            "null": self.method,
            "mutual_information": mi,
            "statistic_2NI": 2.0 * n * mi,
            "s_edges": binned.s_edges,
            "y_edges": binned.y_edges,
            "y_counts": binned.y_counts,
            "contingency": table,
        }
        if referenced:
            details.update(
                mutual_information_simulation=mi_sim,
                contingency_simulation=sim_table,
                n_simulation=int(s_all.size - n_data),
            )
        return self._set_result(
            statistic,
            log_p,
            method=kind,
            n_events=n,
            null_distribution=null,
            details=details,
        )

    # -- resampled nulls --------------------------------------------------------------------
    def _resample_relabelled(self, pooled, n_data, shape):
        return resample_null(
            _relabel_batch,
            self.n_resamples,
            args=(pooled, n_data, shape),
            batch_size=1000,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc="MI data/simulation relabelling",
        )

    def _resample(self, s_index, y_index, table):
        if self.method == "permutation":
            batch, args, batch_size = _permutation_batch, (s_index, y_index, table.shape), 50
        else:
            expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
            # Toys of a batch are drawn as one array: cap it at ~2M cells (16 MB). The batch size
            # depends on the table only, so results stay reproducible.
            batch_size = int(np.clip(2_000_000 // table.size, 1, 1000))
            batch, args = _bootstrap_batch, (expected,)
        return resample_null(
            batch,
            self.n_resamples,
            args=args,
            batch_size=batch_size,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=f"MI {self.method}",
        )
