"""Toy throughput of ToyCalibrator at n_jobs 1 and 2, and the per-toy time of whole pipelines.

Run: ``python benchmarks/bench_toys.py`` (``--quick`` for a short run).

1. Throughput: the same calibration (template cut-and-count on LHCO-like toys, a fresh sample
   and reference generated per toy) with ``n_jobs=1`` and ``n_jobs=2`` (joblib's default
   backend, loky processes, started once before timing). The two runs must give identical
   null distributions; the ratio of toys per second is the parallel speed-up (target >= 1.8x on
   2 cores).
2. Per-toy time of the pipelines a user calibrates, each with score training inside the toy,
   measured twice in the same run: the way the toys were made before issue 18 ("before":
   every event over the generator's m_jj range generated and cut, the CWoLa toy's sample
   generated twice) and now (``LHCOToys(generate="kept")``: only the events the toy uses), the
   ratio beside them and the per-toy times the issue quoted:

   - NPLM f(x) in-sample -> template cut-and-count at 4 thresholds -> HyperTest;
   - plain-CWoLa HGB-ensemble out-of-fold score (SR vs SB in the window) -> mutual
     information test of (s, m_jj);
   - the whole SA-CWoLa chain: ``SACWoLaTest`` (5-fold training on the window's data and
     simulation, honest null) on 50k + 50k window events (target < 10 s);
   - the statistical part alone (MI test on a given score; cut-and-count on a given score), as
     the simple reference for the cost of training.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import make_pipeline

from nhtad.calibration import LHCOToys, ToyCalibrator
from nhtad.scoring import HGBEnsembleClassifier, NPLMKernelEstimator, ScoreTransformer
from nhtad.stats import (
    HyperTest,
    MutualInformationIndependenceTest,
    TemplateCutAndCountTest,
)


class ScoredWindowToys:
    """(s, m_jj) of window events with a score that ignores m_jj: the MI test's input."""

    def __init__(self, n_background):
        self.toys = LHCOToys(n_background, kind="mjj")

    def __call__(self, random_state):
        _, mjj = self.toys(random_state)
        return np.random.default_rng(random_state).normal(size=mjj.size), mjj


class CWoLaMIPipeline(BaseEstimator):
    """Out-of-fold HGB score of the window events (SR vs SB), then the MI test of (s, m_jj)."""

    def __init__(self, n_estimators=3, random_state=None):
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X, region, mjj):
        from sklearn.model_selection import cross_val_predict

        hgb = HGBEnsembleClassifier(
            n_estimators=self.n_estimators, max_iter=50, random_state=self.random_state
        )
        s = cross_val_predict(hgb, X, region, cv=5, method="predict_proba")[:, 1]
        self.statistic_ = MutualInformationIndependenceTest().fit(s, mjj).statistic_
        return self


class FeatureToys:
    """(one feature, y) of template toys: a cut-and-count on a given score."""

    def __init__(self, n_background, generate="full"):
        self.toys = LHCOToys(n_background, generate=generate)

    def __call__(self, random_state):
        X, y = self.toys(random_state)
        return X[:, 0], y


class RegionToys:
    """(X, region, m_jj) of the window events; ``kept`` generates only the window, once.

    Before issue 18 this benchmark generated each toy's full sample twice (once for the
    features, once for m_jj): ``kept=False`` keeps that cost as the "before" reference.
    """

    def __init__(self, n_background, kept=False):
        self.kept = kept
        self.toys = LHCOToys(n_background, kind="regions")
        self.mjj = LHCOToys(n_background, kind="mjj")
        self.n_background = n_background

    def __call__(self, random_state):
        if not self.kept:
            X, region = self.toys(random_state)
            _, mjj = self.mjj(random_state)
            return X, region, mjj
        from nhtad.datasets import SignalRegion, make_lhco_like, sacwola_features

        r = SignalRegion()
        events = make_lhco_like(self.n_background, keep=r.window, random_state=random_state).events
        return sacwola_features(events), r.labels(events["mjj"]), events["mjj"]


class SACWoLaChainToys:
    """Window data and simulation of ``n_each`` events each: a whole SA-CWoLa toy's input."""

    def __init__(self, n_each):
        self.n_each = n_each

    def __call__(self, random_state):
        from nhtad.datasets import SignalRegion, make_lhco_like, sacwola_features

        window = SignalRegion().window
        # About a quarter of the generated range falls in the window.
        n = 4 * self.n_each
        from nhtad.utils.random import as_seed_sequence, spawn_children

        d_seed, s_seed = spawn_children(as_seed_sequence(random_state), 2)
        data = make_lhco_like(n, keep=window, random_state=d_seed).events
        sim = make_lhco_like(n, keep=window, simulation=True, random_state=s_seed).events
        X = np.vstack([sacwola_features(data), sacwola_features(sim)])
        mjj = np.r_[data["mjj"], sim["mjj"]]
        sim_mask = np.r_[np.zeros(len(data), bool), np.ones(len(sim), bool)]
        return X, mjj, sim_mask


class SACWoLaChain(BaseEstimator):
    """``SACWoLaTest`` (default classifier and honest null, 5-fold) on one toy."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, mjj, is_simulation):
        from nhtad import SACWoLaTest

        test = SACWoLaTest(cv=5, random_state=self.random_state)
        self.statistic_ = test.fit(X, mjj, is_simulation=is_simulation).significance_
        return self


def per_toy(test, generator, n_toys):
    start = time.perf_counter()
    ToyCalibrator(test, generator, n_toys=n_toys, random_state=0, batch_size=1).fit()
    return (time.perf_counter() - start) / n_toys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer and smaller toys")
    args = parser.parse_args(argv)
    n_bkg, n_toys = (100_000, 16) if args.quick else (400_000, 64)

    test = TemplateCutAndCountTest(quantile=0.9)
    gen = FeatureToys(n_bkg)
    print(f"Throughput: template cut-and-count on LHCOToys({n_bkg}), {n_toys} toys, batch 4")
    ToyCalibrator(test, gen, n_toys=4, n_jobs=2, random_state=1, batch_size=2).fit()  # warm-up
    times, nulls = {}, {}
    for n_jobs in (1, 2):
        start = time.perf_counter()
        cal = ToyCalibrator(test, gen, n_toys=n_toys, n_jobs=n_jobs, random_state=0, batch_size=4)
        nulls[n_jobs] = cal.fit().null_distribution_
        times[n_jobs] = time.perf_counter() - start
        print(f"  n_jobs={n_jobs}: {times[n_jobs]:6.2f} s, {n_toys / times[n_jobs]:6.2f} toys/s")
    assert np.array_equal(nulls[1], nulls[2]), "n_jobs changed the null distribution"
    print(f"  speed-up at n_jobs=2: {times[1] / times[2]:.2f}x (target >= 1.8x); nulls identical")

    n_pipe = 2 if args.quick else 4
    size = 100_000 if args.quick else 400_000
    print(
        f"\nPer-toy time, generation of the toy included (LHCO-like toys of {size} background "
        f"events, {n_pipe} toys, n_jobs=1): before = every event generated and cut, now = "
        "only the events the toy uses"
    )
    # First, before any HistGradientBoosting fit in this process: after one, torch's training
    # threads ran 2.3x slower here (OpenMP runtimes spinning against each other).
    n_each = 10_000 if args.quick else 50_000
    chain = per_toy(SACWoLaChain(), SACWoLaChainToys(n_each), 1 if args.quick else 2)
    print(
        f"  SA-CWoLa whole chain (SACWoLaTest, 5-fold, {n_each} + {n_each} window events): "
        f"{chain:.2f} s per toy (target < 10 s at 50k + 50k)"
    )
    hyper = HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", [0.8, 0.9, 0.95, 0.99])
    nplm = make_pipeline(
        ScoreTransformer(NPLMKernelEstimator(n_centers=1000, standardize=True)), clone(hyper)
    )
    # (name, pipeline, before toys, now toys, per-toy time quoted in issue 18 at 400k)
    rows = [
        (
            "NPLM score + hyper cut-and-count",
            nplm,
            LHCOToys(size),
            LHCOToys(size, generate="kept"),
            3.17,
        ),
        (
            "HGB-ensemble CWoLa score + MI test",
            CWoLaMIPipeline(),
            RegionToys(size),
            RegionToys(size, kept=True),
            1.65,
        ),
        (
            "hyper cut-and-count of a feature",
            hyper,
            FeatureToys(size),
            FeatureToys(size, generate="kept"),
            0.62,
        ),
    ]
    print(f"  {'pipeline':36s} {'before':>8s} {'now':>8s} {'ratio':>6s}  issue 18 (400k)")
    for name, pipe, before_toys, now_toys, quoted in rows:
        before = per_toy(pipe, before_toys, n_pipe)
        now = per_toy(pipe, now_toys, n_pipe)
        print(f"  {name:36s} {before:7.3f}s {now:7.3f}s {before / now:5.1f}x  {quoted:.2f} s")
    mi_stat = per_toy(MutualInformationIndependenceTest(), ScoredWindowToys(size), n_pipe)
    print(f"  {'MI test of a given score':36s} {mi_stat:7.3f}s (generation included)")


if __name__ == "__main__":
    main()
