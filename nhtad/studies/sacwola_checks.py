"""Two checks beside the seed-000 table: a simulation-mismodelling scan and the training speed.

Kamenik & Szewc (PLB 840 (2023) 137836) decorrelate the score with a simulated background
(eq. 6) and assume the simulation describes the data's feature/m_jj correlations. The scan asks
how far the simulation may depart from the data before the background-only data look like a
discovery: at S/B = 0 it trains :class:`~nhtad.SACWoLaTest` (lam = 1) with the embedded
generator's simulation at growing ``mismodelling`` and reports its honest p-value, the plain
asymptotic MI p-value of the paper, and the decorrelation diagnostics. The data and the training
seeds are the same at every strength of a realisation, so the columns are paired.

The speed check trains one fold with the seed notebook's recipe (batch 200, 20 epochs,
learning rate 1e-3) and with nhtad's default, and reports the time and the held-out signal AUC
of each, then times the default's full k-fold run.
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np

__all__ = [
    "SEED_RECIPE",
    "mismodelling_scan",
    "training_speed",
    "run_checks",
    "sections",
    "scan_table",
    "speed_table",
]

logger = logging.getLogger(__name__)

#: The seed notebook's SA-CWoLa training: batch 200, 20 epochs, Adam at 1e-3.
SEED_RECIPE = {"batch_size": 200, "max_epochs": 20, "learning_rate": 1e-3}


def _training_set(data, sim):
    from ..datasets import sacwola_features

    X = np.vstack([sacwola_features(data), sacwola_features(sim)])
    mjj = np.concatenate([data["mjj"], sim["mjj"]])
    is_sim = np.r_[np.zeros(len(data), bool), np.ones(len(sim), bool)]
    return X, mjj, is_sim


def scan_one(cfg, strength, realisation, *, seed, region, n_jobs, data_source, window):
    """One realisation of the scan at mismodelling ``strength`` (a JSON-ready row)."""
    from ..datasets import make_lhco_like
    from ..sacwola_test import SACWoLaTest
    from ..scoring import SACWoLaClassifier

    data, _ = window(data_source, cfg.n_background, 0.0, seed=seed(5, realisation), region=region)

    def simulation(n, sb, *, region, random_state):
        return make_lhco_like(
            n, sb, simulation=True, mismodelling=strength, region=region, random_state=random_state
        )

    sim, _ = window(simulation, cfg.n_simulation, 0.0, seed=seed(6, realisation), region=region)
    X, mjj, is_sim = _training_set(data, sim)
    test = SACWoLaTest(
        SACWoLaClassifier(lam=1.0, max_epochs=cfg.max_epochs),
        region=region,
        cv=cfg.n_folds,
        random_state=seed(7, realisation),
        n_jobs=n_jobs,
    )
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        test.fit(X, mjj, is_simulation=is_sim)
    mi, report = test.mi_asymptotic_, test.decorrelation_
    return {
        "mismodelling": float(strength),
        "realisation": int(realisation),
        "n_data": int(len(data)),
        "z_honest": test.significance_,
        "p_honest": test.pvalue_,
        "degree": test.test_.result_.details.get("degree"),
        "z_mi_asymptotic": float("nan") if mi is None else mi.significance,
        "z_mi_simulation": (
            float("nan")
            if report is None or report.mi_simulation is None
            else report.mi_simulation.significance
        ),
        "auc_simulation_region": float("nan") if report is None else report.auc_simulation_region,
        "warnings": [str(w.message) for w in caught],
        "seconds": time.perf_counter() - start,
    }


def mismodelling_scan(cfg, *, seed, region, n_jobs, data_source, window, done, append, verbose):
    """Every (strength, realisation) of the scan, reusing the rows in ``done``.

    Jobs are numbered from 0 in the order strength, then realisation; ``done`` maps a job's
    number to its finished row and ``append(j, row)`` records a new one (the study's
    checkpoint).
    """
    from ..utils.progress import progress

    jobs = [(m, r) for m in cfg.mismodelling_scan for r in range(cfg.scan_realisations)]
    rows = []
    for j, (m, r) in enumerate(progress(jobs, verbose=verbose, desc="mismodelling scan")):
        if j in done:
            rows.append(done[j])
            continue
        row = scan_one(
            cfg,
            m,
            r,
            seed=seed,
            region=region,
            n_jobs=n_jobs,
            data_source=data_source,
            window=window,
        )
        append(j, row)
        rows.append(row)
        logger.info("mismodelling %g realisation %d: Z_honest %.2f", m, r, row["z_honest"])
    return rows


def scan_table(rows, cfg):
    """Median (min to max) per mismodelling strength, one line each."""
    from ..utils.tables import format_median_range

    table = []
    for m in cfg.mismodelling_scan:
        sel = [r for r in rows if r["mismodelling"] == m]

        def cell(key, fmt="{:.2f}", sel=sel):
            return format_median_range([r[key] for r in sel], fmt)

        table.append(
            {
                "mismodelling": f"{m:g}",
                "Z, SACWoLaTest default null": cell("z_honest"),
                "Z, plain asymptotic MI": cell("z_mi_asymptotic"),
                "MI Z on the simulation's scores": cell("z_mi_simulation"),
                "AUC SR vs SB on simulation": cell("auc_simulation_region", "{:.4f}"),
                "realisations warned": f"{sum(bool(r['warnings']) for r in sel)}/{len(sel)}",
            }
        )
    return table


def training_speed(cfg, *, seed, region, n_jobs, data_source, simulation_source, window):
    """Seed recipe vs nhtad default on one fold, and the default's k-fold time (a dict)."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from ..scoring import SACWoLaClassifier, out_of_fold_scores

    sb = cfg.speed_signal_to_background
    data, truth = window(data_source, cfg.n_background, sb, seed=seed(8), region=region)
    sim, _ = window(simulation_source, cfg.n_simulation, 0.0, seed=seed(9), region=region)
    X, mjj, is_sim = _training_set(data, sim)
    truth = np.r_[truth, np.zeros(len(sim))].astype(bool)
    labels = region.labels(mjj)
    splitter = StratifiedKFold(cfg.n_folds, shuffle=True, random_state=0)
    train, held_out = next(splitter.split(X, labels + 2 * is_sim))
    held_out = held_out[~is_sim[held_out]]
    out = {"n_train": int(train.size), "signal_to_background": sb, "recipes": {}}
    recipes = {"seed recipe": dict(SEED_RECIPE), "nhtad default": {"max_epochs": cfg.max_epochs}}
    if cfg.max_epochs < SEED_RECIPE["max_epochs"] and cfg.max_epochs < 12:
        # A quick study trains a few epochs: both recipes get as many, so the times compare
        # the batch sizes only (the page says so).
        recipes["seed recipe"]["max_epochs"] = cfg.max_epochs
    for name, params in recipes.items():
        start = time.perf_counter()
        clf = SACWoLaClassifier(random_state=0, **params).fit(
            X[train], labels[train], is_simulation=is_sim[train]
        )
        seconds = time.perf_counter() - start
        auc = (
            roc_auc_score(truth[held_out], clf.decision_function(X[held_out]))
            if truth[held_out].any()
            else float("nan")
        )
        out["recipes"][name] = {"params": params, "seconds_one_fold": seconds, "auc_signal": auc}
        logger.info("speed %s: %.1f s per fold, signal AUC %.4f", name, seconds, auc)
    start = time.perf_counter()
    out_of_fold_scores(
        SACWoLaClassifier(max_epochs=cfg.max_epochs),
        X,
        labels,
        is_simulation=is_sim,
        cv=cfg.n_folds,
        n_jobs=n_jobs,
        random_state=0,
    )
    out["seconds_all_folds"] = time.perf_counter() - start
    return out


def speed_table(speed):
    """One line per training recipe: its settings, time per fold and held-out signal AUC."""
    table = []
    for name, r in speed["recipes"].items():
        settings = ", ".join(f"{k}={v:g}" for k, v in r["params"].items()) or "defaults"
        table.append(
            {
                "training": f"{name} ({settings})",
                "time per fold": f"{r['seconds_one_fold']:.1f} s",
                "signal AUC (held-out data)": f"{r['auc_signal']:.4f}",
            }
        )
    return table


def run_checks(
    cfg, *, seed, window, region, n_jobs, sources, simulation, ckpt, done, offset, verbose, seconds
):
    """The mismodelling scan and the speed check of the seed-000 study.

    Their checkpoint rows follow the table's (numbers from ``offset``); ``seed(*key)`` (the
    study's root seed bound in) and ``window(source, n, sb, seed=, region=)`` are the study's,
    so the checks draw their events the way its table does. ``simulation`` is the user's
    simulation source, if any (the scan varies the generator's own). Each part's run time goes
    into ``seconds``.
    """
    from ._tables import _jsonable

    found = {}
    kw = {"seed": seed, "region": region, "n_jobs": n_jobs}
    if cfg.mismodelling_scan and simulation is None:
        start = time.perf_counter()

        def append(j, row):
            if ckpt is not None:
                ckpt.append([(offset + j, _jsonable(row, keep_nan=True))])

        found["scan"] = mismodelling_scan(
            cfg,
            data_source=sources[0],
            window=window,
            append=append,
            verbose=verbose,
            done={j - offset: row for j, row in done.items() if j >= offset},
            **kw,
        )
        seconds["scan"] = time.perf_counter() - start
    elif cfg.mismodelling_scan:
        logger.info("mismodelling scan skipped: it varies the embedded generator's simulation")
    if cfg.speed_signal_to_background is not None:
        start = time.perf_counter()
        found["speed"] = training_speed(
            cfg, data_source=sources[0], simulation_source=sources[1], window=window, **kw
        )
        seconds["speed"] = time.perf_counter() - start
    return found


def sections(result, cfg):
    """The scan and speed parts of the study page: ``(heading, text, table)`` each."""
    sections = []
    if "scan" in result:
        sections.append(
            (
                "Simulation mismodelling scan (S/B = 0, lam = 1)",
                f"`SACWoLaTest` on background-only data, trained with the embedded generator's "
                f"simulation at `mismodelling=m` (the generator's default is m = 1); "
                f"{cfg.scan_realisations} realisation(s) per strength, the same data and "
                "training seeds at every strength. 'warned': `SACWoLaTest` raised a warning (the "
                "score's m_jj dependence in background-like events, or no trend degree that "
                "fits the simulation; the texts are in the JSON).",
                scan_table(result["scan"], cfg),
            )
        )
    if "speed" in result:
        speed = result["speed"]
        recipes = speed["recipes"]
        ratio = recipes["seed recipe"]["seconds_one_fold"] / max(
            recipes["nhtad default"]["seconds_one_fold"], 1e-9
        )
        sections.append(
            (
                "Training speed and quality",
                f"One fold of {speed['n_train']} training events at S/B = "
                f"{speed['signal_to_background']:g}; the seed recipe takes {ratio:.1f}x the "
                f"default's time. All {cfg.n_folds} folds with the default: "
                f"{speed['seconds_all_folds']:.0f} s.",
                speed_table(speed),
            )
        )
    return sections
