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
from ..utils.validation import check_events_vector
from .weights import check_simulation_flags

__all__ = ["DecorrelationReport", "decorrelation_report"]


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
    """

    auc_simulation_region: float | None
    mi_simulation: TestResult | None
    auc_background_region: float | None
    auc_signal: float | None

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
    auc_sim = mi_sim = auc_bkg = auc_sig = None
    if sim.any():
        auc_sim = _auc(labels[sim], s[sim])
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
        auc_sig = _auc(truth[data], s[data])
    return DecorrelationReport(auc_sim, mi_sim, auc_bkg, auc_sig)
