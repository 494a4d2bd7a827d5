"""Toy throughput of ToyCalibrator at n_jobs 1 and 2, and the per-toy time of whole pipelines.

Run: ``python benchmarks/bench_toys.py`` (``--quick`` for a short run).

1. Throughput: the same calibration (template cut-and-count on LHCO-like toys, a fresh sample
   and reference generated per toy) with ``n_jobs=1`` and ``n_jobs=2`` (joblib's default
   backend, loky processes, started once before timing). The two runs must give identical
   null distributions; the ratio of toys per second is the parallel speed-up (target >= 1.8x on
   2 cores).
2. Per-toy time of the pipelines a user calibrates, each with score training inside the toy:

   - MI: plain-CWoLa HGB-ensemble out-of-fold score (SR vs SB in the window) -> mutual
     information test of (s, m_jj);
   - cut-and-count: NPLM f(x) in-sample -> template cut-and-count at 4 thresholds -> HyperTest;
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

    def __init__(self, n_background):
        self.toys = LHCOToys(n_background)

    def __call__(self, random_state):
        X, y = self.toys(random_state)
        return X[:, 0], y


class RegionToys:
    def __init__(self, n_background):
        self.toys = LHCOToys(n_background, kind="regions")
        self.mjj = LHCOToys(n_background, kind="mjj")

    def __call__(self, random_state):
        X, region = self.toys(random_state)
        _, mjj = self.mjj(random_state)
        return X, region, mjj


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
        f"events, {n_pipe} toys, n_jobs=1)"
    )
    mi_stat = per_toy(MutualInformationIndependenceTest(), ScoredWindowToys(size), n_pipe)
    mi_full = per_toy(CWoLaMIPipeline(), RegionToys(size), n_pipe)
    print(f"  MI test of a given score           {mi_stat:7.3f} s")
    print(f"  HGB-ensemble CWoLa score + MI test {mi_full:7.3f} s  ({mi_full / mi_stat:.1f}x)")
    hyper = HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", [0.8, 0.9, 0.95, 0.99])
    cc_stat = per_toy(hyper, FeatureToys(size), n_pipe)
    nplm = make_pipeline(
        ScoreTransformer(NPLMKernelEstimator(n_centers=1000, standardize=True)), clone(hyper)
    )
    cc_full = per_toy(nplm, LHCOToys(size), n_pipe)
    print(f"  hyper cut-and-count of a feature   {cc_stat:7.3f} s")
    print(f"  NPLM score + hyper cut-and-count   {cc_full:7.3f} s  ({cc_full / cc_stat:.1f}x)")


if __name__ == "__main__":
    main()
