"""The floor of an empirical p-value: when toys stop measuring, and how many would be needed.

An empirical p-value from ``n`` null draws (toys or resamples),
``p = (1 + #{t_null >= t}) / (1 + n)`` (Phipson & Smyth, Stat. Appl. Genet. Mol. Biol. 9 (2010)
39), is never below ``1 / (n + 1)``: an observed statistic beyond every draw gets exactly that,
and its significance ``Z = Phi^{-1}(1 - 1/(n + 1))`` is set by ``n``, not by the data (40 toys
give Z = 1.97 to any statistic beyond them). :class:`ToyFloorWarning` says so when it happens,
names the draws a target significance needs (:func:`toys_needed`) and how to go beyond the
draws: a law fitted to them, such as the chi-square of NPLM's t (Letizia et al., EPJC 82, 879
(2022), arXiv:2204.02317; :func:`nhtad.stats.chi2_extrapolation`).
"""

from __future__ import annotations

import math
import os
import sys
import warnings

import numpy as np
from scipy import special

__all__ = ["ToyFloorWarning", "toys_needed", "DEFAULT_TARGET_SIGNIFICANCE"]

#: The significance the floor warning counts toys for by default: the discovery convention.
DEFAULT_TARGET_SIGNIFICANCE = 5.0

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

_HOW_TO_EXTRAPOLATE = (
    "To go beyond the draws, extrapolate with a law fitted to them where the statistic has "
    "one: for a chi-square-like statistic (NPLM's t, a likelihood ratio) "
    "nhtad.stats.chi2_extrapolation(null, t), ToyCalibrator.significance(t, "
    "extrapolate='chi2') or NPLMTest(..., extrapolate='chi2'), which report "
    "method='extrapolated'; or run more draws."
)


def toys_needed(significance):
    """Fewest null draws whose empirical p-value can reach a one-sided significance ``Z``.

    ``n`` draws resolve p-values down to the floor ``1 / (n + 1)``, so reaching ``Z`` needs
    ``n >= 1 / p(Z) - 1`` with ``p(Z) = Phi(-Z)`` (rounded up): 740 draws for Z = 3, about 3.5
    million for Z = 5. A draw count near this bound places the observed value beyond all the
    draws; measuring its p-value to some precision needs several times more.

    Parameters
    ----------
    significance : float or array-like
        Target one-sided Gaussian significance(s) Z.

    Returns
    -------
    float or ndarray
        Number of draws (a float, since it exceeds any integer type past Z ~ 9; ``inf`` past
        Z ~ 37.5, where ``1 / p`` overflows a double).

    Raises
    ------
    ValueError
        If a significance is NaN.
    """
    z = np.asarray(significance, dtype=float)
    if np.isnan(z).any():
        raise ValueError(f"significance must not be NaN; got {significance!r}.")
    with np.errstate(over="ignore"):
        # exp(-log p) - 1 = 1/p - 1 without forming p, which underflows long before 1/p does.
        n = np.ceil(np.maximum(np.expm1(-special.log_ndtr(-z)), 0.0))
    return float(n) if n.ndim == 0 else n


def _format_count(n: float) -> str:
    if not math.isfinite(n):
        return "more than 1e308"
    return f"{n:,.0f}" if n < 1e9 else f"{n:.2g}"


class ToyFloorWarning(UserWarning):
    """An empirical p-value sits at its floor ``1 / (n + 1)``: the toys bound Z, not measure it.

    Raised (as a warning) by :func:`nhtad.stats.empirical_pvalue` and every test or calibrator
    that calibrates an observed statistic on null draws, when no draw is at least as large as
    the observed statistic. Its message names the number of draws, the floor and the Z it caps,
    the draws a target Z needs (:func:`toys_needed`), and how to extrapolate. Build one with
    :meth:`at_floor`.

    Attributes
    ----------
    n_null : int
        Number of null draws the p-value was computed from.
    floor_pvalue : float
        ``1 / (n_null + 1)``.
    floor_significance : float
        The Z of ``floor_pvalue``: the largest Z these draws can give.
    target_significance : float
        The Z the message counts draws for.
    toys_needed : float
        ``toys_needed(target_significance)``.
    n_at_floor, n_observed : int
        How many of the observed statistics sit at the floor, out of how many.
    extrapolated_significance : tuple of float
        Z of each observed statistic at the floor under an acceptable fitted law, where the
        caller had one; empty otherwise.
    """

    n_null = 0
    floor_pvalue = math.nan
    floor_significance = math.nan
    target_significance = DEFAULT_TARGET_SIGNIFICANCE
    toys_needed = math.nan
    n_at_floor = 0
    n_observed = 0
    extrapolated_significance = ()

    @classmethod
    def at_floor(
        cls,
        n_null,
        *,
        n_at_floor=1,
        n_observed=1,
        target_significance=DEFAULT_TARGET_SIGNIFICANCE,
        extrapolations=(),
        what="null draws",
    ) -> ToyFloorWarning:
        """The warning for ``n_at_floor`` of ``n_observed`` statistics beyond all ``n_null`` draws.

        Parameters
        ----------
        n_null : int
            Number of null draws.
        n_at_floor, n_observed : int, default=1
            Observed statistics at the floor, and in all.
        target_significance : float, default=5.0
            The Z whose draw count the message names.
        extrapolations : sequence of Chi2Extrapolation, optional
            The chi-square fitted to the draws and applied to each observed statistic at the
            floor (:func:`nhtad.stats.chi2_extrapolation`); the message quotes those whose
            fit is acceptable and says when a fit is not.
        what : str, default="null draws"
            What the draws are ("toys", "resamples"), for the message.

        Returns
        -------
        ToyFloorWarning
        """
        n = int(n_null)
        log_floor = -math.log1p(n)
        floor_z = float(-special.ndtri_exp(log_floor))
        needed = toys_needed(target_significance)
        if n_observed == 1:
            head = (
                f"The observed statistic lies beyond all n = {n} {what}: its empirical p-value is"
            )
        else:
            head = (
                f"{n_at_floor} of {n_observed} observed statistics lie beyond all n = {n} "
                f"{what}: their empirical p-values are"
            )
        parts = [
            f"{head} at the floor 1/(n + 1) = {math.exp(log_floor):.3g}, so Z = {floor_z:.2f} "
            "is a cap set by n, not a measurement.",
            f"Reaching Z = {target_significance:g} with {what} needs n >= 1/p(Z) - 1 = "
            f"{_format_count(needed)} (nhtad.stats.toys_needed).",
        ]
        good = [e for e in extrapolations if e.acceptable]
        for e in good[:3]:
            z = float(e.significance)
            parts.append(
                f"A chi2(dof = {e.fit.dof:.4g}) fitted to the draws (KS p = {e.fit.ks_pvalue:.2g}) "
                f"extrapolates t = {float(e.statistic):.6g} to Z = {z:.2f}, which {what} would "
                f"reach only with n = {_format_count(toys_needed(z))}; extrapolate='chi2' "
                f"reports it, labelled method='extrapolated'."
            )
        poor = [e for e in extrapolations if not e.acceptable]
        if poor:
            parts.append(
                f"A chi2 fitted to the draws is poor (KS p = {poor[0].fit.ks_pvalue:.2g} < "
                f"{poor[0].min_ks_pvalue:g}): do not extrapolate with it; run more draws or "
                f"fit a law that describes them."
            )
        if not extrapolations:
            parts.append(_HOW_TO_EXTRAPOLATE)
        warning = cls(" ".join(parts))
        warning.n_null = n
        warning.floor_pvalue = math.exp(log_floor)
        warning.floor_significance = floor_z
        warning.target_significance = float(target_significance)
        warning.toys_needed = needed
        warning.n_at_floor = int(n_at_floor)
        warning.n_observed = int(n_observed)
        warning.extrapolated_significance = tuple(float(e.significance) for e in good)
        return warning


def warn_toy_floor(warning: ToyFloorWarning) -> None:
    """Issue ``warning``, attributed to the first caller outside nhtad.

    The floor is met deep inside nhtad (a test's ``fit``, a calibrator's ``pvalue``); pointing
    the warning at the user's line is what makes it readable, and lets the default filter show
    it once per line of theirs.
    """
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(warning, stacklevel=level)
