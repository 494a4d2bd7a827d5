"""Seed-000 study: SA-CWoLa out-of-fold scores and the MI independence test on generated events.

Kamenik & Szewc (PLB 840 (2023) 137836) in one command:

1. **Table**: MI Z (median and range over realisations) at S/B in {0, 0.0025, 0.005, 0.01} for
   lam = 0 (plain CWoLa) and lam = 1 (SA-CWoLa), asymptotic and simulation-referenced nulls,
   beside Z0 = S/sqrt(B) in the 3.1-3.9 TeV window. ~250k data and ~250k mismodelled
   simulation events in the window, 10-fold, different seeds per realisation.
2. **Mismodelling scan** at S/B = 0, lam = 1: where SA-CWoLa stops being null-compatible as
   the simulation departs from data.
3. **False-positive rate** at S/B = 0, lam = 1 over >= 20 reduced-size realisations: the
   fraction with p < 0.05 and a KS test of the p-values, for the asymptotic and the
   simulation-referenced null, and for the remedies (early stopping, seed ensembling, lam=2).
4. **Speed**: the seed's training recipe (batch 200, 20 epochs, lr 1e-3) and nhtad's default on
   one fold (time and signal AUC), and the 10-fold time of the default.

Usage::

    python benchmarks/study_sacwola_mi.py            # full study (about an hour on 2 cores)
    python benchmarks/study_sacwola_mi.py --quick    # a small version for CI (about a minute)

The full run writes ``docs/study_sacwola_mi.md`` (and the per-realisation numbers in
``docs/study_sacwola_mi.json``) unless ``--out`` says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from nhtad.datasets import SignalRegion, make_lhco_like, sacwola_features
from nhtad.scoring import SACWoLaClassifier, decorrelation_report, out_of_fold_scores
from nhtad.stats import MutualInformationIndependenceTest

REGION = SignalRegion()
SEED_RECIPE = {"batch_size": 200, "max_epochs": 20, "learning_rate": 1e-3}

FULL = {
    "n_background": 1_000_000,  # ~246k in the window
    "n_simulation": 1_000_000,
    "cv": 10,
    "realisations": 5,
    "signal_to_background": (0.0, 0.0025, 0.005, 0.01),
    "rel_uncertainty": 0.01,
    "n_resamples": 9999,
    "scan": (0.0, 1.0, 2.0, 4.0),
    "scan_realisations": 2,
    "fpr_background": 400_000,  # ~100k in the window
    "fpr_cv": 5,
    "fpr_realisations": 20,
    "fpr_rel_uncertainty": 0.01,
    "speed_signal_to_background": 0.005,
    "speed_max_epochs": None,
}
QUICK = {
    "n_background": 200_000,
    "n_simulation": 200_000,
    "cv": 3,
    "realisations": 1,
    "signal_to_background": (0.0, 0.01),
    "rel_uncertainty": 0.03,
    "n_resamples": 999,
    "scan": (0.0, 4.0),
    "scan_realisations": 1,
    "fpr_background": 100_000,
    "fpr_cv": 3,
    "fpr_realisations": 4,
    "fpr_rel_uncertainty": 0.03,  # ~25k window events: 0.05 makes a 61 x 61 table, too sparse
    "speed_signal_to_background": 0.01,
    "speed_max_epochs": 3,  # quick mode: shortened trainings, times not comparable
}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def window_sample(n_background, signal_to_background, *, simulation, mismodelling, seed):
    sample = make_lhco_like(
        n_background,
        signal_to_background,
        simulation=simulation,
        mismodelling=mismodelling,
        random_state=seed,
    )
    keep = REGION.in_window(sample.events["mjj"])
    return sample.events[keep], sample.truth[keep]


def seeds(*key):
    return np.random.SeedSequence(list(key))


def build(cfg, sb, realisation, *, mismodelling=1.0, reduced=False):
    """Data (with injected signal) and simulation in the window, stacked as one training set."""
    n_data = cfg["fpr_background"] if reduced else cfg["n_background"]
    n_sim = cfg["fpr_background"] if reduced else cfg["n_simulation"]
    data, truth = window_sample(
        n_data, sb, simulation=False, mismodelling=0.0, seed=seeds(1000, realisation)
    )
    sim, _ = window_sample(
        n_sim, 0.0, simulation=True, mismodelling=mismodelling, seed=seeds(2000, realisation)
    )
    X = np.vstack([sacwola_features(data), sacwola_features(sim)])
    mjj = np.concatenate([data["mjj"], sim["mjj"]])
    is_sim = np.r_[np.zeros(len(data), bool), np.ones(len(sim), bool)]
    truth = np.r_[truth, np.zeros(len(sim))]
    n_sig = int(truth.sum())
    n_bkg = int((~is_sim).sum()) - n_sig
    return X, mjj, REGION.labels(mjj), is_sim, truth, n_sig / np.sqrt(n_bkg)


def run_once(X, mjj, region, is_sim, truth, *, lam, cv, seed, rel, n_resamples, n_seeds=1, **kw):
    start = time.perf_counter()
    clf = SACWoLaClassifier(lam=lam, **kw)
    oof = out_of_fold_scores(
        clf, X, region, is_simulation=is_sim, cv=cv, n_seeds=n_seeds, random_state=seeds(*seed)
    )
    seconds = time.perf_counter() - start
    s_data, y_data = oof.data, mjj[~is_sim]
    asym = MutualInformationIndependenceTest(rel_uncertainty=rel).fit(s_data, y_data)
    ref = MutualInformationIndependenceTest(
        rel_uncertainty=rel,
        method="simulation",
        n_resamples=n_resamples,
        random_state=seeds(*seed, 1),
    ).fit(s_data, y_data, s_simulation=oof.simulation, y_simulation=mjj[is_sim])
    report = decorrelation_report(
        oof.scores,
        mjj,
        is_simulation=is_sim,
        truth=truth if truth.any() else None,
        mi_test=MutualInformationIndependenceTest(rel_uncertainty=rel),
    )
    return {
        "lam": lam,
        "z_asymptotic": asym.significance_,
        "p_asymptotic": asym.pvalue_,
        "z_simulation": ref.significance_,
        "p_simulation": ref.pvalue_,
        "n_bins": list(asym.n_bins_),
        "auc_signal": report.auc_signal,
        "auc_simulation_region": report.auc_simulation_region,
        "z_mi_on_simulation": report.mi_simulation.significance,
        "seconds": seconds,
    }


def med_range(values, fmt="{:.2f}"):
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return "-"
    if v.size == 1:
        return fmt.format(v[0])
    return f"{fmt.format(np.median(v))} ({fmt.format(v.min())} to {fmt.format(v.max())})"


# -- parts ---------------------------------------------------------------------------------
def part_table(cfg, rows):
    for r in range(cfg["realisations"]):
        for sb in cfg["signal_to_background"]:
            X, mjj, region, is_sim, truth, z0 = build(cfg, sb, r)
            for lam in (0.0, 1.0):
                res = run_once(
                    X,
                    mjj,
                    region,
                    is_sim,
                    truth,
                    lam=lam,
                    cv=cfg["cv"],
                    seed=[3000, r],
                    rel=cfg["rel_uncertainty"],
                    n_resamples=cfg["n_resamples"],
                )
                res.update(part="table", sb=sb, realisation=r, z0=z0, n_data=int((~is_sim).sum()))
                rows.append(res)
                log(
                    f"table S/B={sb} r={r} lam={lam}: Z_asym={res['z_asymptotic']:.2f} "
                    f"Z_sim={res['z_simulation']:.2f} Z0={z0:.2f} ({res['seconds']:.0f} s)"
                )


def table_markdown(rows, cfg):
    lines = [
        "| S/B | Z0 = S/sqrt(B) | MI Z, lam=0 (asymptotic) | MI Z, lam=1 (asymptotic) | "
        "MI Z, lam=1 (simulation-referenced) | MI Z, lam=0 (simulation-referenced) | "
        "signal AUC, lam=1 | 10-fold time, lam=1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for sb in cfg["signal_to_background"]:
        sel = [r for r in rows if r["part"] == "table" and r["sb"] == sb]
        l0 = [r for r in sel if r["lam"] == 0.0]
        l1 = [r for r in sel if r["lam"] == 1.0]
        lines.append(
            f"| {sb:g} | {med_range([r['z0'] for r in l1])} "
            f"| {med_range([r['z_asymptotic'] for r in l0])} "
            f"| {med_range([r['z_asymptotic'] for r in l1])} "
            f"| {med_range([r['z_simulation'] for r in l1])} "
            f"| {med_range([r['z_simulation'] for r in l0])} "
            f"| {med_range([r['auc_signal'] for r in l1], '{:.3f}')} "
            f"| {med_range([r['seconds'] for r in l1], '{:.0f} s')} |"
        )
    return lines


def part_scan(cfg, rows):
    for strength in cfg["scan"]:
        for r in range(cfg["scan_realisations"]):
            X, mjj, region, is_sim, truth, _ = build(cfg, 0.0, 100 + r, mismodelling=strength)
            res = run_once(
                X,
                mjj,
                region,
                is_sim,
                truth,
                lam=1.0,
                cv=cfg["cv"],
                seed=[4000, r],
                rel=cfg["rel_uncertainty"],
                n_resamples=cfg["n_resamples"],
            )
            res.update(part="scan", mismodelling=strength, realisation=r)
            rows.append(res)
            log(
                f"scan mismodelling={strength} r={r}: Z_asym={res['z_asymptotic']:.2f} "
                f"Z_sim={res['z_simulation']:.2f} Z_MI(sim)={res['z_mi_on_simulation']:.2f}"
            )


def scan_markdown(rows, cfg):
    lines = [
        "| mismodelling | MI Z, lam=1 (asymptotic) | MI Z, lam=1 (simulation-referenced) | "
        "MI Z on simulation | AUC SR vs SB on simulation | "
        "null-compatible (median |Z| < 2, both) |",
        "|---|---|---|---|---|---|",
    ]
    for strength in cfg["scan"]:
        sel = [r for r in rows if r["part"] == "scan" and r["mismodelling"] == strength]
        za = np.median([r["z_asymptotic"] for r in sel])
        zs = np.median([r["z_simulation"] for r in sel])
        ok = "yes" if abs(za) < 2 and abs(zs) < 2 else "no"
        lines.append(
            f"| {strength:g} | {med_range([r['z_asymptotic'] for r in sel])} "
            f"| {med_range([r['z_simulation'] for r in sel])} "
            f"| {med_range([r['z_mi_on_simulation'] for r in sel])} "
            f"| {med_range([r['auc_simulation_region'] for r in sel], '{:.4f}')} | {ok} |"
        )
    return lines


FPR_VARIANTS = {
    "default (lam=1)": {},
    "early stopping (patience 3, max 24 epochs)": {"early_stopping": True, "max_epochs": 24},
    "3 seeds averaged per fold": {"n_seeds": 3},
    "lam=2": {"lam": 2.0},
}


def part_fpr(cfg, rows):
    for r in range(cfg["fpr_realisations"]):
        X, mjj, region, is_sim, truth, _ = build(cfg, 0.0, 500 + r, reduced=True)
        for name, extra in FPR_VARIANTS.items():
            extra = dict(extra)
            lam = extra.pop("lam", 1.0)
            res = run_once(
                X,
                mjj,
                region,
                is_sim,
                truth,
                lam=lam,
                cv=cfg["fpr_cv"],
                seed=[5000, r],
                rel=cfg["fpr_rel_uncertainty"],
                n_resamples=cfg["n_resamples"],
                **extra,
            )
            res.update(part="fpr", variant=name, realisation=r)
            rows.append(res)
        log(
            f"fpr r={r}: "
            + ", ".join(
                f"{row['variant']}: p={row['p_asymptotic']:.3g}/{row['p_simulation']:.3g}"
                for row in rows[-len(FPR_VARIANTS) :]
            )
        )


def _rate(p, alpha=0.05):
    p = np.asarray(p)
    k, n = int((p < alpha).sum()), p.size
    lo, hi = stats.binomtest(k, n).proportion_ci(0.68, method="exact")
    return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]"


def fpr_markdown(rows):
    lines = [
        "| training | null | fraction p < 0.05 [68% CI] | KS p (p-values vs U(0,1)) | median Z |",
        "|---|---|---|---|---|",
    ]
    for name in FPR_VARIANTS:
        sel = [r for r in rows if r["part"] == "fpr" and r["variant"] == name]
        for null in ("asymptotic", "simulation"):
            p = np.array([r[f"p_{null}"] for r in sel])
            z = np.array([r[f"z_{null}"] for r in sel])
            ks = stats.kstest(p, "uniform").pvalue
            lines.append(f"| {name} | {null} | {_rate(p)} | {ks:.3g} | {np.median(z):.2f} |")
    return lines


def part_speed(cfg, out):
    X, mjj, region, is_sim, truth, _ = build(cfg, cfg["speed_signal_to_background"], 900)
    subset = region + 2 * is_sim
    train, test = next(StratifiedKFold(cfg["cv"], shuffle=True, random_state=0).split(X, subset))
    data_test = test[~is_sim[test]]
    for name, params in (("seed recipe", SEED_RECIPE), ("nhtad default", {})):
        if cfg["speed_max_epochs"] is not None:
            params = {**params, "max_epochs": cfg["speed_max_epochs"]}
        start = time.perf_counter()
        clf = SACWoLaClassifier(random_state=0, **params).fit(
            X[train], region[train], is_simulation=is_sim[train]
        )
        seconds = time.perf_counter() - start
        auc = roc_auc_score(truth[data_test], clf.decision_function(X[data_test]))
        out[name] = {"seconds_one_fold": seconds, "auc_signal": auc}
        log(f"speed {name}: {seconds:.1f} s per fold, signal AUC {auc:.4f}")
    start = time.perf_counter()
    out_of_fold_scores(
        SACWoLaClassifier(),
        X,
        region,
        is_simulation=is_sim,
        cv=cfg["cv"],
        random_state=0,
    )
    out["nhtad default"]["seconds_all_folds"] = time.perf_counter() - start
    out["n_train"] = int(train.size)
    all_folds = out["nhtad default"]["seconds_all_folds"]
    log(f"speed nhtad default, {cfg['cv']} folds: {all_folds:.0f} s")


def speed_markdown(speed, cfg):
    seed, ours = speed["seed recipe"], speed["nhtad default"]
    return [
        f"One fold ({speed['n_train']} training events, "
        f"S/B = {cfg['speed_signal_to_background']:g}):",
        "",
        "| training | time per fold | signal AUC (held-out data) |",
        "|---|---|---|",
        f"| seed recipe (batch 200, 20 epochs, lr 1e-3) | {seed['seconds_one_fold']:.1f} s "
        f"| {seed['auc_signal']:.4f} |",
        f"| nhtad default (batch 1024, 12 epochs, lr 2e-3) | {ours['seconds_one_fold']:.1f} s "
        f"| {ours['auc_signal']:.4f} |",
        "",
        f"Speed-up per fold: {seed['seconds_one_fold'] / ours['seconds_one_fold']:.1f}x; "
        f"AUC difference {ours['auc_signal'] - seed['auc_signal']:+.4f}. "
        f"All {cfg['cv']} folds with the default: {ours['seconds_all_folds']:.0f} s.",
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for CI")
    parser.add_argument("--out", type=Path, default=None, help="markdown output file")
    parser.add_argument(
        "--parts", default="table,scan,fpr,speed", help="comma-separated subset of the parts"
    )
    parser.add_argument(
        "--realisations", type=int, default=None, help="override the number of realisations"
    )
    args = parser.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.realisations is not None:
        cfg["realisations"] = args.realisations
    out = args.out
    if out is None and not args.quick:
        out = Path(__file__).resolve().parents[1] / "docs" / "study_sacwola_mi.md"
    parts = set(args.parts.split(","))

    start = time.perf_counter()
    rows, speed = [], {}
    timings = {}
    for name, fn in (("table", part_table), ("scan", part_scan), ("fpr", part_fpr)):
        if name in parts:
            t0 = time.perf_counter()
            fn(cfg, rows)
            timings[name] = time.perf_counter() - t0
    if "speed" in parts:
        t0 = time.perf_counter()
        part_speed(cfg, speed)
        timings["speed"] = time.perf_counter() - t0
    total = time.perf_counter() - start

    mode = "--quick" if args.quick else "full"
    n_data = [r["n_data"] for r in rows if r.get("part") == "table"]
    md = [
        "# SA-CWoLa + MI study on the LHCO-like generator",
        "",
        f"Made by `python benchmarks/study_sacwola_mi.py{' --quick' if args.quick else ''}` "
        f"({mode} mode) in {total / 60:.1f} min on this machine "
        f"({', '.join(f'{k} {v / 60:.1f} min' for k, v in timings.items())}).",
        "",
    ]
    if "table" in parts:
        md += [
            "## MI Z vs S/B",
            "",
            f"{cfg['realisations']} realisation(s) (different seeds for background, simulation and "
            f"injection), about {int(np.median(n_data)) if n_data else 0} data and as many "
            f"simulation events in the 3.1-3.9 TeV window, {cfg['cv']}-fold out-of-fold scores, "
            f"MI binning at {cfg['rel_uncertainty']:g} relative uncertainty per marginal bin. "
            f"Median (min to max). The simulation-referenced Z comes from "
            f"{cfg['n_resamples']} relabellings, so it saturates near "
            f"{stats.norm.isf(1 / (cfg['n_resamples'] + 1)):.1f}.",
            "",
            *table_markdown(rows, cfg),
            "",
        ]
    if "scan" in parts:
        md += [
            "## Simulation mismodelling scan (S/B = 0, lam = 1)",
            "",
            f"`make_lhco_like(simulation=True, mismodelling=m)`; {cfg['scan_realisations']} "
            f"realisation(s) each; the generator's default is m = 1.",
            "",
            *scan_markdown(rows, cfg),
            "",
        ]
    if "fpr" in parts:
        md += [
            "## False-positive rate of the whole pipeline (S/B = 0)",
            "",
            f"{cfg['fpr_realisations']} realisations with about "
            f"{int(0.246 * cfg['fpr_background'])} data and as many simulation events in the "
            f"window (default mismodelling), {cfg['fpr_cv']}-fold, MI at "
            f"{cfg['fpr_rel_uncertainty']:g}. Nominal rate 0.05.",
            "",
            *fpr_markdown(rows),
            "",
        ]
    if "speed" in parts:
        md += ["## Training speed and quality", "", *speed_markdown(speed, cfg), ""]
    text = "\n".join(md)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(
            json.dumps({"config": cfg, "rows": rows, "speed": speed}, indent=1, default=float)
        )
        log(f"wrote {out}")


if __name__ == "__main__":
    main()
