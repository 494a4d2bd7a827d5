"""Power against significance with Clopper-Pearson bands (Grosso & Letizia, arXiv:2408.12296)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._style import new_axes, set_title

__all__ = ["plot_power_curves"]


def plot_power_curves(curves, *, ax=None):
    """Power against the significance Z_alpha, with Clopper-Pearson bands.

    The power curves of Grosso & Letizia, arXiv:2408.12296: for each test
    or combination, the fraction of signal toys rejected at ``alpha = 1 - Phi(Z)`` on a
    threshold calibrated with null toys, and its Clopper-Pearson interval as a band.

    Parameters
    ----------
    curves : mapping of str to PowerAtSignificance
        Label of each curve and its :class:`~nhtad.calibration.PowerAtSignificance`, computed
        with :func:`~nhtad.calibration.power_at_significance` at one or (for a curve) several
        significances.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: one line per curve, its Clopper-Pearson interval as a band.

    Raises
    ------
    ValueError
        If ``curves`` is empty or not a mapping, an entry lacks the fields of
        ``PowerAtSignificance`` or holds non-finite or mismatched values.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError(
            "curves must be a non-empty mapping {label: PowerAtSignificance}; got "
            f"{type(curves).__name__}."
        )
    ax = new_axes(ax)
    confidences = set()
    for label, curve in curves.items():
        try:
            fields = [
                np.atleast_1d(np.asarray(getattr(curve, f), dtype=float))
                for f in ("significance", "power", "low", "high")
            ]
        except (AttributeError, TypeError, ValueError):
            raise ValueError(
                f"curves[{label!r}] must be a PowerAtSignificance (significance, power, low, "
                f"high); got {type(curve).__name__}."
            ) from None
        z, power, low, high = fields
        if not all(f.ndim == 1 and f.shape == z.shape for f in fields):
            raise ValueError(
                f"curves[{label!r}]: significance, power, low and high must have the same "
                f"1-D shape; got {[f.shape for f in fields]}."
            )
        if not all(np.isfinite(f).all() for f in fields):
            raise ValueError(f"curves[{label!r}] holds NaN or inf values.")
        confidences.add(getattr(curve, "confidence", None))
        order = np.argsort(z, kind="stable")
        (line,) = ax.plot(z[order], power[order], marker="o", markersize=4, label=str(label))
        ax.fill_between(
            z[order], low[order], high[order], color=line.get_color(), alpha=0.2, linewidth=0
        )
    ax.set_xlabel(r"significance $Z_\alpha$ [$\sigma$]")
    ax.set_ylabel(r"power $P(p \leq \alpha)$ (fraction of signal toys)")
    ax.set_ylim(0.0, 1.0)
    title = "Power at significance"
    if len(confidences) == 1 and None not in confidences:
        title += f" (bands: {next(iter(confidences)):.0%} Clopper-Pearson)"
    set_title(ax, title)
    ax.legend(loc="best")
    return ax
