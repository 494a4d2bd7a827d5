"""Checks and preparation of :class:`~nhtad.scoring.NPLMKernelEstimator`'s inputs.

The labels (1 data, 0 reference), the settings that must be positive finite numbers, the
standardisation moments, the Nyström centres (given as row indices or coordinates, or drawn as
falkon draws them), the torch device, and the messages that say why a fit cannot work (features
whose kernel overflows float64, a statistic that is not finite) and what to do about it.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.utils.multiclass import type_of_target

from ..utils.random import as_seed_sequence
from ..utils.validation import check_positive_finite, check_positive_int

__all__ = [
    "check_positive_finite",
    "nystrom_centres",
]


def nystrom_centres(centers, n_centers, Z, random_state, *, mean=None, scale=None):
    """The Nyström centres: their rows of ``Z`` (-1 where not a row) and their coordinates.

    Parameters
    ----------
    centers : array-like or None
        Fixed centres: an integer array of row indices of ``Z``, or an (M, n_features) array of
        coordinates in input units. None draws ``n_centers`` rows.
    n_centers : int or "sqrt"
        How many rows to draw; ``"sqrt"`` is ``int(sqrt(N))`` (kernel-nplm's default).
    Z : ndarray of shape (N, n_features)
        The pooled rows in the units the kernel sees.
    random_state : None, int, RandomState, Generator or SeedSequence
        Draws the rows as ``numpy.random.default_rng(random_state).choice(N, M,
        replace=False)``, exactly falkon's uniform centre selection for an int seed.
    mean, scale : ndarray, optional
        The standardisation of ``Z``, applied to centres given as coordinates.

    Returns
    -------
    indices : ndarray of int of shape (M,)
    coordinates : ndarray of shape (M, n_features)
    """
    n_events = Z.shape[0]
    if centers is not None:
        return _given_centres(centers, Z, mean, scale)
    if isinstance(n_centers, str):
        if n_centers != "sqrt":
            raise ValueError(f"n_centers must be a positive int or 'sqrt'; got {n_centers!r}.")
        m = max(1, int(math.sqrt(n_events)))
    else:
        m = check_positive_int(n_centers, "n_centers")
    if m > n_events:
        raise ValueError(
            f"n_centers={m} is more than the {n_events} events to draw centres from: lower "
            "n_centers (or use 'sqrt') or fit on more events."
        )
    rng = np.random.default_rng(as_seed_sequence(random_state))
    idx = rng.choice(n_events, m, replace=False)
    return idx, Z[idx]


def _given_centres(centers, Z, mean, scale):
    n_events = Z.shape[0]
    centres = np.asarray(centers)
    if centres.ndim == 1 and centres.dtype.kind in "iu":
        if centres.size == 0 or centres.min() < 0 or centres.max() >= n_events:
            raise ValueError(
                f"centers given as row indices must lie in [0, {n_events}); got "
                f"min {centres.min() if centres.size else None}, max "
                f"{centres.max() if centres.size else None}."
            )
        if np.unique(centres).size != centres.size:
            raise ValueError("centers given as row indices must not repeat rows.")
        return centres.astype(np.int64), Z[centres]
    coords = np.asarray(centers, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != Z.shape[1] or coords.shape[0] == 0:
        raise ValueError(
            f"centers must be an integer index array or an (M, {Z.shape[1]}) array of "
            f"coordinates; got shape {coords.shape}."
        )
    if not np.all(np.isfinite(coords)):
        raise ValueError("centers contain NaN or inf; pass finite coordinates.")
    if mean is not None:
        coords = (coords - mean) / scale
    return _find_rows(Z, coords), coords


def _check_data_reference_labels(y) -> np.ndarray:
    kind = type_of_target(y)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type: {kind}. y must be 1 for data events and 0 for reference events."
        )
    if kind == "multiclass":
        raise ValueError(
            "Only binary classification is supported. The type of the target is multiclass: "
            "y must be 1 for data events and 0 for reference events."
        )
    y = np.asarray(y)
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise ValueError(
            f"y must be 1 (data) or 0 (reference) for every event; got other values "
            f"{np.unique(y[bad])[:5].tolist()}. "
            "Build it as np.r_[np.ones(n_data), np.zeros(n_ref)]."
        )
    is_data = y == 1
    if is_data.all():
        raise ValueError(
            "Only one class is present in y: there are no reference events (y == 0). NPLM "
            "compares data with a reference sample of the background; add it with y = 0."
        )
    if not is_data.any():
        raise ValueError(
            "Only one class is present in y: there are no data events (y == 1). Add the data "
            "to test with y = 1."
        )
    return is_data


def _reference_moments(ref):
    """Mean and standard deviation (zero replaced by 1) of the reference rows' features."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, scale = ref.mean(axis=0), ref.std(axis=0)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
        # Sums and squares of features near 1e154 and beyond overflow float64. The moments of
        # the features divided by their largest magnitude cannot, and scale back without
        # overflow (|mean| and sd of values in [-1, 1] are at most 1). Only then, so that the
        # moments of ordinary features keep their last bits.
        unit = np.max(np.abs(ref), axis=0)
        unit = np.where(unit > 0, unit, 1.0)
        in_units = ref / unit
        mean, scale = in_units.mean(axis=0) * unit, in_units.std(axis=0) * unit
    return mean, np.where(scale > 0, scale, 1.0)


def _check_kernel_scale(Z, standardized: bool) -> None:
    """Refuse features whose squared distances overflow float64 (the kernel would be NaN).

    Such features used to reach the Cholesky factorisation of K_MM as NaN, whose failure was
    reported as "increase lam", advice that cannot help.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        # The kernel expands ||x - c||^2 = ||x||^2 + ||c||^2 - 2 x.c: up to 4 max ||x||^2.
        largest_sq = 4.0 * float(np.max(np.einsum("ij,ij->i", Z, Z)))
    if math.isfinite(largest_sq):
        return
    largest = float(np.max(np.abs(Z)))
    if standardized:
        raise ValueError(
            f"after standardisation with the reference rows' mean and standard deviation, "
            f"some events lie {largest:.3g} standard deviations away: their squared distances "
            f"in the Gaussian kernel overflow float64 (largest 1.8e308), so the kernel is "
            f"undefined. Such events are far outside the reference: check them for corrupt "
            f"values. Raising lam or changing sigma cannot fix this."
        )
    raise ValueError(
        f"the features reach |x| = {largest:.3g}: their squared distances in the Gaussian "
        f"kernel overflow float64 (largest 1.8e308, reached from |x| near 1e154), so the kernel is "
        f"undefined. Put the features on a scale of order 1: standardize=True, or divide them "
        f"by their typical size. Raising lam or changing sigma cannot fix this."
    )


def _nonfinite_statistic_message(f, is_data, weight) -> str:
    """Why t = 2 sum_D f - 2 w sum_R (e^f - 1) is not finite, and what to do about it."""
    f = np.asarray(f, dtype=np.float64)
    if not np.all(np.isfinite(f)):
        n_bad = int(np.count_nonzero(~np.isfinite(f)))
        return (
            f"the NPLM statistic is not finite: the fitted log-ratio f is NaN or inf on {n_bad} "
            f"of {f.size} events, so the Newton solve diverged. Standardise the features "
            f"(standardize=True), raise lam or widen sigma."
        )
    f_ref = f[~np.asarray(is_data)]
    # exp overflows float64 above log(1.8e308) = 709.8.
    if f_ref.size and f_ref.max() > 709.0:
        return (
            f"the NPLM statistic is not finite: the fitted log-ratio f reaches "
            f"{f_ref.max():.3g} on reference events, where exp(f) overflows (above ~709). The "
            f"fit ran away: the kernel isolates single events with too little penalty. Raise "
            f"lam, widen sigma, or use the one-step recipe (loss='falkon', solver='auto')."
        )
    return (
        f"the NPLM statistic is not finite: w * sum_R exp(f) overflows with f at most "
        f"{f.max():.3g} but the reference weight w = expected_n_data / N_ref = {weight:.3g}. "
        f"Check expected_n_data: it is the number of data events expected under the null."
    )


def _check_device(torch, device):
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available in this torch build; "
            "use device='cpu'."
        )
    return dev


def _find_rows(Z, coords):
    """Index of each centre among the rows of Z (-1 where it is not a row), without a loop."""
    both = np.ascontiguousarray(np.vstack([Z, coords]))
    rows = both.view(np.dtype((np.void, both.dtype.itemsize * both.shape[1]))).ravel()
    _, inverse = np.unique(rows, return_inverse=True)
    inverse = inverse.ravel()
    first = np.full(inverse.max() + 1, -1, dtype=np.int64)
    n = Z.shape[0]
    # Assign in reverse so that the first occurrence in Z wins.
    first[inverse[:n][::-1]] = np.arange(n)[::-1]
    return first[inverse[n:]]
