"""O(n log^2 n) sums over ordered pairs of events, vectorised, for rank and distance statistics.

Distance covariance (Huo & Szekely, Technometrics 58 (2016) 435) and Hoeffding's D need, for
every event i, sums over the events j that lie below it in both variables. With the events
sorted by x these are two-dimensional dominance sums, computed here by a bottom-up merge over
blocks of 1, 2, 4, ... events: at each level every event in a right half-block collects, with one
vectorised search, the weights of the events in the left half-block with a smaller y. There are
log2(n) levels, each a sort and a search over n/2 events, and no Python loop over events.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dominance_sums", "random_ranks"]


def dominance_sums(y_rank: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each position i: ``sum_{j < i, y_rank[j] < y_rank[i]} weights[j]``.

    Parameters
    ----------
    y_rank : ndarray of int, shape (n,)
        Integer ranks in [0, n) of y, the events being in ascending order of x. Equal ranks
        (ties) are *not* counted as smaller.
    weights : ndarray of shape (n, m)
        Columns of weights to sum (e.g. 1, x, y, x*y).

    Returns
    -------
    ndarray of shape (n, m)
    """
    n = y_rank.size
    weights = np.asarray(weights)
    out = np.zeros(weights.shape, dtype=np.result_type(weights.dtype, np.float64))
    position = np.arange(n, dtype=np.int64)
    rank = y_rank.astype(np.int64)
    width = 1
    while width < n:
        block = position // (2 * width)
        right = (position // width) % 2 == 1
        left = ~right
        # Keys order the left halves by block, then by rank, so one global search serves all blocks.
        left_keys = block[left] * n + rank[left]
        order = np.argsort(left_keys, kind="stable")
        left_keys = left_keys[order]
        cumulative = np.zeros((left_keys.size + 1, weights.shape[1]), dtype=out.dtype)
        np.cumsum(weights[left][order], axis=0, out=cumulative[1:])
        right_block = block[right]
        below = np.searchsorted(left_keys, right_block * n + rank[right], side="left")
        block_start = np.searchsorted(left_keys, right_block * n, side="left")
        out[right] += cumulative[below] - cumulative[block_start]
        width *= 2
    return out


def random_ranks(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ranks 0..n-1 of ``values`` with ties broken uniformly at random.

    Random tie-breaking keeps the ranks of a tied variable exchangeable, so rank statistics keep
    their distribution-free null law (the point masses of trained scores are common).
    """
    order = np.lexsort((rng.random(values.size), values))
    ranks = np.empty(values.size, dtype=np.int64)
    ranks[order] = np.arange(values.size)
    return ranks
