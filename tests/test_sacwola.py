"""SACWoLaClassifier: the eq. 6 loss, reproducibility, sklearn integration, bad input, and the
seed's central claim (lam=1 removes the fake dependence that plain CWoLa learns)."""

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nhtad.datasets import SignalRegion, make_lhco_like, sacwola_features
from nhtad.scoring import SACWoLaClassifier, out_of_fold_scores, sacwola_targets_and_weights
from nhtad.stats import MutualInformationIndependenceTest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

FAST = {"batch_size": 256, "max_epochs": 3}


@pytest.fixture(scope="module")
def toy():
    """Data and simulation events whose features carry no region information."""
    rng = np.random.default_rng(0)
    n = 4000
    X = rng.normal(size=(n, 3))
    region = (rng.random(n) < 0.4).astype(int)
    sim = rng.random(n) < 0.5
    return X, region, sim


# -- eq. 6 weighting ---------------------------------------------------------------------
def test_targets_invert_for_simulation_and_subsets_have_equal_weight():
    rng = np.random.default_rng(1)
    region = (rng.random(1000) < 0.3).astype(int)
    sim = rng.random(1000) < 0.6
    targets, weights = sacwola_targets_and_weights(region, sim, lam=1.0)
    np.testing.assert_array_equal(targets, np.where(sim, 1 - region, region))
    subset = region + 2 * sim
    totals = np.bincount(subset, weights=weights)
    np.testing.assert_allclose(totals, totals[0], rtol=1e-6)
    assert weights.mean() == pytest.approx(1.0, rel=1e-6)

    # lam scales the two simulation subsets against the two data subsets.
    _, w2 = sacwola_targets_and_weights(region, sim, lam=2.5)
    totals2 = np.bincount(subset, weights=w2)
    np.testing.assert_allclose(totals2[2:] / totals2[:2], 2.5, rtol=1e-6)

    # User weights act inside each subset; the subset totals stay equal.
    user = rng.uniform(0.1, 3.0, 1000)
    _, w3 = sacwola_targets_and_weights(region, sim, user, lam=1.0)
    for k in range(4):
        ratio = w3[subset == k] / user[subset == k]
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
    totals3 = np.bincount(subset, weights=w3)
    np.testing.assert_allclose(totals3, totals3[0], rtol=1e-5)


def test_plain_cwola_ignores_simulation_rows():
    region = np.array([0, 1, 0, 1, 0, 1])
    sim = np.array([False, False, False, True, True, True])
    targets, weights = sacwola_targets_and_weights(region, sim, lam=0.0)
    assert (weights[sim] == 0).all() and (weights[~sim] > 0).all()
    _, w_none = sacwola_targets_and_weights(region, None, lam=0.0)
    assert (w_none > 0).all()


def test_loss_is_eq6():
    """The net's loss equals the hand-written weighted BCE of eq. 6 on a batch."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 2))
    region = (rng.random(500) < 0.5).astype(int)
    sim = rng.random(500) < 0.5
    clf = SACWoLaClassifier(max_epochs=1, batch_size=500, random_state=0).fit(
        X, region, is_simulation=sim
    )
    targets, weights = sacwola_targets_and_weights(region, sim, lam=1.0)
    logits = torch.as_tensor(clf.decision_function(X))
    per_event = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.as_tensor(targets, dtype=torch.float64), reduction="none"
    )
    expected = float((per_event * torch.as_tensor(weights, dtype=torch.float64)).mean())
    batch = {"data": torch.as_tensor(clf._standardise(X)), "weight": torch.as_tensor(weights)}
    got = clf.net_.get_loss(
        clf.net_.infer(batch), torch.as_tensor(targets), X=batch, training=False
    )
    assert float(got.detach()) == pytest.approx(expected, rel=1e-5)


# -- reproducibility, seeding ---------------------------------------------------------------
def test_same_seed_same_scores_different_seed_different_scores(toy):
    X, region, sim = toy
    a = SACWoLaClassifier(random_state=3, **FAST).fit(X, region, is_simulation=sim)
    b = SACWoLaClassifier(random_state=3, **FAST).fit(X, region, is_simulation=sim)
    c = SACWoLaClassifier(random_state=4, **FAST).fit(X, region, is_simulation=sim)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))


def test_global_torch_rng_is_untouched(toy):
    X, region, sim = toy
    state = torch.get_rng_state()
    SACWoLaClassifier(random_state=0, n_init=2, init_epochs=1, early_stopping=True, **FAST).fit(
        X, region, is_simulation=sim
    )
    assert torch.equal(state, torch.get_rng_state())


def test_outputs_and_attributes(toy):
    X, region, sim = toy
    clf = SACWoLaClassifier(random_state=0, n_init=3, init_epochs=1, early_stopping=True, **FAST)
    clf.fit(X, region, is_simulation=sim)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    logit = clf.decision_function(X)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-logit)), rtol=1e-10)
    np.testing.assert_array_equal(clf.predict(X), (logit > 0).astype(int))
    assert clf.classes_.tolist() == [0, 1]
    assert clf.init_validation_losses_.shape == (3,)
    assert clf.best_init_ == int(np.argmin(clf.init_validation_losses_))
    assert 1 <= clf.n_epochs_ <= 3 and clf.validation_loss_ > 0
    # Inputs are standardised with the data events' moments.
    np.testing.assert_allclose(clf.scaler_mean_, X[~sim].mean(axis=0))


def test_zero_weight_events_change_nothing(toy):
    """Simulation at lam=0 and zero-weight events leave the batches: same model."""
    X, region, sim = toy
    a = SACWoLaClassifier(lam=0.0, random_state=0, **FAST).fit(X, region, is_simulation=sim)
    b = SACWoLaClassifier(lam=0.0, random_state=0, **FAST).fit(X[~sim], region[~sim])
    np.testing.assert_allclose(a.decision_function(X), b.decision_function(X), rtol=1e-6)


def test_weight_equals_repetition_in_expectation():
    """Doubling a subset's weight is equivalent, after the subset balancing, to nothing at all:
    the loss (and the model) only see the subset totals."""
    rng = np.random.default_rng(5)
    region = (rng.random(400) < 0.5).astype(int)
    sim = rng.random(400) < 0.5
    user = np.where(region == 1, 2.0, 1.0)
    _, w_user = sacwola_targets_and_weights(region, sim, user, lam=1.0)
    _, w_none = sacwola_targets_and_weights(region, sim, None, lam=1.0)
    np.testing.assert_allclose(w_user, w_none, rtol=1e-6)


# -- sklearn integration --------------------------------------------------------------------
def test_cross_val_predict_with_is_simulation_params(toy):
    X, region, sim = toy
    proba = cross_val_predict(
        SACWoLaClassifier(random_state=0, **FAST),
        X,
        region,
        cv=5,
        method="predict_proba",
        params={"is_simulation": sim},
    )
    assert proba.shape == (X.shape[0], 2) and np.isfinite(proba).all()


def test_pipeline_with_metadata_routing(toy):
    X, region, sim = toy
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            StandardScaler(),
            SACWoLaClassifier(random_state=0, **FAST).set_fit_request(
                is_simulation=True, sample_weight=False
            ),
        )
        proba = cross_val_predict(
            pipe, X, region, cv=5, method="predict_proba", params={"is_simulation": sim}
        )
        assert proba.shape == (X.shape[0], 2)
        # Routing really delivers the flag: without it lam=1 must refuse to train.
        with pytest.raises(ValueError, match="is_simulation"):
            pipe.fit(X, region)


def test_out_of_fold_scores_cover_every_event_once(toy):
    X, region, sim = toy
    oof = out_of_fold_scores(
        SACWoLaClassifier(**FAST), X, region, is_simulation=sim, cv=4, n_seeds=2, random_state=0
    )
    assert oof.scores.shape == (X.shape[0],) and np.isfinite(oof.scores).all()
    assert set(np.unique(oof.fold)) == {0, 1, 2, 3}
    assert oof.data.size == (~sim).sum() and oof.simulation.size == sim.sum()
    assert oof.seeds.shape == (4, 2) and np.unique(oof.seeds).size == 8
    again = out_of_fold_scores(
        SACWoLaClassifier(**FAST),
        X,
        region,
        is_simulation=sim,
        cv=4,
        n_seeds=2,
        random_state=0,
        n_jobs=2,
    )
    np.testing.assert_array_equal(oof.scores, again.scores)


def test_out_of_fold_equals_manual_fold_models(toy):
    """Every score comes from the model of the fold that did not see the event."""
    X, region, sim = toy
    oof = out_of_fold_scores(
        SACWoLaClassifier(**FAST), X, region, is_simulation=sim, cv=3, random_state=1
    )
    k = 1
    test = oof.fold == k
    model = SACWoLaClassifier(random_state=int(oof.seeds[k, 0]), **FAST).fit(
        X[~test], region[~test], is_simulation=sim[~test]
    )
    np.testing.assert_allclose(oof.scores[test], model.predict_proba(X[test])[:, 1], rtol=1e-6)


# -- bad input -----------------------------------------------------------------------------
def test_missing_simulation_with_lam(toy):
    X, region, _ = toy
    with pytest.raises(ValueError, match="needs the simulated background.*set lam=0"):
        SACWoLaClassifier(**FAST).fit(X, region)


@pytest.mark.parametrize("bad", [2, -1, 0.5])
def test_region_label_not_01(toy, bad):
    X, region, sim = toy
    y = region.copy().astype(float)
    y[:10] = bad
    with pytest.raises(ValueError, match="region"):
        SACWoLaClassifier(**FAST).fit(X, y, is_simulation=sim)


def test_mjj_passed_as_label_is_refused(toy):
    X, _, sim = toy
    mjj = np.linspace(3100, 3900, X.shape[0])
    with pytest.raises(ValueError, match="SignalRegion"):
        SACWoLaClassifier(**FAST).fit(X, mjj, is_simulation=sim)


def test_no_signal_region_or_sideband(toy):
    X, _, sim = toy
    with pytest.raises(ValueError, match="one class"):
        SACWoLaClassifier(**FAST).fit(X, np.zeros(X.shape[0], int), is_simulation=sim)
    region = np.zeros(X.shape[0], int)
    region[np.flatnonzero(~sim)[:5]] = 1  # data SR only: simulation has no signal region
    with pytest.raises(ValueError, match="simulation signal region.*empty"):
        SACWoLaClassifier(**FAST).fit(X, region, is_simulation=sim)


def test_fold_without_signal_region_in_out_of_fold_scores(toy):
    X, region, sim = toy
    region = region.copy()
    region[sim] = 0
    region[np.flatnonzero(sim)[:2]] = 1  # 2 simulated SR events cannot fill 5 folds
    with pytest.raises(ValueError, match="smallest has 2"):
        out_of_fold_scores(SACWoLaClassifier(**FAST), X, region, is_simulation=sim, cv=5)


def test_nan_features(toy):
    X, region, sim = toy
    X = X.copy()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SACWoLaClassifier(**FAST).fit(X, region, is_simulation=sim)


def test_bad_parameters(toy):
    X, region, sim = toy
    with pytest.raises(ValueError, match="lam must be >= 0"):
        SACWoLaClassifier(lam=-1, **FAST).fit(X, region, is_simulation=sim)
    with pytest.raises(ValueError, match="init_epochs"):
        SACWoLaClassifier(n_init=2, init_epochs=5, max_epochs=3).fit(X, region, is_simulation=sim)
    with pytest.raises(ValueError, match="is_simulation must"):
        SACWoLaClassifier(**FAST).fit(X, region, is_simulation=np.ones(5, bool))


# -- the seed's central claim ---------------------------------------------------------------
def test_lam1_removes_the_fake_dependence_that_plain_cwola_learns():
    """No signal, background jet masses rising with m_jj, simulation from the same law:
    plain CWoLa learns m_jj through the masses (MI Z > 3); SA-CWoLa at lam=1 cuts Z by >= 3."""
    region_def = SignalRegion()

    def window(sample):
        return sample.events[region_def.in_window(sample.events["mjj"])]

    data = window(make_lhco_like(200_000, mass_mjj_slope=1.0, random_state=100))
    simulation = window(
        make_lhco_like(
            200_000, simulation=True, mismodelling=0.0, mass_mjj_slope=1.0, random_state=200
        )
    )
    X = np.vstack([sacwola_features(data), sacwola_features(simulation)])
    mjj = np.concatenate([data["mjj"], simulation["mjj"]])
    region = region_def.labels(mjj)
    sim = np.r_[np.zeros(len(data), bool), np.ones(len(simulation), bool)]
    z = {}
    for lam in (0.0, 1.0):
        clf = SACWoLaClassifier(lam=lam, batch_size=1024, max_epochs=10, learning_rate=2e-3)
        oof = out_of_fold_scores(clf, X, region, is_simulation=sim, cv=5, random_state=0)
        test = MutualInformationIndependenceTest(rel_uncertainty=0.02)
        z[lam] = test.fit(oof.data, mjj[~sim]).significance_
    assert z[0.0] > 3, z
    assert abs(z[1.0]) * 3 <= z[0.0], z
