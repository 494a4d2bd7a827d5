"""Binned mutual-information test of independence of an anomaly score and the resonant mass.

Kamenik & Szewc, "Null hypothesis test for anomaly detection", PLB 840 (2023) 137836: if the
score ``s(x)`` was trained without learning the background's feature/m_jj correlations (SA-CWoLa,
out-of-fold), then under the background-only hypothesis ``s`` and ``m_jj`` are independent, and
a signal localised in m_jj makes them dependent. The plug-in mutual information of the binned
``(s, m_jj)`` table then tests the null without a cut on ``s`` and without a background fit.

The chi-square law of ``2 N I`` needs populated *cells*, not only populated marginal bins: how
far sparse cells push the statistic above its law is measured by Williams' correction
(:func:`williams_correction`), and ``method="asymptotic"`` uses the law only where that shift is
small (docs/statistics.md has the measurements behind the thresholds). The statistic, that rule
and the resampled nulls and tail laws behind the other methods are in :mod:`._mi_null`.
"""

from __future__ import annotations

import functools
import logging

import numpy as np

from ._mi_null import (
    MAX_CHI2_SHIFT,
    MAX_PERMUTATION_SHIFT,
    MAX_WILLIAMS_SHIFT,
    MIN_TAIL_COUNT,
    MIN_WILLIAMS_EXPECTED,
    _asymptotic_regime,
    _bootstrap_batch,
    _fixed_margin_mi,
    _gamma_tail,
    _margin_terms,
    _permutation_batch,
    _rel_uncertainty_for_law,
    _relabel_batch,
    _relabelling_tail,
    _resampled_log_pvalue,
    mutual_information,
)
from ._table_tests import BinnedTableTest, pooled_min_count
from ._williams import williams_correction, williams_of_margins
from .base import ASYMPTOTIC
from .binning import min_count_for
from .contingency import score_mass_table
from .pvalues import log_gamma_sf

__all__ = [
    "MutualInformationIndependenceTest",
    "mutual_information",
    "williams_correction",
    "MAX_CHI2_SHIFT",
    "MAX_WILLIAMS_SHIFT",
    "MAX_PERMUTATION_SHIFT",
    "MIN_WILLIAMS_EXPECTED",
    "MIN_TAIL_COUNT",
]

logger = logging.getLogger(__name__)


class MutualInformationIndependenceTest(BinnedTableTest):
    """Test independence of an anomaly score ``s`` and the resonant variable ``y`` by binned MI.

    Both variables are binned into equal-count bins, merged until every *marginal* bin holds at
    least ``1/rel_uncertainty**2`` events (Kamenik & Szewc, Sec. 3: 1% means >= 10,000 events
    per bin of s and of y; the 2-D cells hold fewer). The plug-in mutual information ``I`` of
    the ``d_s x d_y`` table is the statistic. Under independence ``2 N I`` follows a chi-square
    law with ``(d_s - 1)(d_y - 1)`` degrees of freedom, i.e. ``I ~ Gamma((d_s-1)(d_y-1)/2,
    scale=1/N)``; p and Z are computed in log space so that Z stays finite deep in the tail.

    **When the chi-square law is used.** The law needs populated cells. Sparse cells push
    ``2 N I`` above it by about ``delta`` null standard deviations, the shift that Williams'
    correction predicts (:func:`williams_correction`); unlike a minimum count per cell, it
    grows with the number of cells, and it grows with N at a fixed ``rel_uncertainty``. With
    ``method="asymptotic"``:

    - ``delta <= MAX_CHI2_SHIFT``: the chi-square law of ``2 N I``, the reference's test,
      unchanged;
    - ``delta <= MAX_WILLIAMS_SHIFT`` and every cell expecting at least
      ``MIN_WILLIAMS_EXPECTED`` events: the chi-square law of ``2 N I / q``, Williams'
      corrected G-test (deterministic and as cheap; ``result_.details["pvalue_source"] ==
      "chi2_williams"``);
    - otherwise up to ``delta <= MAX_PERMUTATION_SHIFT``: the law does not hold, and the exact
      permutation null of the same table (conditional on the marginals) replaces it, with
      ``n_resamples`` and ``random_state``; a warning is logged with the ``rel_uncertainty``
      that restores the chi-square law. ``result_.details["null"] == "permutation"`` and
      ``["requested_method"] == "asymptotic"`` record the switch;
    - beyond: ``fit`` raises a ``ValueError`` that gives that ``rel_uncertainty``. The bins are
      then far finer than the sample resolves: coarser bins restore a deterministic law and, for
      any dependence smoother than the bins, cost no power (fewer degrees of freedom for the
      same signal), while the permutation null of a table this sparse costs ``n_resamples x N``
      and mostly measures counting noise. ``method="permutation"`` still runs it on request.

    Why this and not something else: rebinning silently would change the test behind the
    user's back, and a law that does not hold fakes discoveries (or, with many more cells than
    events, never rejects), so where the law fails the choice is between an exact null and a
    refusal. The exact null is taken where it is affordable and the binning still resolves
    the sample (a physicist asked for these bins and gets their power, with a warning that
    says how to get a law back); the refusal where neither holds, with the fix in the message.
    More events at a fixed ``rel_uncertainty`` make the table sparser, so the fix is always a
    *smaller* ``rel_uncertainty`` (more events a marginal bin).

    **Resolution of resampled p-values.** An empirical p-value is at least ``1/(n + 1)`` for
    ``n`` resamples, so its Z is capped. Where fewer than :data:`MIN_TAIL_COUNT` resamples
    reach the observed statistic, the relabelled null (``"simulation"``) and the permutation
    fallback of ``"asymptotic"`` extrapolate the tail with a law fitted to the resamples and
    report ``result_.method == "asymptotic"``, ``details["pvalue_source"] == "tail_law"`` with
    the law and its parameters in ``details["tail_law"]`` and the empirical value in
    ``details["empirical_pvalue"]``: a Gamma law with the resampled mean and variance for
    ``I`` (Satterthwaite), a Pearson type III law (shifted Gamma) with the resampled mean,
    variance and skewness for ``I_data - I_sim`` (see ``_relabelling_tail``). The explicit
    ``"permutation"`` and ``"bootstrap"`` methods report what the resamples measure: the
    empirical p, with ``result_.method == "bound"`` when no resample reaches the statistic
    (the law's estimate is then in ``details["tail_law"]``).

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
        Null distribution of ``I``: the Gamma law above (where the table allows it, see
        above); permutations of ``y`` against ``s`` with the bins fixed (exact, conditional on
        the marginals); or the parametric bootstrap of the reference code (each cell Poisson
        with mean ``N p_s p_y``).

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
        Number of resamples for the resampled methods and the permutation fallback.
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
        See :class:`~nhtad.stats.BaseTest`. ``result_.details`` records the null used
        (``"null"``), the method asked for (``"requested_method"``), where p came from
        (``"pvalue_source"``: ``"chi2"``, ``"chi2_williams"``, ``"empirical"``,
        ``"tail_law"`` or ``"bound"``) and, for tables tested against ``I``, Williams'
        ``q``, the shift ``delta`` and the smallest and mean expected cell counts.
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
    williams_q_, chi2_mean_shift_ : float or None
        Williams' ``q`` and ``delta`` of the data's table (None for ``method="simulation"``).
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
    >>> bool(0 < test.pvalue_ < 1), test.result_.details["pvalue_source"]
    (True, 'chi2')
    """

    _METHODS = ("asymptotic", "permutation", "bootstrap", "simulation")

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
        return self.method == "simulation"

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

        Raises
        ------
        ValueError
            On bad input, too few events to bin, and, for ``method="asymptotic"``, on a table
            too sparse for any of its laws (the message gives the ``rel_uncertainty`` to use).
        """
        rel = self._check_rel_and_method()
        referenced = self.method == "simulation"
        s, y, simulation = self._check_inputs(
            s,
            y,
            s_simulation,
            y_simulation,
            simulation="required" if referenced else "forbidden",
            why=(
                "method='simulation' compares the data with simulated background: pass "
                "fit(s, y, s_simulation=..., y_simulation=...) with the same out-of-fold "
                "score evaluated on held-out simulation events."
                if referenced
                else f"s_simulation/y_simulation are used only with method='simulation'; got "
                f"method={self.method!r}."
            ),
        )
        min_count = min_count_for(rel)
        n = n_data = s.size
        s_all, y_all = s, y
        if referenced:
            s_all, y_all = np.concatenate([s, simulation[0]]), np.concatenate([y, simulation[1]])
            min_count = pooled_min_count(min_count, n_data, simulation[0].size)
        binned = score_mass_table(
            s_all, y_all, min_count=min_count, rel_uncertainty=rel, y_bins=self.y_bins
        )
        d_s, d_y = binned.shape
        table = binned.counts_of(slice(0, n_data)) if referenced else binned.table
        dof = (d_s - 1) * (d_y - 1)
        details = {"null": self.method, "requested_method": self.method}
        sim_table = mi_sim = q = shift = None
        if referenced:
            sim_table = binned.table - table
            mi, mi_sim = mutual_information(table), mutual_information(sim_table)
            statistic = mi - mi_sim
            null, log_p, kind, info = self._relabelled_pvalue(
                binned, n_data, simulation[0].size, statistic, dof
            )
            details.update(info)
        else:
            # Judged on the marginal counts before anything costly, so a refusal is quick.
            rows, cols = table.sum(axis=1), table.sum(axis=0)
            q, shift = williams_of_margins(rows, cols)
            expected_min = float(rows.min() * cols.min() / n)
            details.update(
                williams_q=q,
                chi2_mean_shift=shift,
                expected_count_min=expected_min,
                expected_count_mean=float(n / table.size),
            )
            regime = _asymptotic_regime(shift, expected_min)
            if self.method == "asymptotic" and not regime.startswith("chi2"):
                self._check_permutation_fallback(s_all, y_all, rel, binned, shift, expected_min)
                details["null"] = "permutation"
                details["note"] = (
                    f"the chi-square law does not hold for this {d_s} x {d_y} table "
                    f"(Williams shift {shift:.3g} null standard deviations, cells expecting "
                    f">= {expected_min:.3g} events): p comes from the exact permutation null."
                )
            statistic = mi = mutual_information(table)
            if details["null"] == "asymptotic":
                # The reference's law exactly where it holds; Williams' corrected one next to it.
                scale = 1.0 if regime == "chi2" else q
                log_p, kind, null = log_gamma_sf(dof / 2.0, n * mi / scale), ASYMPTOTIC, None
                details["pvalue_source"] = regime
            else:
                null, log_p, kind, info = self._resampled_pvalue(details["null"], binned, mi)
                if "note" in info and "note" in details:
                    info["note"] = details["note"] + " " + info["note"]
                details.update(info)

        self._set_table(binned, table, dof)
        self.contingency_simulation_ = sim_table
        self.mutual_information_ = mi
        self.mutual_information_simulation_ = mi_sim
        self.min_bin_count_ = min_count
        self.williams_q_ = q
        self.chi2_mean_shift_ = shift
        details.update(
            n_bins=(d_s, d_y),
            dof=dof,
            mutual_information=mi,
            statistic_2NI=2.0 * n * mi,
            s_edges=binned.s_edges,
            y_edges=binned.y_edges,
            y_counts=binned.y_counts,
            contingency=table,
        )
        if referenced:
            details.update(
                mutual_information_simulation=mi_sim,
                contingency_simulation=sim_table,
                n_simulation=int(simulation[0].size),
            )
        return self._set_result(
            statistic,
            log_p,
            method=kind,
            n_events=n,
            null_distribution=null,
            details=details,
        )

    def _check_permutation_fallback(self, s, y, rel, binned, shift, expected_min):
        # Too sparse for the (corrected) chi-square law: refuse, or say loudly that the
        # permutation null takes over and which rel_uncertainty would restore the law.
        (d_s, d_y), n = binned.shape, s.size
        suggested = _rel_uncertainty_for_law(s, y, self.y_bins, rel, shift)
        fix = (
            f"rel_uncertainty={suggested:g} or less"
            if suggested is not None
            else "a smaller rel_uncertainty (and fewer y_bins where they are given)"
        )
        if shift > MAX_PERMUTATION_SHIFT:
            raise ValueError(
                f"the {d_s} x {d_y} table of {n} events is too sparse for method='asymptotic': "
                f"its cells expect {expected_min:.3g} to {n / binned.table.size:.3g} events "
                f"(least to mean), and Williams' correction puts the mean of 2NI {shift:.3g} "
                f"null standard deviations above its chi-square law (the law is used up to "
                f"{MAX_WILLIAMS_SHIFT:g}, the permutation null up to "
                f"{MAX_PERMUTATION_SHIFT:g}). Use coarser bins, {fix} (more events a marginal "
                f"bin), where the chi-square law holds; or ask for the exact permutation null "
                f"with method='permutation' (it costs n_resamples x N). More events at the same "
                f"rel_uncertainty make the table sparser, not fuller."
            )
        logger.warning(
            "MI test: the chi-square law does not hold for the %d x %d table of %d events "
            "(Williams shift %.3g null standard deviations, cells expecting >= %.3g events); "
            "using the exact permutation null with n_resamples=%d instead; coarser bins, %s, "
            "restore the chi-square law.",
            d_s,
            d_y,
            n,
            shift,
            expected_min,
            self.n_resamples,
            fix,
        )

    # -- resampled nulls --------------------------------------------------------------------
    def _relabelled_pvalue(self, binned, n_data, n_sim, statistic, dof):
        """The simulation-referenced null: pooled events relabelled as data or simulation."""
        null = self._resample_null(
            _relabel_batch,
            (binned.table.ravel(), n_data, binned.shape),
            batch_size=1000,
            desc="MI data/simulation relabelling",
        )
        tail = functools.partial(_relabelling_tail, n_data=n_data, n_sim=n_sim, dof=dof)
        return null, *_resampled_log_pvalue(null, statistic, tail, extrapolate=True)

    def _resampled_pvalue(self, method, binned, mi):
        """The permutation or bootstrap null of ``I`` on the data's table."""
        table = binned.table
        if method == "permutation":
            batch, args, batch_size = (
                _permutation_batch,
                (binned.s_index, binned.y_index, table.shape),
                50,
            )
            # Compared through the same arithmetic as the permutation resamples.
            terms = _margin_terms(table.sum(axis=1), table.sum(axis=0))
            observed = _fixed_margin_mi(table.ravel(), *terms)
        else:
            expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
            # Toys of a batch are drawn as one array: cap it at ~2M cells (16 MB). The batch size
            # depends on the table only, so results stay reproducible.
            batch_size = int(np.clip(2_000_000 // table.size, 1, 1000))
            batch, args, observed = _bootstrap_batch, (expected,), mi
        null = self._resample_null(batch, args, batch_size=batch_size, desc=f"MI {method}")
        log_p, kind, info = _resampled_log_pvalue(
            null, observed, _gamma_tail, extrapolate=self.method == "asymptotic"
        )
        return null, log_p, kind, info
