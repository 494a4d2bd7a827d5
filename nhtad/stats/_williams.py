"""Williams' correction of the likelihood-ratio statistic G^2 of a contingency table.

Williams (Biometrika 63 (1976) 33) expanded the mean of ``G^2`` under its null to order
``1/N``: ``E[G^2] = dof q`` with ``q = 1 + (sum over cells of 1/mu - margin terms) / (6 dof)``.
The binned tests use it two ways:

- for the test of independence, where the fitted counts are products of the margins, the
  expansion is exact to that order and depends on the marginal counts only
  (:func:`williams_correction`, :func:`williams_of_margins`);
- for models fitted otherwise (the no-three-way model, the smooth-trend model), only its leading
  term ``sum(1/mu) / 6`` is used (:func:`williams_leading_term`): the omitted margin terms are
  negative, so it errs on the conservative side.

In both, the excess of the mean over ``dof`` in units of the chi-square standard deviation
``sqrt(2 dof)`` measures how far sparse cells push ``G^2`` above its chi-square law. Unlike a
minimum count per cell it accounts for the number of cells: the bias adds up over cells while
the null spread grows only like ``sqrt(dof)``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["williams_correction", "williams_of_margins", "williams_leading_term"]


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
    return williams_of_margins(table.sum(axis=1), table.sum(axis=0))


def williams_of_margins(rows, cols) -> tuple[float, float]:
    """:func:`williams_correction` from the marginal counts alone.

    ``q`` depends on the margins only, so a binning can be judged before, or without, building
    its table.

    Parameters
    ----------
    rows, cols : array-like of shape (d_s,) and (d_y,)
        Marginal counts of the score bins and of the y bins.

    Returns
    -------
    q, shift : float
        As :func:`williams_correction`; both ``inf`` if a marginal bin is empty.
    """
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    n = rows.sum()
    dof = (rows.size - 1) * (cols.size - 1)
    if (rows <= 0).any() or (cols <= 0).any():
        return math.inf, math.inf
    q = 1.0 + (n * np.sum(1.0 / rows) - 1.0) * (n * np.sum(1.0 / cols) - 1.0) / (6.0 * n * dof)
    return float(q), float((q - 1.0) * math.sqrt(dof / 2.0))


def williams_leading_term(expected, dof) -> tuple[float, float]:
    """Leading term of Williams' correction for fitted counts ``mu`` of any log-linear model.

    ``E[G^2] = dof + (1/6) sum 1/mu + ...`` (Williams, Biometrika 63 (1976) 33), the dots being
    terms of the fitted margins, of opposite sign and an order smaller. Returns the corrected
    factor and the excess over the null standard deviation ``sqrt(2 dof)``,

    .. math:: q = 1 + \\frac{\\sum 1/\\hat\\mu}{6\\,\\mathrm{dof}}, \\qquad
              b = \\frac{\\sum 1/\\hat\\mu}{6 \\sqrt{2\\,\\mathrm{dof}}}.

    Omitting the margin terms makes both lean towards overestimating the bias: dividing ``G^2``
    by ``q`` is conservative.

    Parameters
    ----------
    expected : array-like
        Fitted expected counts, any shape.
    dof : int
        Degrees of freedom of the chi-square law of ``G^2``.

    Returns
    -------
    q, shift : float
        Both ``inf`` where an expected count is 0 (an empty margin or cell, where the dof of
        the chi-square law would be wrong).
    """
    mu = np.asarray(expected, dtype=np.float64)
    if (mu <= 0).any():
        return math.inf, math.inf
    total = np.sum(1.0 / mu)
    return 1.0 + float(total) / 6.0 / dof, float(total / (6.0 * math.sqrt(2.0 * dof)))
