"""The tests stage of ``study_honest_null.py``: every null on every cached realisation, tables.

Kept apart from the training stage so that the nulls can be revised and rerun on the cached
scores in minutes; ``python benchmarks/study_honest_null.py --stage tests`` runs it alone.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

from nhtad.calibration import clopper_pearson
from nhtad.stats.pvalues import empirical_pvalue
from nhtad.utils.atomic import atomic_output

REPO = Path(__file__).resolve().parents[1]
ALPHAS = (0.05, 0.01)

#: The nulls compared: name -> (description, factory(region, rel, seed) -> test, uses simulation).
DEFAULT_REL = 0.02


def _nulls():
    from nhtad.sacwola_test import default_sacwola_null
    from nhtad.stats import (
        HomogeneousAssociationTest,
        MutualInformationIndependenceTest,
        SmoothTrendIndependenceTest,
    )

    def st(**kw):
        return lambda region, rel, seed: SmoothTrendIndependenceTest(
            rel_uncertainty=rel, y_bins=region, **kw
        )

    return {
        "mi_asymptotic": (
            "MI, asymptotic chi^2 (assumes s independent of m_jj)",
            lambda region, rel, seed: MutualInformationIndependenceTest(
                rel_uncertainty=rel, y_bins=region
            ),
            False,
        ),
        "mi_relabelled": (
            "MI, data/simulation relabelling (I_data - I_sim)",
            lambda region, rel, seed: MutualInformationIndependenceTest(
                rel_uncertainty=rel,
                y_bins=region,
                method="simulation",
                n_resamples=999,
                random_state=seed,
            ),
            True,
        ),
        "homogeneous_association": (
            "homogeneous association G^2 (same s-m_jj association in data and simulation)",
            lambda region, rel, seed: HomogeneousAssociationTest(
                rel_uncertainty=rel, y_bins=region
            ),
            True,
        ),
        "smooth_any": (
            "smooth trend, whole-table goodness of fit, degree from 0 on the simulation",
            st(alternative="any"),
            True,
        ),
        "smooth_sr_equal": (
            "smooth trend, signal-region term, equal-count score bins, degree from 0",
            st(alternative="signal_region"),
            True,
        ),
        "sacwola_default": (
            "SACWoLaTest's default: smooth trend, signal-region term, halving score bins, "
            "degree >= 1 chosen on the simulation at level 0.1",
            lambda region, rel, seed: default_sacwola_null(region, _N_DATA[0]),
            True,
        ),
        "halving_min0": (
            "as the default, degree from 0 at level 0.05 (the rule before this study)",
            st(alternative="signal_region", s_quantiles="halving"),
            True,
        ),
        "halving_alpha0.05": (
            "as the default, degree rule at level 0.05",
            st(**dict(DEFAULT_RULE, selection_alpha=0.05)),
            True,
        ),
        "halving_sidebands": (
            "as the default, degree from the sidebands only (no simulation)",
            st(**DEFAULT_RULE, degree_from="sidebands"),
            False,
        ),
        "halving_both": (
            "as the default, degree accepted by both the sidebands and the simulation",
            st(**DEFAULT_RULE, degree_from="both"),
            True,
        ),
        "halving_deeper": (
            "as the default, one more halving (top bin ~100 events at 50k)",
            st(**dict(DEFAULT_RULE, s_quantiles=1 - 0.5 ** np.arange(1, 10))),
            True,
        ),
        "equal_min1": (
            "as the default, equal-count score bins",
            st(**dict(DEFAULT_RULE, s_quantiles=None)),
            True,
        ),
        "halving_k0": (
            "halving score bins, signal-region term, degree 0",
            st(alternative="signal_region", s_quantiles="halving", degree=0),
            False,
        ),
        "halving_k1": (
            "halving score bins, signal-region term, degree 1",
            st(alternative="signal_region", s_quantiles="halving", degree=1),
            False,
        ),
        "halving_k2": (
            "halving score bins, signal-region term, degree 2",
            st(alternative="signal_region", s_quantiles="halving", degree=2),
            False,
        ),
    }


#: The default's degree rule and score bins, for the variants that change one thing.
DEFAULT_RULE = {
    "alternative": "signal_region",
    "s_quantiles": "halving",
    "min_degree": 1,
    "selection_alpha": 0.1,
}

#: Binning targets at which the default null is also evaluated (to choose its default).
REL_SCAN = ()
# The data size of the realisation being evaluated (the default null's binning follows it).
_N_DATA = [0]


def _baselines(s, mjj, region):
    from nhtad.stats import AnomalyCutTest, BumpHuntTest
    from nhtad.stats.bump_hunt import BackgroundFitError

    out = {}
    labels = region.labels(mjj)
    for eps in (0.1, 0.01):
        out[f"cut{eps:g}"] = (
            AnomalyCutTest(efficiency=eps, efficiency_uncertainty=False)
            .fit(s, labels)
            .significance_
        )
    for key, kwargs in (
        ("bump_hunt", {}),
        ("bump_hunt_cut0.1", {"efficiency": 0.1}),
        ("bump_hunt_cut0.01", {"efficiency": 0.01}),
    ):
        test = BumpHuntTest(region=region, **kwargs)
        try:
            out[key] = test.fit(s if kwargs else None, mjj).significance_
        except (ValueError, BackgroundFitError):
            out[key] = float("nan")
    return out


def evaluate(path):
    """All nulls (and, for signal realisations, the baselines) on one cached realisation."""
    from nhtad.datasets import SignalRegion

    region = SignalRegion()
    with np.load(path) as z:
        scores, mjj, is_sim, truth = z["scores"], z["mjj"], z["is_simulation"], z["truth"]
        seconds = float(z["seconds"])
    s, y = scores[~is_sim], mjj[~is_sim]
    s_sim, y_sim = scores[is_sim], mjj[is_sim]
    n_sig = int(truth[~is_sim].sum())
    row = {
        "file": path.name,
        "n_data": int(s.size),
        "n_simulation": int(s_sim.size),
        "n_signal": n_sig,
        "z0": n_sig / math.sqrt(s.size - n_sig),
        "train_seconds": seconds,
        "tests": {},
    }
    seed = int.from_bytes(path.name.encode()[:8], "little")
    _N_DATA[0] = s.size
    jobs = [(name, DEFAULT_REL) for name in _nulls()] + [
        ("sacwola_default", rel) for rel in REL_SCAN
    ]
    for name, rel in jobs:
        _, factory, uses_sim = _nulls()[name]
        test = factory(region, rel, seed)
        key = name if rel == DEFAULT_REL else f"{name}@{rel:g}"
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                if uses_sim:
                    test.fit(s, y, s_simulation=s_sim, y_simulation=y_sim)
                else:
                    test.fit(s, y)
            result = {
                "pvalue": test.pvalue_,
                "log_pvalue": test.log_pvalue_,
                "z": test.significance_,
                "method": test.result_.method,
                "warned": bool(caught),
            }
            if hasattr(test, "degree_"):
                result["degree"] = int(test.degree_)
            if getattr(test, "spurious_signal_", None) is not None:
                result["spurious_z"] = float(test.spurious_signal_["significance"])
        except (ValueError, RuntimeError) as err:
            result = {"error": str(err)[:200]}
        result["seconds"] = time.perf_counter() - start
        row["tests"][key] = result
    if n_sig:
        row["baselines"] = _baselines(s, y, region)
    return row


# -- summaries ------------------------------------------------------------------------------
def fpr_cell(pvalues, refused):
    p = np.asarray(pvalues, dtype=float)
    n = p.size
    if n == 0:
        return {"n": 0, "refused": refused}
    cell = {"n": n, "refused": refused, "ks_pvalue": float(stats.kstest(p, "uniform").pvalue)}
    for alpha in ALPHAS:
        k = int((p < alpha).sum())
        cell[f"rate_{alpha:g}"] = k / n
        cell[f"interval_{alpha:g}"] = tuple(map(float, clopper_pearson(k, n)))
    band = 3 * math.sqrt(0.05 * 0.95 / n)
    cell["honest"] = bool(cell["rate_0.05"] <= 0.05 + band and cell["ks_pvalue"] > 0.01)
    return cell


def summarise(rows, cfg):
    from study_honest_null import CASES

    nulls = _nulls()
    keys = list(nulls) + [f"sacwola_default@{rel:g}" for rel in REL_SCAN]
    summary = {
        "fpr": {},
        "fpr_lam0": {},
        "validation": {},
        "power": {},
        "toys": {},
        "degrees": {},
    }
    for kind, lam, target in (
        ("null", 1.0, "fpr"),
        ("null", 0.0, "fpr_lam0"),
        ("validation", 1.0, "validation"),
    ):
        for case in CASES:
            sel = [r for r in rows if r["kind"] == kind and r["case"] == case and r["lam"] == lam]
            if not sel:
                continue
            summary[target][case] = {}
            for key in keys:
                ok = [r["tests"][key] for r in sel if "error" not in r["tests"][key]]
                cell = fpr_cell([t["pvalue"] for t in ok], len(sel) - len(ok))
                summary[target][case][key] = cell
            degrees = [r["tests"]["sacwola_default"].get("degree") for r in sel]
            summary["degrees"][f"{case}-{kind}-lam{lam:g}"] = np.bincount(
                [d for d in degrees if d is not None], minlength=4
            ).tolist()
    for lam in (1.0, 0.0):
        for sb in cfg["power_signal_to_background"]:
            sel = [r for r in rows if r["kind"] == "power" and r["lam"] == lam and r["sb"] == sb]
            if not sel:
                continue
            cell = {"n": len(sel), "z0": [r["z0"] for r in sel]}
            for key in keys:
                cell[key] = [r["tests"][key].get("z", float("nan")) for r in sel]
            for key in sel[0].get("baselines", {}):
                cell[key] = [r["baselines"][key] for r in sel]
            summary["power"][f"lam{lam:g}-sb{sb:g}"] = cell
    # Whole-chain toys: the default statistic's Z and the plain MI Z calibrated on
    # simulation-only pseudo-experiments, applied to the null realisations of the same case.
    for case in cfg["toy_cases"]:
        toys = [r for r in rows if r["kind"] == "toy" and r["case"] == case]
        nulls_ = [r for r in rows if r["kind"] == "null" and r["case"] == case and r["lam"] == 1]
        if not toys or not nulls_:
            continue
        summary["toys"][case] = {}
        for key in ("mi_asymptotic", "sacwola_default"):
            null_z = np.array([t["tests"][key].get("z", np.nan) for t in toys])
            null_z = null_z[np.isfinite(null_z)]
            obs = [r["tests"][key].get("z", np.nan) for r in nulls_]
            # Realisations at the toys' floor are part of the rate measured here, not news.
            p = [empirical_pvalue(null_z, z, warn_floor=False) for z in obs if np.isfinite(z)]
            summary["toys"][case][key] = fpr_cell(p, len(obs) - len(p)) | {
                "n_toys": int(null_z.size)
            }
    return summary


def _fmt_rate(cell, alpha):
    lo, hi = cell[f"interval_{alpha:g}"]
    return f"{cell[f'rate_{alpha:g}']:.2f} [{lo:.2f}, {hi:.2f}]"


def markdown(summary, cfg, meta):
    from study_honest_null import CASES

    nulls = _nulls()
    lines = [
        f"<!-- written by `{meta['command']}` on {meta['date']} ({meta['minutes']:.0f} min); "
        "do not edit by hand -->",
        "",
        "### At a glance: the default null and the plain MI null, lam = 1",
        "",
        "| background case | realisations | default: p < 0.05 | default: p < 0.01 | "
        "default: KS p | plain MI: p < 0.05 | plain MI: KS p |",
        "|---|---|---|---|---|---|---|",
    ]
    for target, suffix in (("fpr", ""), ("validation", ", fresh seeds")):
        for case, cells in summary[target].items():
            cell, mi = cells["sacwola_default"], cells["mi_asymptotic"]
            bold = "**" if cell["honest"] else ""
            lines.append(
                f"| {CASES[case]['label']}{suffix} | {cell['n']} | "
                f"{bold}{_fmt_rate(cell, 0.05)}{bold} | {_fmt_rate(cell, 0.01)} | "
                f"{cell['ks_pvalue']:.3f} | {_fmt_rate(mi, 0.05)} | {mi['ks_pvalue']:.3f} |"
            )
    lines += [
        "",
        "### False-positive rates, lam = 1",
        "",
        "Fraction of null realisations with p < 0.05 and p < 0.01 (68% Clopper-Pearson "
        "interval), KS p-value of the p-values against U(0, 1); `refused` counts realisations "
        "where the test raised instead of giving a p-value. **bold**: fraction below 0.05 within "
        "the binomial 3-sigma band and KS p > 0.01.",
        "",
    ]
    for case, cells in summary["fpr"].items():
        n = next(iter(cells.values()))["n"] + next(iter(cells.values()))["refused"]
        lines += [
            f"**{CASES[case]['label']}** ({n} realisations)",
            "",
            "| null | p < 0.05 | p < 0.01 | KS p | refused |",
            "|---|---|---|---|---|",
        ]
        for key, cell in cells.items():
            name = nulls[key.split("@")[0]][0] + (
                f" (rel {key.split('@')[1]})" if "@" in key else ""
            )
            if cell["n"] == 0:
                lines.append(f"| {name} | - | - | - | {cell['refused']} |")
                continue
            bold = "**" if cell["honest"] else ""
            lines.append(
                f"| {name} | {bold}{_fmt_rate(cell, 0.05)}{bold} | {_fmt_rate(cell, 0.01)} | "
                f"{cell['ks_pvalue']:.3f} | {cell['refused']} |"
            )
        lines.append("")
    for target, title in (
        ("fpr_lam0", "False-positive rates, lam = 0 (plain CWoLa, no simulation in training)"),
        (
            "validation",
            "False-positive rates on fresh realisations, lam = 1 (seeds not used when the "
            "default was chosen)",
        ),
    ):
        if not summary[target]:
            continue
        lines += [f"### {title}", ""]
        for case, cells in summary[target].items():
            lines += [
                f"**{CASES[case]['label']}**",
                "",
                "| null | p < 0.05 | p < 0.01 | KS p | refused |",
                "|---|---|---|---|---|",
            ]
            for key, cell in cells.items():
                if "@" in key or cell["n"] == 0:
                    continue
                bold = "**" if cell["honest"] else ""
                lines.append(
                    f"| {nulls[key][0]} | {bold}{_fmt_rate(cell, 0.05)}{bold} | "
                    f"{_fmt_rate(cell, 0.01)} | {cell['ks_pvalue']:.3f} | {cell['refused']} |"
                )
            lines.append("")
    if summary["toys"]:
        lines += [
            "### Whole-chain toys (simulation split into pseudo-data and pseudo-simulation)",
            "",
            "| case | statistic | toys | p < 0.05 | p < 0.01 | KS p |",
            "|---|---|---|---|---|---|",
        ]
        for case, cells in summary["toys"].items():
            for key, cell in cells.items():
                lines.append(
                    f"| {CASES[case]['label']} | Z of {nulls[key][0]} | {cell['n_toys']} | "
                    f"{_fmt_rate(cell, 0.05)} | {_fmt_rate(cell, 0.01)} | {cell['ks_pvalue']:.3f} |"
                )
        lines.append("")
    lines += ["### Degree chosen by the default rule (counts of K = 0, 1, 2, 3)", ""]
    lines += ["| case | K counts |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary["degrees"].items()]
    lines.append("")
    if summary["power"]:
        lines += [
            "### Power: median Z (16th-84th percentile) over signal realisations",
            "",
        ]
        first = next(iter(summary["power"].values()))
        keys = [k for k in first if k not in ("n", "z0")]
        for lam in (1.0, 0.0):
            sel = {k: v for k, v in summary["power"].items() if k.startswith(f"lam{lam:g}-")}
            if not sel:
                continue
            lines += [
                f"**lam = {lam:g}**",
                "",
                "| test | " + " | ".join(f"S/B = {k.split('sb')[1]}" for k in sel) + " |",
                "|---|" + "---|" * len(sel),
            ]
            lines.append(
                "| Z0 = S/sqrt(B) | " + " | ".join(_median(v["z0"]) for v in sel.values()) + " |"
            )
            for key in keys:
                label = (
                    nulls[key.split("@")[0]][0]
                    + (f" (rel {key.split('@')[1]})" if "@" in key else "")
                    if key.split("@")[0] in nulls
                    else key
                )
                lines.append(
                    f"| {label} | " + " | ".join(_median(v[key]) for v in sel.values()) + " |"
                )
            lines.append("")
    return "\n".join(lines)


def _median(values):
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return "-"
    lo, med, hi = np.percentile(v, [16, 50, 84])
    return f"{med:.2f} ({lo:.2f}-{hi:.2f})"


def _rounded(obj):
    """JSON-ready copy with floats to 7 significant digits (the file holds ~30,000 p-values)."""
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(f"{float(obj):.7g}")
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _write(path: Path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    # The study regenerates its own tables: replacing them is the point of a rerun.
    with atomic_output(path, overwrite=True, mode="w") as fh:
        fh.write(text)


def stage_tests(cfg, cache, jobs, args):
    from joblib import Parallel, delayed
    from study_honest_null import cache_name

    start = time.perf_counter()
    todo = [(job, cache / cache_name(cfg, *job)) for job in jobs]
    todo = [(job, path) for job, path in todo if path.exists()]
    print(f"tests: {len(todo)} cached realisations", file=sys.stderr, flush=True)
    rows = Parallel(n_jobs=args.n_jobs)(delayed(evaluate)(path) for _, path in todo)
    for (kind, case, lam, sb, index), row in zip((job for job, _ in todo), rows):
        row.update(kind=kind, case=case, lam=lam, sb=sb, index=index)
    summary = summarise(rows, cfg)
    meta = {
        "command": "python benchmarks/study_honest_null.py" + (" --quick" if args.quick else ""),
        "date": time.strftime("%Y-%m-%d"),
        "minutes": (time.perf_counter() - start) / 60,
        "train_seconds_mean": float(np.mean([r["train_seconds"] for r in rows])) if rows else 0,
    }
    text = markdown(summary, cfg, meta)
    out = args.out or (
        REPO / "docs" / "studies" / "honest_null" / "tables.md"
        if not args.quick
        else Path(tempfile.gettempdir()) / "nhtad_honest_null_quick" / "tables.md"
    )
    _write(out, text + "\n")
    _write(
        out.with_name("results.json"),
        json.dumps(
            _rounded({"meta": meta, "summary": summary, "rows": rows}), separators=(",", ":")
        ),
    )
    print(text)
    return 0
