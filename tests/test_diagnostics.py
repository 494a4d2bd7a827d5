"""decorrelation_report: the AUC and MI checks that a score did not learn m_jj."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from nhtad.datasets import SignalRegion
from nhtad.scoring import decorrelation_report
from nhtad.stats import MutualInformationIndependenceTest


@pytest.fixture(scope="module")
def events():
    rng = np.random.default_rng(0)
    n = 40_000
    mjj = rng.uniform(3100, 3900, n)
    sim = rng.random(n) < 0.5
    truth = (~sim & (rng.random(n) < 0.05)).astype(int)
    return rng, mjj, sim, truth


def test_blind_score_passes_and_signal_auc_is_reported(events):
    rng, mjj, sim, truth = events
    s = rng.normal(size=mjj.size) + 2.0 * truth
    report = decorrelation_report(
        s,
        mjj,
        is_simulation=sim,
        truth=truth,
        mi_test=MutualInformationIndependenceTest(rel_uncertainty=0.05),
    )
    assert report.auc_simulation_region == pytest.approx(0.5, abs=0.02)
    assert abs(report.mi_simulation.significance) < 3
    assert report.auc_signal == pytest.approx(roc_auc_score(truth[~sim], s[~sim]))
    assert report.auc_signal > 0.9
    assert report.auc_background_region == pytest.approx(0.5, abs=0.02)
    assert set(report.as_dict()) == {
        "auc_simulation_region",
        "mi_simulation_Z",
        "mi_simulation_p",
        "auc_background_region",
        "auc_signal",
    }


def test_score_that_learned_mjj_is_flagged(events):
    rng, mjj, sim, _ = events
    s = SignalRegion().in_signal_region(mjj) + rng.normal(size=mjj.size)
    report = decorrelation_report(
        s,
        mjj,
        is_simulation=sim,
        mi_test=MutualInformationIndependenceTest(rel_uncertainty=0.05),
    )
    assert report.auc_simulation_region > 0.7
    assert report.mi_simulation.significance > 10
    assert report.auc_signal is None and report.auc_background_region is None


def test_without_simulation_only_truth_checks(events):
    rng, mjj, _, _ = events
    s = rng.normal(size=mjj.size)
    report = decorrelation_report(s, mjj)
    assert report.auc_simulation_region is None and report.mi_simulation is None


def test_bad_input(events):
    rng, mjj, sim, truth = events
    with pytest.raises(ValueError, match="same length"):
        decorrelation_report(np.zeros(5), mjj)
    with pytest.raises(ValueError, match="outside the window"):
        decorrelation_report(rng.normal(size=3), np.array([3000.0, 3500.0, 3600.0]))
    with pytest.raises(ValueError, match="truth must hold one label per event"):
        decorrelation_report(rng.normal(size=mjj.size), mjj, truth=truth[:10])
