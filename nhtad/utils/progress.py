"""Progress bars for long work; silent when ``verbose=0``."""

from __future__ import annotations

__all__ = ["progress", "progress_bar"]


def progress(iterable, *, total=None, verbose=0, desc=None):
    """Wrap ``iterable`` in a tqdm bar when ``verbose`` is truthy, else return it unchanged."""
    if not verbose:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


class _NoBar:
    """Stands in for a tqdm bar when ``verbose=0``."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass


def progress_bar(*, total, verbose=0, desc=None, unit="it"):
    """A bar of ``total`` items advanced by hand, for work that finishes items in groups.

    Parallel runs finish batches of toys or resamples; the bar counts the items
    (``bar.update(len(batch))``), so 40 toys in one batch show 0/40 then 40/40, not 1/1.

    Parameters
    ----------
    total : int
        Items in the whole run.
    verbose : int, default=0
        A tqdm bar when > 0, else an object whose ``update`` does nothing.
    desc : str, optional
        Label of the bar.
    unit : str, default="it"
        Name of one item.

    Returns
    -------
    context manager
        With ``update(n)``; the bar closes when the block ends.
    """
    if not verbose:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, unit=unit)
