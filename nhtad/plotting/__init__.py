"""Figures of the reproduced analyses: jet-mass shift, score PDFs, the MI null, power curves.

Every plotting function takes arrays or nhtad result objects and an optional ``ax``; without
one it draws on a new :class:`matplotlib.figure.Figure` that is *not* registered with pyplot,
so nothing global is created, shown or closed (safe in scripts, notebooks and tests). Save it
with :func:`save_figure` or ``ax.figure.savefig``. Axes are labelled with units, a legend is
drawn where there is more than one series, and no function sets ``text.usetex`` (the original
notebooks needed a LaTeX installation for that).

matplotlib is imported inside the functions, so ``import nhtad`` (and ``import
nhtad.plotting``) does not import it.

- :func:`plot_mass_shift`: Kamenik & Szewc, PLB 840 (2023) 137836, Fig. 1
  (:mod:`~nhtad.plotting.mass_shift`);
- :func:`plot_score_distributions`: the same paper's Fig. 2
  (:mod:`~nhtad.plotting.score_distributions`);
- :func:`plot_mi_null`: the same paper's Fig. 3 (:mod:`~nhtad.plotting.null_distributions`);
- :func:`plot_null_fit`: null toys (log y) against their fitted chi-square, with the observed
  value and its empirical and extrapolated Z (:mod:`~nhtad.plotting.null_fit`);
- :func:`plot_power_curves`: the power curves of Grosso & Letizia, arXiv:2408.12296
  (:mod:`~nhtad.plotting.power_curves`);
- :func:`plot_smooth_trend`: the score-bin shares per m_jj bin against the fitted smooth trend
  of a :class:`~nhtad.stats.SmoothTrendIndependenceTest` (:mod:`~nhtad.plotting.smooth_trend`);
- :func:`plot_scan`: local Z along a signal-region scan with the local Z of global 1, 2, 3
  sigma (:mod:`~nhtad.plotting.scan`);
- :func:`save_figure`: write a PNG atomically, creating the folders
  (:mod:`~nhtad.plotting.saving`);
- :func:`median_significance_table`: deprecated; the table is text, not a figure, and is now
  :func:`nhtad.utils.tables.median_significance_table`.
"""

from __future__ import annotations

import warnings

from ..utils import tables as _tables
from .mass_shift import plot_mass_shift
from .null_distributions import plot_mi_null
from .null_fit import plot_null_fit
from .power_curves import plot_power_curves
from .saving import save_figure
from .scan import plot_scan
from .score_distributions import plot_score_distributions
from .smooth_trend import plot_smooth_trend

__all__ = [
    "plot_mass_shift",
    "plot_score_distributions",
    "plot_mi_null",
    "plot_null_fit",
    "plot_power_curves",
    "plot_smooth_trend",
    "plot_scan",
    "median_significance_table",
    "save_figure",
]


def median_significance_table(rows, *, fmt="markdown", digits=2):
    """Deprecated alias of :func:`nhtad.utils.tables.median_significance_table`.

    .. deprecated:: 0.1.0
        Tables are text, not figures: call :func:`nhtad.utils.tables.median_significance_table`
        (same arguments, same text). This alias goes in the next release.

    Parameters
    ----------
    rows : mapping of str to mapping
        See :func:`nhtad.utils.tables.median_significance_table`.
    fmt : {"markdown", "csv"}, default="markdown"
        See :func:`nhtad.utils.tables.median_significance_table`.
    digits : int, default=2
        See :func:`nhtad.utils.tables.median_significance_table`.

    Returns
    -------
    str

    Warns
    -----
    FutureWarning
        On every call.
    """
    warnings.warn(
        "nhtad.plotting.median_significance_table is deprecated and will be removed in the next "
        "release; use nhtad.utils.tables.median_significance_table (same arguments and output).",
        FutureWarning,
        stacklevel=2,
    )
    return _tables.median_significance_table(rows, fmt=fmt, digits=digits)
