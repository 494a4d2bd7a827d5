"""HGBEnsembleClassifier with simulated background: the SA-CWoLa loss (Kamenik & Szewc, eq. 6)."""

import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_classification
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nhtad.datasets import SignalRegion, make_lhco_like, sacwola_features
from nhtad.scoring import HGBEnsembleClassifier, out_of_fold_scores

SMALL = {"n_estimators": 2, "max_iter": 20}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_classification(n_samples=600, n_features=4, random_state=0)
    sim = np.random.default_rng(1).random(600) < 0.5
    return X, y, sim


def test_routed_cross_val_predict_slices_is_simulation(blobs):
    X, y, sim = blobs
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    clf = HGBEnsembleClassifier(lam=1.0, random_state=0, **SMALL)
    with sklearn.config_context(enable_metadata_routing=True):
        routed = clf.set_fit_request(is_simulation=True)
        proba = cross_val_predict(
            routed, X, y, cv=cv, params={"is_simulation": sim}, method="predict_proba"
        )
        in_pipeline = cross_val_predict(
            make_pipeline(StandardScaler(), routed),
            X,
            y,
            cv=cv,
            params={"is_simulation": sim},
            method="predict_proba",
        )
    # Each fold's model must have seen its own slice of the flags, not the whole mask.
    expected = np.zeros(X.shape[0])
    for train, test in cv.split(X, y):
        fold = HGBEnsembleClassifier(lam=1.0, random_state=0, **SMALL)
        fold.fit(X[train], y[train], is_simulation=sim[train])
        expected[test] = fold.predict_proba(X[test])[:, 1]
    np.testing.assert_allclose(proba[:, 1], expected)
    # Trees split on ranks: standardising the features changes no split.
    np.testing.assert_allclose(in_pipeline[:, 1], expected)


def test_lam_zero_is_balanced_cwola_on_the_data_rows_alone(blobs):
    X, y, sim = blobs
    with_sim = HGBEnsembleClassifier(lam=0.0, random_state=0, **SMALL)
    with_sim.fit(X, y, is_simulation=sim)
    # lam=0: simulated rows weigh nothing, and the two data regions get equal total weight.
    data_only = HGBEnsembleClassifier(class_weight="balanced", random_state=0, **SMALL)
    data_only.fit(X[~sim], y[~sim])
    np.testing.assert_allclose(with_sim.predict_proba(X), data_only.predict_proba(X), atol=1e-6)
    np.testing.assert_array_equal(with_sim.classes_, [0, 1])
    # Changing the simulated rows' features must not move a lam=0 fit at all.
    shuffled = X.copy()
    shuffled[sim] = np.random.default_rng(2).permutation(X[sim])
    other = HGBEnsembleClassifier(lam=0.0, random_state=0, **SMALL)
    other.fit(shuffled, y, is_simulation=sim)
    np.testing.assert_array_equal(other.predict_proba(X), with_sim.predict_proba(X))


def test_simulation_identical_to_data_cancels_the_loss_at_lam_one(blobs):
    X, y, _ = blobs
    # Every data event has a simulated twin with the inverted label and equal weight: the
    # loss of eq. 6 is flat in the score, whose optimum is 1/2 everywhere.
    X2, y2 = np.vstack([X, X]), np.r_[y, y]
    sim = np.r_[np.zeros(len(y), bool), np.ones(len(y), bool)]
    clf = HGBEnsembleClassifier(lam=1.0, random_state=0, **SMALL).fit(X2, y2, is_simulation=sim)
    np.testing.assert_allclose(clf.predict_proba(X), 0.5, atol=1e-9)
    plain = HGBEnsembleClassifier(random_state=0, **SMALL).fit(X, y).predict_proba(X)[:, 1]
    assert roc_auc_score(y, plain) > 0.9  # the same trees do learn y without the twins


@pytest.fixture(scope="module")
def correlated_background():
    """Background-only data and simulation whose jet masses rise steeply with m_jj.

    mass_mjj_slope=3 (default 0.3) makes the background's feature/m_jj correlation strong
    enough for 10^4 data events to show it: plain CWoLa learns the region from it.
    """
    region = SignalRegion()
    parts = []
    for seed, simulation, n in ((0, False, 40_000), (1, True, 80_000)):
        sample = make_lhco_like(n, simulation=simulation, mass_mjj_slope=3.0, random_state=seed)
        parts.append(sample.events[region.in_window(sample.events["mjj"])])
    X = np.vstack([sacwola_features(p) for p in parts])
    y = region.labels(np.concatenate([p["mjj"] for p in parts]))
    sim = np.r_[np.zeros(len(parts[0]), bool), np.ones(len(parts[1]), bool)]
    return X, y, sim


def test_lam_one_blinds_the_score_to_the_region_on_held_out_simulation(correlated_background):
    X, y, sim = correlated_background
    auc = {}
    for lam in (0.0, 1.0):
        clf = HGBEnsembleClassifier(n_estimators=3, max_iter=50, max_leaf_nodes=15, lam=lam)
        oof = out_of_fold_scores(clf, X, y, is_simulation=sim, cv=3, random_state=0)
        assert oof.simulation.shape == (sim.sum(),) and np.isfinite(oof.scores).all()
        # Out-of-fold: every simulated event is scored by models that never trained on it.
        auc[lam] = roc_auc_score(y[sim], oof.simulation)
    assert auc[0.0] > 0.55, auc  # plain CWoLa learns the background's m_jj dependence
    assert abs(auc[1.0] - 0.5) < abs(auc[0.0] - 0.5) / 2, auc


def test_bad_input(blobs):
    X, y, sim = blobs
    with pytest.raises(ValueError, match="lam must be >= 0"):
        HGBEnsembleClassifier(lam=-0.5, **SMALL).fit(X, y, is_simulation=sim)
    with pytest.raises(ValueError, match="lam must be a finite"):
        HGBEnsembleClassifier(lam=float("nan"), **SMALL).fit(X, y, is_simulation=sim)
    with pytest.raises(ValueError, match="pass fit\\(X, y, is_simulation=mask\\)"):
        HGBEnsembleClassifier(lam=1.0, **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="one flag per event \\(600\\)"):
        HGBEnsembleClassifier(lam=1.0, **SMALL).fit(X, y, is_simulation=sim[:-1])
    with pytest.raises(ValueError, match="is_simulation must be boolean"):
        HGBEnsembleClassifier(lam=1.0, **SMALL).fit(X, y, is_simulation=np.where(sim, 2, 0))
    with pytest.raises(ValueError, match="is_simulation must be boolean"):
        HGBEnsembleClassifier(lam=1.0, **SMALL).fit(X, y, is_simulation=sim.astype(str))
    with pytest.raises(ValueError, match="class_weight='balanced' cannot be combined"):
        HGBEnsembleClassifier(class_weight="balanced", **SMALL).fit(X, y, is_simulation=sim)
    with pytest.raises(ValueError, match="region label"):
        HGBEnsembleClassifier(lam=1.0, **SMALL).fit(X, y + 1, is_simulation=sim)
    with pytest.raises(ValueError, match="simulation signal region"):
        HGBEnsembleClassifier(lam=1.0, **SMALL).fit(X, y, is_simulation=sim & (y == 0))
