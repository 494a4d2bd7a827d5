"""Null distributions against their asymptotic law: the MI null and its Gamma law.

Kamenik & Szewc 2023, Fig. 3.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..utils.validation import check_events_vector, check_positive_int
from ._style import legend_if_several, new_axes, set_title

__all__ = ["plot_mi_null"]


def plot_mi_null(result_or_null, observed=None, *, dof=None, n_events=None, ax=None):
    """Null distribution of the mutual information against its Gamma law.

    Reproduces Fig. 3 of Kamenik & Szewc, PLB 840 (2023) 137836: the histogram (density) of
    the MI statistic ``Î`` on null resamples, the asymptotic density of ``Î``,
    ``Gamma(shape=dof/2, scale=1/N)`` (equivalently ``2 N Î ~ chi2(dof)``), the observed value
    as a vertical line and a box with p and Z. The paper's toys were a parametric Poisson
    bootstrap; a permutation null (``MutualInformationIndependenceTest(method="permutation")``)
    is exact given the marginals.

    Parameters
    ----------
    result_or_null : TestResult or array-like of shape (n_resamples,)
        A :class:`~nhtad.stats.TestResult` of
        :class:`~nhtad.stats.MutualInformationIndependenceTest` (statistic, null resamples,
        ``n_events``, p and Z are read from it, and of its details only ``details["null"]``,
        the null used, default ``result.method``, and ``details["dof"]``; an asymptotic result
        has no histogram, a ``"simulation"`` null no Gamma curve), or the null statistics
        themselves, in nats.
    observed : float, optional
        Observed MI in nats, with a null array only; its p-value is
        ``(1 + #{null >= observed}) / (1 + n)``.
    dof : int, optional
        ``(d_s - 1)(d_y - 1)``, with a null array only; needed, with ``n_events``, for the
        Gamma curve.
    n_events : int, optional
        Number of events N of the test, with a null array only.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on; a new pyplot-free figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: the null histogram, the Gamma density, the observed value and
        the p/Z box, as far as the input provides them.

    Raises
    ------
    ValueError
        On a non-finite null or observed value, a non-positive ``dof`` or ``n_events``, or
        ``observed``/``dof``/``n_events`` passed together with a TestResult.
    """
    from scipy import stats as sps

    from ..stats.pvalues import empirical_log_pvalue, log_gamma_sf, log_pvalue_to_significance

    xlabel = r"mutual information $\hat{I}$ [nats]"
    lines = []
    if hasattr(result_or_null, "null_distribution") and hasattr(result_or_null, "details"):
        result = result_or_null
        given = {"observed": observed, "dof": dof, "n_events": n_events}
        clash = [k for k, v in given.items() if v is not None]
        if clash:
            raise ValueError(
                f"{', '.join(clash)} are read from the TestResult; pass them only with a plain "
                f"array of null statistics."
            )
        details = result.details
        null = result.null_distribution
        observed = float(result.statistic)
        kind = details.get("null", result.method)
        if kind == "simulation":
            # I_data - I_sim has no Gamma law; only the relabelling null applies.
            dof = n_events = None
            xlabel = r"$\hat{I}_{\rm data} - \hat{I}_{\rm sim}$ [nats]"
        else:
            dof = details.get("dof")
            n_events = result.n_events or None
        lines.append(f"p = {result.pvalue:.3g} ({kind})")
        lines.append(f"Z = {result.significance:.2f}")
        gamma_p_shown = kind == "asymptotic"
    else:
        null = check_events_vector(result_or_null, "null distribution")
        kind = "resampled"
        if observed is not None:
            if isinstance(observed, bool) or not isinstance(observed, numbers.Real):
                raise ValueError(f"observed must be a number; got {observed!r}.")
            observed = float(observed)
            if not math.isfinite(observed):
                raise ValueError(f"observed must be finite; got {observed!r}.")
            # A figure says it in its text: at the floor p is an upper bound and Z a lower one.
            log_p = empirical_log_pvalue(null, observed, warn_floor=False)
            floor = observed > null.max()
            lines.append(f"p {'<=' if floor else '='} {math.exp(log_p):.3g} (toys)")
            lines.append(f"Z {'>=' if floor else '='} {log_pvalue_to_significance(log_p):.2f}")
        dof = None if dof is None else check_positive_int(dof, "dof")
        n_events = None if n_events is None else check_positive_int(n_events, "n_events")
        gamma_p_shown = False
    has_gamma = dof is not None and n_events is not None
    if observed is not None and has_gamma and not gamma_p_shown:
        log_p = float(log_gamma_sf(dof / 2.0, n_events * observed))
        lines.append(
            f"Gamma: p = {math.exp(log_p):.3g}, Z = {log_pvalue_to_significance(log_p):.2f}"
        )

    ax = new_axes(ax)
    right = []
    if null is not None:
        n_hist = int(np.clip(np.sqrt(null.size), 10, 60))
        ax.hist(
            null,
            bins=n_hist,
            density=True,
            histtype="stepfilled",
            color="tab:blue",
            alpha=0.35,
            edgecolor="tab:blue",
            label=f"null resamples ({kind}, n = {null.size})",
        )
        right.append(null.max())
    if has_gamma:
        law = sps.gamma(a=dof / 2.0, scale=1.0 / n_events)
        lo = law.ppf(1e-7)
        hi = max([law.isf(1e-6), *right, observed if observed is not None else 0.0])
        x = np.linspace(lo, hi, 1024)
        ax.plot(
            x,
            law.pdf(x),
            color="tab:red",
            linewidth=1.5,
            label=rf"Gamma(dof/2 = {dof / 2:g}, scale = 1/N), N = {n_events}",
        )
    if observed is not None:
        ax.axvline(
            observed,
            color="k",
            linestyle="--",
            linewidth=1.5,
            label=rf"observed $\hat{{I}}$ = {observed:.3g} nats",
        )
    if lines:
        ax.text(
            0.97,
            0.97,
            "\n".join(lines),
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize="small",
            bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "0.6", "alpha": 0.9},
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("probability density [1/nats]")
    set_title(ax, "Mutual information under the null")
    # Head room for the legend (top left) and the p/Z box (top right) above the curves.
    bottom, top = ax.get_ylim()
    ax.set_ylim(bottom, bottom + 1.45 * (top - bottom))
    legend_if_several(ax, loc="upper left", fontsize="small")
    return ax
