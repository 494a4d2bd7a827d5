"""Which null of a trained SA-CWoLa score is honest? False-positive rates and power at scale.

A score trained on data depends on m_jj through its features even in pure background, so the
asymptotic MI test fakes discoveries. This study measures, over many null realisations of six
background cases (``CASES``), the false-positive rate of every null nhtad offers for trained
scores, and the power of each at S/B = 0.0025, 0.005 and 0.01 beside Z0 = S/sqrt(B) and the
anomaly-cut and bump-hunt baselines.

Stages (one command runs both)::

    python benchmarks/study_honest_null.py            # full study (hours on 2 cores)
    python benchmarks/study_honest_null.py --quick    # a few realisations, for CI

1. **scores**: every realisation is generated (data and simulation, about 50k window events
   each), the SA-CWoLa classifier is trained out-of-fold exactly as :class:`nhtad.SACWoLaTest`
   trains it (same seeds), and the scores are cached (``--cache``, one ``.npz`` per
   realisation, named by a hash of everything that made it, written atomically). A rerun
   reuses the cache, so the tests can be revised without retraining.
2. **tests**: every null on every cached realisation; writes ``docs/studies/honest_null/tables.md``
   and ``results.json`` beside it (or ``--out``); the reading is ``docs/study_honest_null.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: Background cases: how data and simulation are generated (keyword arguments of
#: make_lhco_like beyond the size, the S/B and the seed).
CASES = {
    "perfect": {
        "label": "perfect simulation",
        "data": {},
        "simulation": {"mismodelling": 0.0},
    },
    "default": {
        "label": "the generator's default mismodelling",
        "data": {},
        "simulation": {"mismodelling": 1.0},
    },
    "spectrum": {
        "label": "simulation with only the m_jj spectrum changed",
        "data": {},
        "simulation": {"mismodelling": {"mjj_spectrum": 1.0}},
    },
    "slope": {
        "label": "simulation jet-mass/m_jj slope +20% (0.36 vs 0.30), default mismodelling",
        "data": {},
        "simulation": {"mismodelling": 1.0, "mass_mjj_slope": 0.36},
    },
    "steep": {
        "label": "steeper correlation (slope 0.9 in data and simulation)",
        "data": {"mass_mjj_slope": 0.9},
        "simulation": {"mismodelling": 1.0, "mass_mjj_slope": 0.9},
    },
    "curved": {
        "label": "U-shaped jet-mass/m_jj dependence (curvature 20, minimum in the signal region), "
        "default mismodelling",
        "data": {"mass_mjj_curvature": 20.0},
        "simulation": {"mismodelling": 1.0, "mass_mjj_curvature": 20.0},
    },
    # Appended after the others: a case's seeds follow its position in this dict.
    "convex": {
        "label": "convex jet-mass/m_jj dependence (slope 1.5, curvature 6: flat at 3.1 TeV, "
        "steepening upwards), default mismodelling",
        "data": {"mass_mjj_slope": 1.5, "mass_mjj_curvature": 6.0},
        "simulation": {"mismodelling": 1.0, "mass_mjj_slope": 1.5, "mass_mjj_curvature": 6.0},
    },
}

FULL = {
    "n_background": 203_000,  # about 50k events in the 3.1-3.9 TeV window
    "cv": 5,
    "null_realisations": 100,
    "null_lam0_cases": ("default",),
    "power_case": "default",
    "power_signal_to_background": (0.0025, 0.005, 0.01),
    "power_realisations": 30,
    "toy_cases": ("default", "slope"),
    "n_toys": 100,
    # Fresh null realisations (seeds never looked at while the default was chosen).
    "validation_cases": ("perfect", "default", "convex"),
    "validation_realisations": 100,
}
QUICK = {
    "n_background": 120_000,
    "cv": 3,
    "null_realisations": 1,
    "null_lam0_cases": ("default",),
    "power_case": "default",
    "power_signal_to_background": (0.01,),
    "power_realisations": 1,
    "toy_cases": ("default",),
    "n_toys": 1,
    "validation_cases": ("perfect",),
    "validation_realisations": 1,
}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# -- realisations -----------------------------------------------------------------------------
def realisation_key(kind, case, lam, sb, index):
    """Integers seeding one realisation: the same key gives the same events and training."""
    case_id = list(CASES).index(case)
    return [
        {"null": 1, "power": 2, "toy": 3, "validation": 4}[kind],
        case_id,
        int(round(lam * 10)),
        int(round(sb * 1e5)),
        int(index),
    ]


def generate(cfg, case, sb, key, *, toy=False):
    """Window events of data (with S/B injected) and simulation for one realisation.

    ``toy=True`` is a whole-chain toy of the simulation: both the pseudo-data and the
    pseudo-simulation are drawn from the simulation's law (independent samples).
    """
    from nhtad.datasets import SignalRegion, make_lhco_like, sacwola_features

    region = SignalRegion()
    spec = CASES[case]
    data_kw = dict(spec["simulation"], simulation=True) if toy else dict(spec["data"])
    parts = []
    for k, (kw, s_over_b) in enumerate(((data_kw, sb), (dict(spec["simulation"]), 0.0))):
        kw = dict(kw)
        if k == 1:
            kw["simulation"] = True
        sample = make_lhco_like(
            cfg["n_background"],
            s_over_b,
            region=region,
            random_state=np.random.SeedSequence([*key, 100 + k]),
            **kw,
        )
        window = region.in_window(sample.events["mjj"])
        parts.append((sample.events[window], sample.truth[window]))
    (data, truth), (sim, _) = parts
    X = np.vstack([sacwola_features(data), sacwola_features(sim)])
    mjj = np.concatenate([data["mjj"], sim["mjj"]])
    is_sim = np.r_[np.zeros(len(data), bool), np.ones(len(sim), bool)]
    truth = np.r_[truth, np.zeros(len(sim), np.int8)]
    return X, mjj, is_sim, truth


def cache_name(cfg, kind, case, lam, sb, index):
    import nhtad

    made_of = {
        "kind": kind,
        "case": CASES[case],
        "lam": lam,
        "sb": sb,
        "index": index,
        "n_background": cfg["n_background"],
        "cv": cfg["cv"],
        "nhtad": nhtad.__version__,
    }
    digest = hashlib.sha256(json.dumps(made_of, sort_keys=True).encode()).hexdigest()[:16]
    return f"{kind}-{case}-lam{lam:g}-sb{sb:g}-{index:03d}-{digest}.npz"


def train_one(cfg, cache, kind, case, lam, sb, index):
    """Train (or reuse) one realisation's out-of-fold scores; returns the cache path."""
    path = cache / cache_name(cfg, kind, case, lam, sb, index)
    if path.exists():
        return path
    import torch

    torch.set_num_threads(1)
    from nhtad import SACWoLaTest
    from nhtad.scoring import SACWoLaClassifier
    from nhtad.utils.atomic import atomic_output

    key = realisation_key(kind, case, lam, sb, index)
    X, mjj, is_sim, truth = generate(cfg, case, sb, key, toy=kind == "toy")
    start = time.perf_counter()
    chain = SACWoLaTest(
        classifier=SACWoLaClassifier(lam=lam),
        cv=cfg["cv"],
        random_state=np.random.SeedSequence([*key, 200]),
    )
    scores = chain.out_of_fold_scores(X, mjj, is_simulation=is_sim)
    seconds = time.perf_counter() - start
    # An interrupted run never leaves a truncated cache entry (atomic_output renames when done).
    with atomic_output(path) as fh:
        np.savez(
            fh,
            scores=scores.scores,
            fold=scores.fold,
            mjj=mjj,
            is_simulation=is_sim,
            truth=truth,
            seconds=seconds,
        )
    return path


def jobs_for(cfg):
    """Every realisation of the study, interleaved so that a partial run covers every part."""
    jobs = []
    longest = max(cfg["null_realisations"], cfg["power_realisations"], cfg["n_toys"])
    for index in range(longest):
        if index < cfg["null_realisations"]:
            jobs.extend(("null", case, 1.0, 0.0, index) for case in CASES)
        if index < cfg["power_realisations"]:
            for sb in cfg["power_signal_to_background"]:
                jobs.extend(("power", cfg["power_case"], lam, sb, index) for lam in (1.0, 0.0))
        if index < cfg["null_realisations"]:
            jobs.extend(("null", case, 0.0, 0.0, index) for case in cfg["null_lam0_cases"])
        if index < cfg["n_toys"]:
            jobs.extend(("toy", case, 1.0, 0.0, index) for case in cfg["toy_cases"])
    # Last, so that a partial run has the main study first.
    for index in range(cfg["validation_realisations"]):
        jobs.extend(("validation", case, 1.0, 0.0, index) for case in cfg["validation_cases"])
    return jobs


def stage_scores(cfg, cache, n_jobs):
    from joblib import Parallel, delayed

    cache.mkdir(parents=True, exist_ok=True)
    jobs = jobs_for(cfg)
    todo = [j for j in jobs if not (cache / cache_name(cfg, *j)).exists()]
    log(f"scores: {len(jobs)} realisations, {len(jobs) - len(todo)} cached, {len(todo)} to train")
    start = time.perf_counter()
    done = 0
    for _ in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
        delayed(train_one)(cfg, cache, *job) for job in todo
    ):
        done += 1
        if done % 10 == 0 or done == len(todo):
            rate = (time.perf_counter() - start) / done
            left = rate * (len(todo) - done) / 60
            log(f"  trained {done}/{len(todo)} ({rate:.1f} s each, {left:.0f} min left)")
    return jobs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few realisations, for CI")
    parser.add_argument(
        "--stage", choices=("scores", "tests", "all"), default="all", help="what to run"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder for the trained scores (default: benchmarks/.cache/honest_null[_quick])",
    )
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel trainings")
    parser.add_argument("--out", type=Path, default=None, help="markdown output (full mode: docs/)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL
    cache = args.cache or REPO / "benchmarks" / ".cache" / (
        "honest_null_quick" if args.quick else "honest_null"
    )
    jobs = stage_scores(cfg, cache, args.n_jobs) if args.stage != "tests" else jobs_for(cfg)
    if args.stage == "scores":
        return 0
    from study_honest_null_tests import stage_tests

    return stage_tests(cfg, cache, jobs, args)


if __name__ == "__main__":
    sys.exit(main())
