"""p-values of observed statistics against toys: empirical, or extrapolated by a fitted law.

What :meth:`ToyCalibrator.pvalue <nhtad.calibration.ToyCalibrator.pvalue>` computes. The
empirical p-value ``(1 + #{t_null >= t}) / (1 + n)`` (Phipson & Smyth 2010) cannot go below
``1 / (n + 1)``; at that floor :class:`~nhtad.stats.ToyFloorWarning` says so and quotes the
chi-square fitted to the toys where it describes them. ``extrapolate="chi2"`` uses that law
instead (NPLM's recipe, Letizia et al., EPJC 82, 879 (2022), arXiv:2204.02317).
"""

from __future__ import annotations

import numpy as np

from ..stats.chi2_fit import MIN_KS_PVALUE, chi2_extrapolation, warn_floor_with_chi2
from ..stats.pvalues import empirical_log_pvalue

__all__ = ["toy_log_pvalue", "EXTRAPOLATIONS"]

#: Laws :func:`toy_log_pvalue` can extrapolate with (``None``: the toys alone).
EXTRAPOLATIONS = (None, "chi2")


def toy_log_pvalue(
    null,
    t,
    *,
    ties="conservative",
    random_state=None,
    extrapolate=None,
    min_ks_pvalue=MIN_KS_PVALUE,
):
    """``log p`` of one observed value per column of toys.

    Parameters
    ----------
    null : ndarray of shape (n_toys, n_statistics)
        Null statistics of the toys, one column per statistic.
    t : ndarray of shape (n_statistics,)
        Observed statistics.
    ties : {"conservative", "randomized"}, default="conservative"
        Tie handling of the empirical p-value (:func:`nhtad.stats.empirical_pvalue`).
    random_state : None, int or SeedSequence
        Draws the uniforms of ``ties="randomized"``.
    extrapolate : {None, "chi2"}, default=None
        ``None``: the empirical p-value, with a :class:`~nhtad.stats.ToyFloorWarning` for a
        value beyond every toy. ``"chi2"``: the chi-square fitted to each column of toys
        (:func:`nhtad.stats.chi2_extrapolation`); ``ties`` and ``random_state`` play no part.
    min_ks_pvalue : float, default=0.05
        Smallest KS p-value of the chi-square fit that is accepted (``"chi2"`` refuses a
        worse fit) or quoted (in the floor warning).

    Returns
    -------
    ndarray of shape (n_statistics,)

    Raises
    ------
    ValueError
        For an unknown ``extrapolate``, or a chi-square fit below ``min_ks_pvalue``.
    """
    if extrapolate not in EXTRAPOLATIONS:
        raise ValueError(
            f"extrapolate must be None (the toys' empirical p-value) or 'chi2' (the chi-square "
            f"fitted to the toys); got {extrapolate!r}."
        )
    if extrapolate == "chi2":
        # A handful of statistics, each with its own law fitted to its own toys.
        return np.array(
            [
                chi2_extrapolation(null[:, j], t[j], min_ks_pvalue=min_ks_pvalue).log_pvalue
                for j in range(t.size)
            ]
        )
    out = empirical_log_pvalue(null, t, ties=ties, random_state=random_state, warn_floor=False)
    warn_floor_with_chi2(null, t, what="toys", min_ks_pvalue=min_ks_pvalue)
    return out
