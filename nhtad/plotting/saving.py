"""Writing a figure to disk: atomically, creating folders, without touching pyplot."""

from __future__ import annotations

import logging
from pathlib import Path

from ..utils.atomic import atomic_output
from ..utils.validation import check_positive_int

__all__ = ["save_figure"]

logger = logging.getLogger(__name__)


def _root_figure(fig_or_ax):
    """The top-level Figure of an Axes, SubFigure or Figure."""
    from matplotlib.figure import Figure

    obj = fig_or_ax
    for _ in range(8):
        if isinstance(obj, Figure):
            return obj
        try:
            obj = obj.get_figure(root=True)  # matplotlib >= 3.10
        except TypeError:
            obj = obj.figure
        except AttributeError:
            break
    raise ValueError(
        f"expected a matplotlib Figure or Axes; got {type(fig_or_ax).__name__}: {fig_or_ax!r}."
    )


def save_figure(fig_or_ax, path, *, dpi=120, overwrite=False):
    """Save a figure (or the figure of an Axes) as a PNG, creating parent folders.

    Nothing is closed and no pyplot state is touched. A ``path`` without a suffix gets
    ``.png``; another suffix (``.pdf``, ``.svg``) saves in that format. The figure is written
    to a temporary file in the same folder and renamed onto ``path`` when complete, so an
    interrupted save leaves no partial image and an existing one intact.

    Parameters
    ----------
    fig_or_ax : matplotlib.figure.Figure or matplotlib.axes.Axes
        The figure, or any Axes of it (the whole top-level figure is saved).
    path : str or os.PathLike
        File to write; missing parent folders are created.
    dpi : int, default=120
        Resolution in dots per inch.
    overwrite : bool, default=False
        Replace an existing ``path``; without it an existing file is refused.

    Raises
    ------
    ValueError
        If ``fig_or_ax`` is neither a Figure nor an Axes, or ``dpi`` is not a positive integer.
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    fig = _root_figure(fig_or_ax)
    dpi = check_positive_int(dpi, "dpi")
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, overwrite=overwrite) as fh:
        # A file object carries no suffix, so the format is passed explicitly.
        fig.savefig(fh, format=path.suffix[1:].lower(), dpi=dpi)
    logger.debug("saved figure to %s", path)
    return path
