"""Styling shared by the figures: a pyplot-free Axes, titles that respect the caller's, legends."""

from __future__ import annotations

FIGSIZE = (6.4, 4.8)


def new_axes(ax):
    """``ax`` itself, or the axes of a new pyplot-free Figure."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, layout="constrained")
    return fig.add_subplot()


def set_title(ax, title):
    # Keep a title the caller already set on their own axes.
    if not ax.get_title():
        ax.set_title(title)


def legend_if_several(ax, first=(), **kwargs):
    """A legend when more than one series is labelled; the handles in ``first`` lead."""
    handles, labels = ax.get_legend_handles_labels()
    if len(labels) <= 1:
        return
    first = [h for h in first if h in handles]
    rest = [(h, lab) for h, lab in zip(handles, labels) if h not in first]
    handles = first + [h for h, _ in rest]
    labels = [h.get_label() for h in first] + [lab for _, lab in rest]
    ax.legend(handles, labels, **kwargs)
