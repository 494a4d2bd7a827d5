"""Progress bars for long work; silent when ``verbose=0``."""

from __future__ import annotations

__all__ = ["progress"]


def progress(iterable, *, total=None, verbose=0, desc=None):
    """Wrap ``iterable`` in a tqdm bar when ``verbose`` is truthy, else return it unchanged."""
    if not verbose:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)
