"""Binned mutual-information test of independence of an anomaly score and the resonant mass.

Kamenik & Szewc, "Null hypothesis test for anomaly detection", PLB 840 (2023) 137836: if the
score ``s(x)`` was trained without learning the background's feature/m_jj correlations (SA-CWoLa,
out-of-fold), then under the background-only hypothesis ``s`` and ``m_jj`` are independent, and
a signal localised in m_jj makes them dependent. The plug-in mutual information of the binned
``(s, m_jj)`` table then tests the null without a cut on ``s`` and without a background fit.

The chi-square law of ``2 N I`` needs populated *cells*, not only populated marginal bins: how
far sparse cells push the statistic above its law is measured by Williams' correction
(:func:`williams_correction`), and ``method="asymptotic"`` uses the law only where that shift is
small (docs/statistics.md has the measurements behind the thresholds).
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np
from scipy import special

from ..utils.validation import check_open_unit_interval, check_paired_vectors
from .base import ASYMPTOTIC, BOUND, RESAMPLED, BaseTest
from .binning import min_count_for
from .contingency import bin_resonant, bin_scores, score_mass_table
from .pvalues import _count_at_least, log_gamma_sf
from .resampling import check_null_method, resample_null

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

_METHODS = ("asymptotic", "permutation", "bootstrap", "simulation")

#: Largest mean shift of ``2 N I`` above its chi-square law, in null standard deviations, as
#: Williams' correction predicts it (:func:`williams_correction`), for which
#: ``method="asymptotic"`` uses the plain chi-square law (the reference's Gamma law of ``I``).
MAX_CHI2_SHIFT = 0.05
#: Up to this shift ``method="asymptotic"`` uses the chi-square law of ``2 N I / q``, Williams'
#: corrected G-test, if every cell also expects at least :data:`MIN_WILLIAMS_EXPECTED` events.
MAX_WILLIAMS_SHIFT = 0.3
#: Fewest expected events a cell needs for Williams' correction, a first-order one in the
#: inverse expected counts, to be trusted.
MIN_WILLIAMS_EXPECTED = 10.0
#: Up to this shift ``method="asymptotic"`` falls back on the exact permutation null; beyond it
#: ``fit`` refuses the table.
MAX_PERMUTATION_SHIFT = 1.0
#: Fewest resampled statistics at or beyond the observed one for an empirical p-value (relative
#: Monte Carlo error about ``1/sqrt(10)``). With fewer the resamples do not resolve the tail:
#: it is extrapolated by a fitted law, or the empirical value is reported as a bound.
MIN_TAIL_COUNT = 10
# Pearson type III tails are evaluated for a skewness of at least this (Gamma shape <= 4e6, so
# the log-space incomplete gamma stays fast); a smaller positive skewness is raised to it, which
# only makes the tail heavier.
_MIN_SKEW = 1e-3


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


def williams_correction(table) -> tuple[float, float]:
    """Williams' correction of the G-test of independence and the mean shift it predicts.

    For a ``d_s x d_y`` table of ``N`` events with marginal counts ``n_i.`` and ``n_.j``, the
    statistic ``G = 2 N I`` has, under independence, the mean ``k q`` to order ``1/N`` with
    ``k = (d_s - 1)(d_y - 1)`` and (Williams, Biometrika 63 (1976) 33; Sokal & Rohlf,
    *Biometry*, the G-test of independence)

    .. math:: q = 1 + \\frac{(N \\sum_i 1/n_{i\\cdot} - 1)(N \\sum_j 1/n_{\\cdot j} - 1)}
              {6 N (d_s - 1)(d_y - 1)}.

    The excess of the mean over the chi-square mean in units of the chi-square standard
    deviation ``sqrt(2k)``,

    .. math:: \\delta = (q - 1) \\sqrt{k / 2},

    is what sparse cells do to the test: it grows with the number of cells at a fixed count per
    cell, because the bias adds up over cells while the null spread grows like ``sqrt(k)``, so
    a minimum expected count alone does not say whether the chi-square law holds. With
    equal-count marginal bins of ``m`` events each, ``delta ~ N**2 / (6 sqrt(2) m**3)``: more
    events at a fixed ``rel_uncertainty`` make it *larger*.

    Parameters
    ----------
    table : array-like of shape (d_s, d_y)
        Event counts.

    Returns
    -------
    q : float
        Williams' correction factor (``G / q`` has mean ``k`` to order ``1/N**2``).
    shift : float
        ``delta``; ``inf`` if a marginal bin is empty.
    """
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or min(table.shape) < 2:
        raise ValueError(f"the table needs at least 2 x 2 bins; got shape {table.shape}.")
    return _williams_of_margins(table.sum(axis=1), table.sum(axis=0))


def _williams_of_margins(rows, cols):
    # q depends on the marginal counts only, so a binning can be judged without its table.
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    n = rows.sum()
    dof = (rows.size - 1) * (cols.size - 1)
    if (rows <= 0).any() or (cols <= 0).any():
        return math.inf, math.inf
    q = 1.0 + (n * np.sum(1.0 / rows) - 1.0) * (n * np.sum(1.0 / cols) - 1.0) / (6.0 * n * dof)
    return float(q), float((q - 1.0) * math.sqrt(dof / 2.0))


def _asymptotic_regime(shift, expected_min):
    # The rule of method="asymptotic" (class docstring; measurements in docs/statistics.md).
    if shift <= MAX_CHI2_SHIFT:
        return "chi2"
    if shift <= MAX_WILLIAMS_SHIFT and expected_min >= MIN_WILLIAMS_EXPECTED:
        return "chi2_williams"
    if shift <= MAX_PERMUTATION_SHIFT:
        return "permutation"
    return "refused"


# -- resampled nulls ------------------------------------------------------------------------
def _xlogx_table(n_max):
    k = np.arange(n_max + 1, dtype=np.float64)
    out = np.zeros(n_max + 1)
    out[1:] = k[1:] * np.log(k[1:])
    return out


def _margin_terms(rows, cols):
    # With both marginals fixed, I = (sum_ij n_ij log n_ij - fixed) / N, so a resampled table
    # costs one lookup per cell instead of a logarithm (most of the time of a sparse table).
    rows, cols = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    n = int(rows.sum())
    xlogx = _xlogx_table(int(max(rows.max(), cols.max())))
    fixed = xlogx[rows].sum() + xlogx[cols].sum() - n * math.log(n)
    return xlogx, fixed, n


def _fixed_margin_mi(counts, xlogx, fixed, n):
    # The observed statistic goes through this same function, so a resample that reproduces
    # the observed table gives the bit-identical value and counts as "at least as extreme".
    return max((xlogx[counts].sum() - fixed) / n, 0.0)


def _permutation_batch(rng, n, s_index, y_index, shape):
    # Permuting y against s keeps both marginals, hence the binning, fixed: an exact
    # permutation null conditional on the marginals.
    d_s, d_y = shape
    flat_s = s_index.astype(np.int64) * d_y
    terms = _margin_terms(np.bincount(s_index, minlength=d_s), np.bincount(y_index, minlength=d_y))
    out = np.empty(n)
    for k in range(n):
        counts = np.bincount(flat_s + rng.permutation(y_index), minlength=d_s * d_y)
        out[k] = _fixed_margin_mi(counts, *terms)
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


# -- tail laws of resampled nulls -----------------------------------------------------------
def _gamma_tail(null):
    """Gamma law of a non-negative statistic with the null's mean and variance, or None.

    A chi-square law with a scale and fractional degrees of freedom matched to two moments
    (Satterthwaite, Biometrics Bull. 2 (1946) 110): for ``I`` on a sparse table the permutation
    null is a stretched and shifted version of the ``Gamma(k/2, 1/N)`` law, which this follows.
    """
    mean, var = float(np.mean(null)), float(np.var(null, ddof=1))
    if not (mean > 0.0 and var > 0.0):
        return None
    shape, scale = mean * mean / var, var / mean
    return {"law": "gamma", "shape": shape, "scale": scale}, functools.partial(
        _scaled_gamma_log_sf, shape=shape, scale=scale
    )


def _scaled_gamma_log_sf(x, *, shape, scale):
    return log_gamma_sf(shape, x / scale)


def _relabelling_tail(null, *, n_data, n_sim, dof):
    """Pearson type III law of ``I_data - I_sim`` under relabelling, or None.

    To second order in the relabelled cell counts, ``I_data - I_sim`` is a linear (normal) term
    plus ``c`` times a noncentral chi-square with the pooled table's ``k`` degrees of freedom,
    ``c = (1/n_data - 1/n_sim) / 2``: its right tail is heavier than a normal one when the
    simulation is the larger sample, lighter when the data are, and the law is exactly
    symmetric when ``n_data = n_sim`` (swapping the labels maps the statistic to its negative).
    The law used is a shifted Gamma (Pearson type III) with the resampled mean, variance and
    skewness. The skewness is floored at the second-order value, which a few hundred resamples
    can miss; the resampled one catches the higher-order terms that a pooled table with a
    strong s-y dependence adds. Where the skewness is not positive the normal law with the
    resampled mean and variance is used, whose tail is then the heavier one.
    """
    mean, var = float(np.mean(null)), float(np.var(null, ddof=1))
    if not var > 0.0:
        return None
    sd = math.sqrt(var)
    centred = np.asarray(null) - mean
    sample_skew = float(np.mean(centred**3) / np.mean(centred**2) ** 1.5)
    c = 0.5 * (1.0 / n_data - 1.0 / n_sim)
    if c == 0.0:
        second_order = 0.0
    else:
        # Noncentrality of the chi-square term from the variance: var = 2 c^2 (k + 2 lambda).
        lam = 0.5 * max(var / (2.0 * c * c) - dof, 0.0)
        second_order = math.copysign(math.sqrt(8.0) * (dof + 3 * lam) / (dof + 2 * lam) ** 1.5, c)
    skew = max(sample_skew, second_order)
    law = "pearson3" if skew > 0.0 else "normal"
    params = {"law": law, "mean": mean, "sd": sd, "skewness": skew}
    return params, functools.partial(_pearson3_log_sf, mean=mean, sd=sd, skew=skew)


def _pearson3_log_sf(x, *, mean, sd, skew):
    if skew <= 0.0:
        return float(special.log_ndtr(-(x - mean) / sd))
    skew = max(skew, _MIN_SKEW)
    shape = 4.0 / skew**2
    scale = 0.5 * sd * skew
    origin = mean - 2.0 * sd / skew
    return log_gamma_sf(shape, (x - origin) / scale)


def _resampled_log_pvalue(null, observed, tail, *, extrapolate):
    """p-value of a resampled null: empirical where resolved, else the tail law or a bound.

    Returns ``(log_p, method, details)``. The empirical ``(1 + k)/(1 + n)`` is used when at
    least :data:`MIN_TAIL_COUNT` resamples reach the observed statistic. Otherwise, with
    ``extrapolate``, the fitted law ``tail(null)`` gives p (method ``"asymptotic"``, labelled
    in the details); without it, the empirical value is kept, as a bound when no resample
    reached the statistic, and the law's estimate goes to the details only.
    """
    k, n = _count_at_least(null, observed)
    log_empirical = math.log1p(k) - math.log1p(n)
    info = {"n_at_or_beyond": k, "empirical_pvalue": math.exp(log_empirical)}
    if k >= MIN_TAIL_COUNT:
        return log_empirical, RESAMPLED, {**info, "pvalue_source": "empirical"}
    fitted = tail(null)
    if fitted is not None:
        params, log_sf = fitted
        log_law = float(min(log_sf(observed), 0.0))
        info["tail_law"] = {**params, "log_pvalue": log_law}
        if extrapolate:
            info["pvalue_source"] = "tail_law"
            info["note"] = (
                f"{k} of {n} resamples reach the observed statistic, too few to resolve its "
                f"p-value: p is extrapolated by the {params['law']} law fitted to the resamples "
                f"(details['tail_law']); the empirical value is details['empirical_pvalue']."
            )
            return log_law, ASYMPTOTIC, info
    if k:
        return log_empirical, RESAMPLED, {**info, "pvalue_source": "empirical"}
    info["pvalue_source"] = "bound"
    info["note"] = (
        f"no resample of {n} reaches the observed statistic: p is at most about 1/(n + 1) "
        f"(method='bound'); more resamples resolve it"
        + (", details['tail_law'] extrapolates it." if "tail_law" in info else ".")
    )
    return log_empirical, BOUND, info


def _round_down(value, digits=3):
    # Down: a smaller rel_uncertainty means more events a bin, so the suggestion stays valid.
    scale = 10.0 ** (digits - 1 - math.floor(math.log10(value)))
    return math.floor(value * scale) / scale


def _rel_uncertainty_for_law(s, y, y_bins, rel, shift):
    """A ``rel_uncertainty`` (3 digits, rounded down) whose table gets a chi-square law.

    Searches towards fewer, fuller bins from ``rel``. The shift falls like ``m**-3`` to
    ``m**-1.5`` in the events ``m`` a marginal bin holds; aiming the first step at 80% of the
    limit usually lands in one rebinning, at the price of a suggestion a little coarser than
    the coarsest that works. Only the marginal counts matter (:func:`_williams_of_margins`), so
    no table is built. None where no binning works.
    """
    m = min_count_for(rel)
    for _ in range(40):
        m = math.ceil(m * max(1.05, (shift / (0.8 * MAX_WILLIAMS_SHIFT)) ** (1.0 / 3.0)))
        trial = _round_down(1.0 / math.sqrt(m))
        if not 0.0 < trial < 1.0:
            return None
        m = min_count_for(trial)
        try:
            rows = bin_scores(s, m, trial).counts
            _, _, cols = bin_resonant(y, y_bins, m, trial)
        except ValueError:
            return None
        _, shift = _williams_of_margins(rows, cols)
        expected_min = rows.min() * cols.min() / s.size
        if _asymptotic_regime(shift, expected_min).startswith("chi2"):
            return trial
    return None


class MutualInformationIndependenceTest(BaseTest):
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
        table = binned.counts_of(slice(0, n_data)) if referenced else binned.table
        n = n_data
        dof = (d_s - 1) * (d_y - 1)
        details = {"null": self.method, "requested_method": self.method}
        null = sim_table = mi_sim = q = shift = None
        if not referenced:
            # Judged on the marginal counts before anything costly, so a refusal is quick.
            rows, cols = table.sum(axis=1), table.sum(axis=0)
            q, shift = _williams_of_margins(rows, cols)
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
        mi = mutual_information(table)

        if referenced:
            pooled = binned.table.ravel()
            sim_table = binned.table - table
            mi_sim = mutual_information(sim_table)
            statistic = mi - mi_sim
            null = self._resample_relabelled(pooled, n_data, (d_s, d_y))
            tail = functools.partial(_relabelling_tail, n_data=n_data, n_sim=n_sim, dof=dof)
            log_p, kind, info = _resampled_log_pvalue(null, statistic, tail, extrapolate=True)
            details.update(info)
        elif details["null"] == "asymptotic":
            statistic = mi
            # The reference's law exactly where it holds; Williams' corrected one next to it.
            scale = 1.0 if regime == "chi2" else q
            log_p, kind = log_gamma_sf(dof / 2.0, n * mi / scale), ASYMPTOTIC
            details["pvalue_source"] = regime
        else:
            statistic = mi
            null_name = details["null"]
            null = self._resample(null_name, binned.s_index, binned.y_index, table)
            if null_name == "permutation":
                # Compared through the same arithmetic as the permutation resamples.
                observed = _fixed_margin_mi(table.ravel(), *_margin_terms(rows, cols))
            else:
                observed = mi
            log_p, kind, info = _resampled_log_pvalue(
                null, observed, _gamma_tail, extrapolate=self.method == "asymptotic"
            )
            if "note" in info and "note" in details:
                info["note"] = details["note"] + " " + info["note"]
            details.update(info)

        self.n_bins_ = (d_s, d_y)
        self.s_edges_ = binned.s_edges
        self.y_edges_ = binned.y_edges
        self.contingency_ = table
        self.contingency_simulation_ = sim_table
        self.mutual_information_ = mi
        self.mutual_information_simulation_ = mi_sim
        self.dof_ = dof
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
                n_simulation=int(n_sim),
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

    def _resample(self, method, s_index, y_index, table):
        if method == "permutation":
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
            desc=f"MI {method}",
        )
