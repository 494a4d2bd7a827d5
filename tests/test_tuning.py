"""Grid search over toys: NPLM's held-out t as ``score``, the SA-CWoLa decorrelation scorer,
shuffled LHCO-like toys, and the docs' example (docs/tuning.md)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, train_test_split

from nhtad.calibration import LHCOToys
from nhtad.scoring import (
    NPLMKernelEstimator,
    SACWoLaClassifier,
    decorrelated_auc_score,
    make_decorrelation_scorer,
)
from nhtad.utils.fingerprint import fingerprint

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def _sample(n_data=3000, n_ref=6000, n_signal=0, seed=0):
    """Gaussian data and reference (d = 3); ``n_signal`` data rows moved to a narrow bump."""
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal((n_ref, 3))
    data = rng.standard_normal((n_data, 3))
    if n_signal:
        data[:n_signal] = 1.5 + 0.2 * rng.standard_normal((n_signal, 3))
    X = np.vstack([data, ref])
    y = np.r_[np.ones(n_data, int), np.zeros(n_ref, int)]
    return X, y


def _nplm(sigma=2.0):
    return NPLMKernelEstimator(sigma=sigma, n_centers=100, random_state=0)


# -- NPLM's held-out t --------------------------------------------------------------------------
def test_score_on_the_training_rows_is_the_fitted_statistic():
    X, y = _sample()
    est = _nplm().fit(X, y)
    assert isinstance(est.score(X, y), float)
    assert est.score(X, y) == pytest.approx(est.statistic_, rel=1e-9)


def test_heldout_t_is_larger_with_an_excess_and_pays_for_overfitting():
    scores = {}
    for n_signal in (0, 150):
        X, y = _sample(n_signal=n_signal, seed=1)
        X_fit, X_out, y_fit, y_out = train_test_split(
            X, y, test_size=0.5, stratify=y, random_state=0
        )
        est = _nplm(sigma=1.0).fit(X_fit, y_fit)
        scores[n_signal] = est.score(X_out, y_out)
        if n_signal == 0:
            # Under the null the training t is all fluctuation: held out, it does not come back.
            assert scores[0] < est.statistic_
    assert scores[150] > scores[0]


def test_heldout_weight_follows_the_heldout_counts():
    """w' spreads the held-out expected count over the held-out reference: repeating the
    reference rows (or weighting them by 2) leaves t unchanged, as it must for a count ratio."""
    X, y = _sample(seed=2)
    X_fit, X_out, y_fit, y_out = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
    est = _nplm().fit(X_fit, y_fit)
    t = est.score(X_out, y_out)
    ref = y_out == 0
    doubled_X = np.vstack([X_out, X_out[ref]])
    doubled_y = np.r_[y_out, y_out[ref]]
    assert est.score(doubled_X, doubled_y) == pytest.approx(t, rel=1e-9)
    assert est.score(X_out, y_out, sample_weight=np.where(ref, 2.0, 1.0)) == pytest.approx(
        t, rel=1e-9
    )


def test_grid_search_over_sigma_scores_every_width():
    X, y = LHCOToys(20_000, signal_to_background=0.02, shuffle=True)(5)
    widths = [0.5, 1.0, 2.0, 4.0]
    search = GridSearchCV(
        NPLMKernelEstimator(standardize=True, n_centers=60, random_state=0),
        {"sigma": widths},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        error_score="raise",
    ).fit(X, y)
    means = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(means))
    assert np.unique(np.round(means, 6)).size == len(widths)
    assert search.best_params_["sigma"] == widths[int(np.argmax(means))]
    # The refitted best width scores its own training sample with its t.
    assert search.score(X, y) == pytest.approx(search.best_estimator_.statistic_, rel=1e-9)


def test_unshuffled_toys_need_a_shuffled_splitter_and_shuffled_toys_do_not():
    plain = LHCOToys(10_000)(0)
    shuffled = LHCOToys(10_000, shuffle=True)(0)
    est = NPLMKernelEstimator(sigma=2.0, standardize=True, n_centers=40, random_state=0)
    # Data rows first, reference rows last: an unshuffled KFold fold holds one class.
    with pytest.raises(ValueError, match="Only one class"):
        GridSearchCV(est, {"sigma": [2.0]}, cv=KFold(3), error_score="raise").fit(*plain)
    search = GridSearchCV(est, {"sigma": [1.0, 2.0]}, cv=KFold(3), error_score="raise")
    assert np.all(np.isfinite(search.fit(*shuffled).cv_results_["mean_test_score"]))


def test_score_refuses_what_it_cannot_score():
    X, y = _sample(n_data=300, n_ref=600)
    est = _nplm().fit(X, y)
    with pytest.raises(ValueError, match="StratifiedKFold"):
        est.score(X[y == 1], y[y == 1])
    multi = NPLMKernelEstimator(sigma=[1.0, 2.0], n_centers=50, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="single width"):
        multi.score(X, y)
    with pytest.raises(ValueError, match="zero total weight"):
        est.score(X, y, sample_weight=(y == 1).astype(float))


# -- LHCOToys(shuffle=True) ---------------------------------------------------------------------
def _rows(X, y):
    table = np.column_stack([y] if X is None else [X, y])
    return table[np.lexsort(table.T[::-1])]


@pytest.mark.parametrize("kind", ["template", "regions", "mjj"])
def test_shuffled_toys_hold_the_same_rows_reproducibly(kind):
    seed = np.random.SeedSequence(11)
    toys = LHCOToys(8_000, 0.05, kind=kind, shuffle=True)
    plain = LHCOToys(8_000, 0.05, kind=kind)(seed)
    shuffled, again = toys(seed), toys(seed)
    # Same events, each with its own label; another order; the same order for the same seed.
    np.testing.assert_array_equal(_rows(*shuffled), _rows(*plain))
    assert not np.array_equal(shuffled[1], plain[1])
    for a, b in zip(shuffled, again):
        np.testing.assert_array_equal(a, b)


def test_shuffle_is_part_of_the_run_identity_and_checked():
    # A calibration of shuffled toys must never be merged with one of unshuffled toys.
    assert fingerprint(LHCOToys(1_000)) != fingerprint(LHCOToys(1_000, shuffle=True))
    assert fingerprint(LHCOToys(1_000)) == fingerprint(LHCOToys(1_000, shuffle=False))
    with pytest.raises(ValueError, match="shuffle must be True or False"):
        LHCOToys(1_000, shuffle="yes")


# -- SA-CWoLa's lam -----------------------------------------------------------------------------
def test_decorrelated_auc_penalises_learnt_mass_in_either_direction():
    region = np.tile([0, 1], 50)
    sim = np.r_[np.zeros(50, bool), np.ones(50, bool)]
    separates = region.astype(float)
    flat_in_sim = np.where(sim, 0.5, separates)
    assert decorrelated_auc_score(region, flat_in_sim, is_simulation=sim) == pytest.approx(0.5)
    # Separating the simulation's regions as well as the data's leaves nothing unexplained ...
    assert decorrelated_auc_score(region, separates, is_simulation=sim) == pytest.approx(0.0)
    # ... and so does anti-separating them (lam pushed too far), at any alpha the same way.
    anti = np.where(sim, 1.0 - separates, separates)
    for alpha in (0.5, 2.0):
        assert decorrelated_auc_score(
            region, anti, is_simulation=sim, alpha=alpha
        ) == pytest.approx(
            decorrelated_auc_score(region, separates, is_simulation=sim, alpha=alpha)
        )
    with pytest.raises(ValueError, match="metadata routing"):
        decorrelated_auc_score(region, separates)
    with pytest.raises(ValueError, match="alpha"):
        make_decorrelation_scorer(alpha=-1.0)


def test_grid_search_over_lam_routes_is_simulation_to_the_scorer():
    rng = np.random.default_rng(0)
    n = 3000
    X = rng.normal(size=(n, 3))
    region = (rng.random(n) < 0.4).astype(int)
    sim = rng.random(n) < 0.5
    X[~sim & (region == 1), 0] += 0.5  # something only the data's signal region has
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            SACWoLaClassifier(max_epochs=2, batch_size=256, random_state=0).set_fit_request(
                is_simulation=True
            ),
            {"lam": [0.0, 1.0]},
            scoring=make_decorrelation_scorer(),
            cv=StratifiedKFold(2, shuffle=True, random_state=0),
            error_score="raise",
        ).fit(X, region, is_simulation=sim)
    means = search.cv_results_["mean_test_score"]
    assert np.all(np.isfinite(means)) and np.all(means <= 0.5)
    assert search.best_params_["lam"] in (0.0, 1.0)
    # The data's signal-region excess is found: held-out sensitivity beyond the penalty.
    assert means.max() > 0


# -- the example of docs/tuning.md --------------------------------------------------------------
def test_tuning_example_runs():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "tuning_with_toys.py")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "best_params_: {'sigma'" in done.stdout and "best_params_: {'lam'" in done.stdout
