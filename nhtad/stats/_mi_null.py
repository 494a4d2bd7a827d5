"""The binned mutual information and the laws of its null distribution.

The statistic of :class:`~nhtad.stats.MutualInformationIndependenceTest` (Kamenik & Szewc,
PLB 840 (2023) 137836) and everything its p-value may come from:

- the chi-square law of ``2 N I`` (plain, or with Williams' correction, :mod:`._williams`) and
  the rule that decides where it holds (:func:`_asymptotic_regime`, the thresholds below, and
  :func:`_rel_uncertainty_for_law`, the binning that would restore it);
- the resampled nulls: permutations of ``y`` against ``s`` with the marginals fixed, the
  parametric bootstrap of the reference code, and the relabelling of pooled data and simulation;
- the tail laws fitted to resamples where too few reach the observed statistic (a
  Satterthwaite Gamma law, a Pearson type III law) and the choice between the empirical
  p-value, the law and a bound (:func:`_resampled_log_pvalue`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import special

from ._williams import williams_of_margins
from .base import ASYMPTOTIC, BOUND, RESAMPLED
from .binning import min_count_for
from .contingency import bin_resonant, bin_scores
from .pvalues import _count_at_least, log_gamma_sf

__all__ = [
    "mutual_information",
    "MAX_CHI2_SHIFT",
    "MAX_WILLIAMS_SHIFT",
    "MAX_PERMUTATION_SHIFT",
    "MIN_WILLIAMS_EXPECTED",
    "MIN_TAIL_COUNT",
]

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
    the coarsest that works. Only the marginal counts matter (:func:`williams_of_margins`), so
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
        _, shift = williams_of_margins(rows, cols)
        expected_min = rows.min() * cols.min() / s.size
        if _asymptotic_regime(shift, expected_min).startswith("chi2"):
            return trial
    return None
