"""When does the chi-square law of the binned MI test hold, and how do resampled tails extend?

Run: ``python benchmarks/measure_mi_sparse.py`` (about 15 minutes on one core; ``--quick`` for
a rough pass in about two; ``--parts AC`` for some of the tables). It prints four tables, the
numbers behind the rule of ``MutualInformationIndependenceTest(method="asymptotic")`` in
docs/statistics.md:

A. Null tables of the binned (s, y) test over a grid of N, bin counts and data (continuous
   uniform, a score with 60% of the events at one value, and both variables tied), placed at
   chosen values of Williams' mean shift ``delta`` (``williams_correction``). Null tables are
   the exact null given the marginals: y permuted against s (for continuous data equal-count
   bins fix the marginals, so this *is* the null of independent data). For each: the smallest
   and mean expected cell count, ``delta``, the measured mean shift of ``2NI`` above ``k`` in
   units of ``sqrt(2k)``, the standard deviation of ``2NI`` over ``sqrt(2k)``, and the rejection
   rates at alpha = 0.05 / 0.01 / 0.001 of the plain chi-square law and of Williams' ``2NI/q``;
   then exact rates of the plain law on tiny 2 x 2 tables, where discreteness, not sparsity, rules.
B. The estimator end to end on independent data sets (each its own seed): the old p-value (plain
   chi-square law, whatever the table) against the new rule (``method="asymptotic"``, which picks
   the law, the permutation fallback, or refuses).
C. Tails of resampled nulls: the permutation null of ``I`` on sparse tables against the Gamma law
   fitted to its first 9,999 resamples (and a normal law), and the relabelling null of
   ``I_data - I_sim`` against the fitted Pearson type III and normal laws; tail probabilities of
   the laws at the empirical 1e-2, 1e-3, 1e-4 quantiles of many resamples.
D. The relabelled null end to end (n_resamples = 199, so the fitted tail gives every p < 0.05):
   exchangeable data and simulation, rejection rates and KS p; and the Z of a strong
   data/simulation difference against the empirical cap.
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np
from scipy import stats

from nhtad.stats import MutualInformationIndependenceTest, mutual_information
from nhtad.stats.binning import min_count_for
from nhtad.stats.contingency import score_mass_table
from nhtad.stats.mutual_info import (
    _asymptotic_regime,
    _gamma_tail,
    _permutation_batch,
    _relabel_batch,
    _relabelling_tail,
    williams_correction,
)
from nhtad.stats.pvalues import chi2_log_sf


def _data(rng, n, kind):
    s, y = rng.random(n), rng.random(n)
    if kind in ("tied", "both tied"):
        s[rng.random(n) < 0.6] = 0.5
    if kind == "both tied":
        y[rng.random(n) < 0.3] = 0.25
    return s, y


def _bins_for_shift(n, target):
    # Equal-count d x d bins with Williams' shift (d+1)^2 (d-1) / (6 sqrt(2) N) ~ target.
    d = 2
    while (d + 2) ** 2 * d <= 6.0 * math.sqrt(2.0) * n * target:
        d += 1
    return n // d


def part_a(rng, quick):
    print("\nA. chi-square law of 2NI on null tables (y permuted against s)")
    head = (
        f"{'N':>7} {'data':>9} {'bins':>9} {'E_min':>6} {'E_mean':>6} {'delta':>5} "
        f"{'shift':>5} {'sd':>5} | {'chi2: .05':>9} {'.01':>6} {'.001':>6} | "
        f"{'2NI/q: .05':>10} {'.01':>6} {'.001':>6} | {'sets':>5}  rule (method='asymptotic')"
    )
    print(head)
    grid = [(1_000, 4000), (5_000, 4000), (20_000, 4000), (100_000, 1000), (400_000, 400)]
    targets = [0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0]
    if quick:
        grid, targets = [(1_000, 1000), (20_000, 1000)], [0.05, 0.1, 0.3, 1.0]
    pooled = {}
    for n, n_sets in grid:
        for target in targets:
            m = _bins_for_shift(n, target)
            for kind in ("uniform", "tied", "both tied"):
                s, y = _data(rng, n, kind)
                b = score_mass_table(s, y, min_count=m, rel_uncertainty=1 / math.sqrt(m))
                q, shift = williams_correction(b.table)
                k = (b.shape[0] - 1) * (b.shape[1] - 1)
                g = 2 * n * _permutation_batch(rng, n_sets, b.s_index, b.y_index, b.shape)
                p_plain = np.exp(chi2_log_sf(g, k))
                p_will = np.exp(chi2_log_sf(g / q, k))
                rows, cols = b.table.sum(axis=1), b.table.sum(axis=0)
                e_min = rows.min() * cols.min() / n
                regime = _asymptotic_regime(shift, e_min)
                rates = [np.mean(p < a) for p in (p_plain, p_will) for a in (0.05, 0.01, 0.001)]
                print(
                    f"{n:>7} {kind:>9} {f'{b.shape[0]}x{b.shape[1]}':>9} {e_min:6.1f} "
                    f"{n / b.table.size:6.1f} {shift:5.2f} "
                    f"{(g.mean() - k) / math.sqrt(2 * k):5.2f} {g.std() / math.sqrt(2 * k):5.2f} "
                    f"| {rates[0]:9.3f} {rates[1]:6.3f} {rates[2]:6.4f} | {rates[3]:10.3f} "
                    f"{rates[4]:6.3f} {rates[5]:6.4f} | {n_sets:>5}  {regime}",
                    flush=True,
                )
                if regime.startswith("chi2"):
                    pooled.setdefault(regime, []).append(p_plain if regime == "chi2" else p_will)
    print("\nrejection rates of the law the rule picks, pooled over the tables it picks it for")
    print("(and the highest rate at alpha = 0.05 of a single configuration):")
    for regime, ps in pooled.items():
        worst = max(np.mean(p < 0.05) for p in ps)
        ps = np.concatenate(ps)
        rates = " / ".join(f"{np.mean(ps < a):.4f}" for a in (0.05, 0.01, 0.001))
        print(
            f"  {regime:>9}: {ps.size} null tables, alpha = 0.05 / 0.01 / 0.001: {rates}; "
            f"highest {worst:.3f}"
        )


def small_tables():
    """Exact rejection rates of the plain law on 2 x 2 tables of equal margins (no sampling)."""
    print("\nA'. 2 x 2 tables of n/2 events a marginal bin, exact (hypergeometric) rates")
    print(f"{'N':>5} {'delta':>6} | {'chi2: .05':>9} {'.01':>7} {'.001':>7}")
    for n in (24, 30, 40, 60, 100, 200):
        half = n // 2
        x = np.arange(half + 1)
        tables = np.stack([np.stack([x, half - x], -1), np.stack([half - x, x], -1)], 1)
        g = 2 * n * mutual_information(tables)
        log_p = np.array([chi2_log_sf(gi, 1) for gi in g])
        pmf = stats.hypergeom.pmf(x, n, half, half)
        rates = [pmf[log_p < math.log(a)].sum() for a in (0.05, 0.01, 0.001)]
        _, shift = williams_correction(tables[0])
        print(f"{n:>5} {shift:6.3f} | {rates[0]:9.4f} {rates[1]:7.4f} {rates[2]:7.4f}")


def _old_log_p(s, y, rel):
    b = score_mass_table(s, y, min_count=min_count_for(rel), rel_uncertainty=rel)
    k = (b.shape[0] - 1) * (b.shape[1] - 1)
    return chi2_log_sf(2 * s.size * mutual_information(b.table), k)


def part_b(quick):
    print("\nB. end to end on independent data sets: old plain chi-square law vs the new rule")
    print(
        f"{'N':>7} {'rel':>6} {'data':>9} {'sets':>5} | {'old p<.05':>9} {'old p<.001':>10} "
        f"{'old median Z':>12} | {'new: refused':>12} {'p<.05':>6} {'p<.001':>6} {'KS p':>6}  "
        f"pvalue_source"
    )
    configs = [
        (4_000, 0.05, "uniform"),
        (4_000, 0.065, "uniform"),
        (4_000, 0.1, "uniform"),
        (2_000, 0.1, "uniform"),
        (4_000, 0.08, "tied"),
        (20_000, 0.05, "uniform"),
        (50_000, 0.05, "uniform"),
        (50_000, 0.1, "uniform"),
        (250_000, 0.01, "uniform"),
    ]
    n_sets = 100 if quick else 400
    for n, rel, kind in configs:
        sets = 50 if n >= 20_000 and quick else n_sets
        if n >= 250_000:
            sets = min(sets, 100)
        old, new, refused, sources = [], [], 0, set()
        for child in np.random.SeedSequence([n, int(rel * 1e4)]).spawn(sets):
            rng = np.random.default_rng(child)
            s, y = _data(rng, n, kind)
            old.append(_old_log_p(s, y, rel))
            test = MutualInformationIndependenceTest(
                rel_uncertainty=rel, n_resamples=199, random_state=child
            )
            try:
                res = test.fit(s, y).result_
            except ValueError:
                refused += 1
                continue
            new.append(res.pvalue)
            sources.add(res.details["pvalue_source"])
        old = np.exp(np.array(old))
        z_old = np.median(stats.norm.isf(old))
        new = np.array(new)
        if new.size:
            cols = (
                f"{np.mean(new < 0.05):6.3f} {np.mean(new < 0.001):6.3f} "
                f"{stats.kstest(new, 'uniform').pvalue:6.3f}"
            )
        else:
            cols = f"{'-':>6} {'-':>6} {'-':>6}"
        print(
            f"{n:>7} {rel:>6} {kind:>9} {sets:>5} | {np.mean(old < 0.05):9.3f} "
            f"{np.mean(old < 0.001):10.3f} {z_old:12.2f} | {refused:>12} {cols}  "
            f"{','.join(sorted(sources)) or '-'}",
            flush=True,
        )


def _tail_row(label, null, fitted, other):
    out = f"{label:<52}"
    for a in (1e-2, 1e-3, 1e-4):
        if a * null.size < 10:
            continue
        t = np.quantile(null, 1 - a)
        out += f" | {a:.0e}: {math.exp(fitted(t)):.2e} {math.exp(other(t)):.2e}"
    return out


def part_c(rng, quick):
    print("\nC. tails: law probability at the empirical quantile (fitted law, then normal law)")
    n_big = 20_000 if quick else 300_000
    for n, rel, kind in [
        (2_000, 0.1, "uniform"),
        (4_000, 0.1, "uniform"),
        (20_000, 0.05, "uniform"),
        (4_000, 0.1, "tied"),
    ]:
        s, y = _data(rng, n, kind)
        b = score_mass_table(s, y, min_count=min_count_for(rel), rel_uncertainty=rel)
        null = _permutation_batch(rng, n_big, b.s_index, b.y_index, b.shape)
        params, log_sf = _gamma_tail(null[:9999])
        mean, sd = null[:9999].mean(), null[:9999].std(ddof=1)

        def normal(t, mean=mean, sd=sd):
            return float(stats.norm.logsf((t - mean) / sd))

        _, shift = williams_correction(b.table)
        label = f"permutation, N={n} {kind} {b.shape[0]}x{b.shape[1]} delta={shift:.2f} (gamma)"
        print(_tail_row(label, null, log_sf, normal), flush=True)

    n_big = 20_000 if quick else 100_000
    for n_data, n_sim, rel, dep in [
        (20_000, 20_000, 0.05, 0.0),
        (20_000, 40_000, 0.05, 0.0),
        (40_000, 20_000, 0.05, 0.0),
        (20_000, 100_000, 0.05, 0.0),
        (20_000, 40_000, 0.05, 0.3),
        (10_000, 50_000, 0.07, 0.0),
    ]:
        y = rng.random(n_data + n_sim)
        s = dep * y + rng.normal(size=y.size)
        m = math.ceil(min_count_for(rel) * (n_data + n_sim) / min(n_data, n_sim))
        b = score_mass_table(s, y, min_count=m, rel_uncertainty=rel)
        pooled = b.table.ravel()
        k = (b.shape[0] - 1) * (b.shape[1] - 1)
        null = np.concatenate(
            [_relabel_batch(rng, 10_000, pooled, n_data, b.shape) for _ in range(n_big // 10_000)]
        )
        params, log_sf = _relabelling_tail(null[:9999], n_data=n_data, n_sim=n_sim, dof=k)
        mean, sd = null[:9999].mean(), null[:9999].std(ddof=1)

        def normal(t, mean=mean, sd=sd):
            return float(stats.norm.logsf((t - mean) / sd))

        label = (
            f"relabel, {n_data}/{n_sim} dep={dep} {b.shape[0]}x{b.shape[1]} "
            f"({params['law']}, skew {params['skewness']:.3f})"
        )
        print(_tail_row(label, null, log_sf, normal), flush=True)


def part_d(quick):
    print("\nD. relabelled null end to end (n_resamples = 199)")
    n_sets = 100 if quick else 400
    for n_data, n_sim in [(10_000, 10_000), (10_000, 25_000), (25_000, 10_000)]:
        ps, sources = [], {}
        for child in np.random.SeedSequence([7, n_data, n_sim]).spawn(n_sets):
            rng = np.random.default_rng(child)
            y = rng.random(n_data + n_sim)
            s = 0.3 * y + rng.normal(size=y.size)
            res = (
                MutualInformationIndependenceTest(
                    rel_uncertainty=0.05, method="simulation", n_resamples=199, random_state=child
                )
                .fit(s[:n_data], y[:n_data], s_simulation=s[n_data:], y_simulation=y[n_data:])
                .result_
            )
            ps.append(res.pvalue)
            src = res.details["pvalue_source"]
            sources[src] = sources.get(src, 0) + 1
        ps = np.array(ps)
        print(
            f"  exchangeable {n_data}/{n_sim}, {n_sets} sets: p<.05 {np.mean(ps < 0.05):.3f}, "
            f"p<.01 {np.mean(ps < 0.01):.3f}, KS p {stats.kstest(ps, 'uniform').pvalue:.3f}, "
            f"sources {sources}",
            flush=True,
        )
    rng = np.random.default_rng(3)
    y = rng.random(60_000)
    s = 0.3 * y + rng.normal(size=y.size)
    s[:30_000] += 1.0 * ((y[:30_000] > 0.45) & (y[:30_000] < 0.55))
    for n_res in (199, 9999):
        res = (
            MutualInformationIndependenceTest(
                rel_uncertainty=0.05, method="simulation", n_resamples=n_res, random_state=0
            )
            .fit(s[:30_000], y[:30_000], s_simulation=s[30_000:], y_simulation=y[30_000:])
            .result_
        )
        cap = stats.norm.isf(1 / (n_res + 1))
        print(
            f"  signal in data only, n_resamples={n_res}: Z = {res.significance:.2f} "
            f"(method {res.method!r}, {res.details['pvalue_source']}), empirical cap Z = {cap:.2f}"
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sets, for a rough check")
    parser.add_argument("--parts", default="ABCD", help="which tables to print (default ABCD)")
    args = parser.parse_args(argv)
    # The permutation fallback logs a warning per fit; here it is the point, not news.
    logging.getLogger("nhtad").setLevel(logging.ERROR)
    rng = np.random.default_rng(20_240_611)
    start = time.perf_counter()
    if "A" in args.parts:
        part_a(rng, args.quick)
        small_tables()
    if "B" in args.parts:
        part_b(args.quick)
    if "C" in args.parts:
        part_c(rng, args.quick)
    if "D" in args.parts:
        part_d(args.quick)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
