"""Shared input handling for the unbiased rank / distance independence tests."""

from __future__ import annotations

from ..utils.validation import check_paired_vectors, check_positive_int

_METHODS = ("asymptotic", "permutation")


def validate_rank_test(test, s, y, *, min_events: int):
    """Validate parameters and data of a pairwise independence test; return float arrays."""
    if test.method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}; got {test.method!r}.")
    if test.method == "permutation":
        check_positive_int(test.n_resamples, "n_resamples")
    s, y = check_paired_vectors(s, y)
    if s.size < min_events:
        raise ValueError(f"{type(test).__name__} needs at least {min_events} events; got {s.size}.")
    for name, values in (("s", s), ("y", y)):
        if values.min() == values.max():
            raise ValueError(
                f"{name} is constant (all {values.size} values equal {values[0]:g}), so there is "
                f"no dependence to test; check the score or the selection."
            )
    return s, y
