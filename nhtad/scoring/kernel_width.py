"""The Gaussian width the NPLM-Falkon recipe uses: a percentile of pairwise reference distances."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

__all__ = ["candidate_sigma"]


def candidate_sigma(reference, percentile=90, *, n_points: int = 2000, decimals: int | None = 1):
    """Percentile of the pairwise distances of the first ``n_points`` reference events.

    This is NPLM-FLK's ``candidate_sigma(ref[:2000], perc=90)``
    (``np.around(np.percentile(pdist(X), 90), 1)``; ``reference/nplm_falkon.md`` Sec. 6):
    the 90th percentile gives a smooth kernel, on the scale of the whole distribution.

    Parameters
    ----------
    reference : ndarray of shape (n_reference, n_features)
        Reference (background) events, already standardised if the features need it. The first
        rows are used, so shuffle an ordered sample first.
    percentile : float or sequence of float, default=90
        Percentile(s) in (0, 100].
    n_points : int, default=2000
        Number of reference rows the distances are taken over (``n_points (n_points - 1) / 2``
        pairs).
    decimals : int or None, default=1
        Round to this many decimals, as the recipe does (so published widths are hit exactly);
        ``None`` keeps the raw value.

    Returns
    -------
    float or ndarray
        One width per percentile.
    """
    reference = np.asarray(reference, dtype=np.float64)
    if reference.ndim != 2 or reference.shape[0] < 2:
        raise ValueError(
            "the kernel width needs at least 2 reference events (rows with y == 0) to measure "
            f"pairwise distances; got shape {reference.shape}. Pass sigma explicitly instead."
        )
    q = np.asarray(percentile, dtype=np.float64)
    if np.any(~((q > 0) & (q <= 100))):
        raise ValueError(f"sigma_percentile must lie in (0, 100]; got {percentile!r}.")
    widths = np.percentile(pdist(reference[:n_points]), q)
    if decimals is not None:
        widths = np.around(widths, decimals)
    if np.any(widths <= 0):
        raise ValueError(
            f"the {percentile!r}th percentile of pairwise reference distances is {widths!r} "
            f"after rounding to {decimals} decimals: the features are on a tiny scale or the "
            "reference events coincide. Standardise the features (standardize=True), set "
            "sigma_decimals=None, or pass sigma explicitly."
        )
    return float(widths) if widths.ndim == 0 else widths
