"""Checks that an anomaly score did not learn the resonant variable.

Kamenik & Szewc validate SA-CWoLa by the area under the ROC curve of s for signal region vs
sidebands on background (0.5 when s carries no region information) and by the signal-vs-
background AUC when truth is known. The simulation is the natural place for the first check
(it is background by construction and its scores are out-of-fold too), together with the MI
test itself on the simulation's (s, m_jj).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from ..datasets.regions import SignalRegion
from ..stats.base import TestResult
from ..stats.mutual_info import MutualInformationIndependenceTest
from ..utils.summary import aligned, format_pvalue, format_significance
from ..utils.validation import check_events_vector
from .weights import check_simulation_flags

__all__ = ["DecorrelationReport", "decorrelation_report"]

#: An AUC further than this many standard errors from 0.5 is flagged as knowing the region.
_AUC_STANDARD_ERRORS = 3.0
#: The MI test on simulation is flagged from this Z on (the conventional evidence level).
_EVIDENCE_Z = 3.0


@dataclass(frozen=True, eq=False)
class DecorrelationReport:
    """Decorrelation diagnostics of an out-of-fold score.

    Attributes
    ----------
    auc_simulation_region : float or None
        AUC of s for signal region vs sidebands on simulation (0.5 = blind to the region).
    mi_simulation : TestResult or None
        The MI independence test of (s, m_jj) on simulation. A significant result means s
        depends on m_jj in background-like events: either s learned the background's
        correlations or the simulation differs from data where the score looks.
    auc_background_region : float or None
        The reference's check: AUC of s, signal region vs sidebands, on the truth-background
        data events (needs ``truth``).
    auc_signal : float or None
        Signal-vs-background AUC on data (needs ``truth`` with both classes).
    n_simulation_region : tuple of int or None
        Simulated events in the signal region and in the sidebands, the sizes behind
        ``auc_simulation_region`` (they set its spread around 0.5).
    n_background_region : tuple of int or None
        The same for ``auc_background_region``.
    """

    auc_simulation_region: float | None
    mi_simulation: TestResult | None
    auc_background_region: float | None
    auc_signal: float | None
    n_simulation_region: tuple[int, int] | None = None
    n_background_region: tuple[int, int] | None = None

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """Each check in words: what the number means and whether it looks fine.

        An AUC of s for signal region vs sidebands on background is 0.5 when s carries no
        region information (Kamenik & Szewc, PLB 840 (2023) 137836); with ``n1`` and ``n2``
        events it spreads around 0.5 with the Mann-Whitney standard error
        ``sqrt((n1 + n2 + 1) / (12 n1 n2))``, and one further than three standard errors is
        flagged. The sidebands flank the signal region, so a score that rises steadily across
        the whole window keeps this AUC near 0.5; the MI test on simulation, flagged from
        Z = 3, sees such a trend.

        Returns
        -------
        str
            Several lines, for a person to read; ``str(report)`` gives the same text.
        """
        mi = self.mi_simulation
        rows = [
            (
                "AUC SR vs SB, simulation",
                _region_auc_text(self.auc_simulation_region, self.n_simulation_region, "simulated"),
            ),
            ("MI test on simulation", _mi_text(mi)),
            (
                "AUC SR vs SB, true background",
                _region_auc_text(
                    self.auc_background_region, self.n_background_region, "truth-background data"
                ),
            ),
            ("AUC signal vs background", _signal_auc_text(self.auc_signal)),
        ]
        return "\n".join(["DecorrelationReport: did the anomaly score learn m_jj?", *aligned(rows)])

    def as_dict(self) -> dict:
        """The numbers as a flat dict (the MI test as its Z and p)."""
        mi = self.mi_simulation
        return {
            "auc_simulation_region": self.auc_simulation_region,
            "mi_simulation_Z": None if mi is None else mi.significance,
            "mi_simulation_p": None if mi is None else mi.pvalue,
            "auc_background_region": self.auc_background_region,
            "auc_signal": self.auc_signal,
        }


def _auc(labels, scores):
    return float(roc_auc_score(labels, scores)) if np.unique(labels).size == 2 else None


def _region_counts(labels):
    """(signal-region, sideband) event counts of some region labels."""
    n_sr = int(np.count_nonzero(labels))
    return n_sr, int(labels.size - n_sr)


def _region_auc_text(auc, counts, events) -> str:
    if auc is None:
        return "not computed (needs simulation or truth, and both regions populated)"
    text = f"{auc:.4f} (0.5 = blind to the region)"
    if counts is None or min(counts) == 0:
        return text + "; no event counts to judge the deviation"
    n1, n2 = counts
    error = np.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2))
    pulls = abs(auc - 0.5) / error
    text = f"{auc:.4f} +- {error:.4f}, {pulls:.1f} standard errors from 0.5 (0.5 = blind)"
    if pulls <= _AUC_STANDARD_ERRORS:
        return (
            f"{text}: looks fine, the score is blind to the region on {events} events (a "
            f"trend across the whole window can still hide here; the MI test sees it)."
        )
    return (
        f"{text}: CHECK: the score tells the signal region from the sidebands on {events} "
        f"events, so it depends on m_jj without signal; an independence null (plain MI) would "
        f"fake a discovery: use the default smooth-trend null or toys."
    )


def _mi_text(mi) -> str:
    if mi is None:
        return "not computed (needs simulation)"
    text = (
        f"Z = {format_significance(mi.significance)}, "
        f"p = {format_pvalue(mi.pvalue, mi.log_pvalue)} (s vs m_jj independence)"
    )
    if mi.significance < _EVIDENCE_Z:
        return f"{text}: looks fine, no significant dependence of s on m_jj in simulation."
    return (
        f"{text}: CHECK: s depends on m_jj in background-like events: the score learned the "
        f"background's m_jj correlations or the simulation differs from data where the score "
        f"looks."
    )


def _signal_auc_text(auc) -> str:
    if auc is None:
        return "not computed (needs truth with signal and background)"
    return (
        f"{auc:.4f}: how well the score ranks signal above background (0.5 = no separation, "
        f"1 = perfect); it is where the tests' power comes from."
    )


def decorrelation_report(
    s, mjj, *, is_simulation=None, truth=None, region=None, mi_test=None
) -> DecorrelationReport:
    """Decorrelation diagnostics of out-of-fold scores of data and simulation events.

    Parameters
    ----------
    s : array-like of shape (n_events,)
        Out-of-fold scores of all events (data and simulation), e.g.
        :attr:`OutOfFoldScores.scores`.
    mjj : array-like of shape (n_events,)
        Resonant mass of every event, inside ``region.window``.
    is_simulation : array-like of bool, default=None
        Marks simulated events; without it the simulation checks are ``None``.
    truth : array-like of shape (n_events,), default=None
        1 = signal, 0 = background, for data events (simulation rows are ignored, but must be
        finite). Any other value is refused.
    region : SignalRegion, default=None
        Regions for the AUC checks; default ``SignalRegion()``.
    mi_test : MutualInformationIndependenceTest, default=None
        Test run on the simulation; default ``MutualInformationIndependenceTest()``.

    Returns
    -------
    DecorrelationReport
    """
    s = check_events_vector(s, "s")
    mjj = check_events_vector(mjj, "mjj")
    if s.shape != mjj.shape:
        raise ValueError(f"s and mjj must have the same length; got {s.size} and {mjj.size}.")
    region = SignalRegion() if region is None else region
    labels = region.labels(mjj)
    sim = (
        np.zeros(s.size, bool)
        if is_simulation is None
        else check_simulation_flags(is_simulation, s.size)
    )
    auc_sim = mi_sim = auc_bkg = auc_sig = n_sim = n_bkg = None
    if sim.any():
        auc_sim = _auc(labels[sim], s[sim])
        n_sim = _region_counts(labels[sim])
        test = MutualInformationIndependenceTest() if mi_test is None else mi_test
        mi_sim = test.test(s[sim], mjj[sim])
    if truth is not None:
        truth = check_events_vector(truth, "truth")
        if truth.shape != s.shape:
            raise ValueError("truth must hold one label per event (simulation rows ignored).")
        data = ~sim
        # A third value would drop out of both classes and auc_signal would silently vanish.
        labels_found = np.unique(truth[data])
        bad = labels_found[(labels_found != 0) & (labels_found != 1)]
        if bad.size:
            found = ", ".join(f"{v:g}" for v in labels_found[:10])
            others = ", ".join(f"{v:g}" for v in bad[:10])
            raise ValueError(
                f"truth must be 1 (signal) or 0 (background) for every data event; got the "
                f"values {found}, of which {others} are neither. Map the labels to 0/1 (e.g. "
                f"truth == signal_label) before the report."
            )
        background = data & (truth == 0)
        auc_bkg = _auc(labels[background], s[background])
        n_bkg = _region_counts(labels[background])
        auc_sig = _auc(truth[data], s[data])
    return DecorrelationReport(auc_sim, mi_sim, auc_bkg, auc_sig, n_sim, n_bkg)
