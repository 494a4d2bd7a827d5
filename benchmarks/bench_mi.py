"""Speed of the mutual-information independence test.

Run: ``python benchmarks/bench_mi.py`` (add ``--quick`` for a short run).

For N in {1e5, 2.5e5, 1e6} it times, in the same run and on the same data:

- nhtad: ``MutualInformationIndependenceTest().fit(s, y)``, the full test (validation, binning of
  s and y under the 1% rule, contingency table, MI, log-space Gamma p-value and Z);
- (a) the reference: the Kamenik-Szewc notebooks' algorithm, transcribed as they run it
  (list comprehensions of np.quantile calls for the edges, Python list-comprehension filters,
  a merge loop that re-histograms after every merge, np.histogram2d, MI by nested maps over
  bins, scipy's gamma.sf and norm.isf);
- (b) a bare ``np.histogram2d`` on nhtad's own edges (the floor for any binned test).

It also times 10,000 null toys of the table (Poisson resampling under independence, the
parametric bootstrap of the reference's Fig. 3) against the reference's toy loop.

Data follow the reference's own speed study: a falling m_jj-like y in [3.1, 3.9] TeV and a
sigmoid score with 7% of the events tied at one value.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from nhtad.stats import MutualInformationIndependenceTest, mutual_information

# ----------------------------------------------------------------------------- reference (a)


def _reference_mutual_info(p):
    # functions.mutual_info of the reference: nested maps over bins, clipped at zero.
    ps, py = p.sum(axis=1), p.sum(axis=0)
    total = sum(
        map(
            lambda i: sum(
                map(
                    lambda j: p[i, j] * np.log(p[i, j] / (ps[i] * py[j])) if p[i, j] > 0 else 0.0,
                    range(p.shape[1]),
                )
            ),
            range(p.shape[0]),
        )
    )
    return max(total, 0.0)


def reference_test(s, y, rel=0.0099, y_nbins=25):
    """The reference notebooks' binning + MI + Gamma p-value, as they run it."""
    y_bins = np.array([np.quantile(y, i / (y_nbins - 1)) for i in range(y_nbins)])
    keep = [a and b for a, b in zip(y >= y_bins[0], y < y_bins[-1])]
    s_f = s[keep]
    s_nbins = round(len(s) * rel**2)
    s_bins = np.unique([np.quantile(s, i / (s_nbins - 1)) for i in range(s_nbins)])
    counts, _ = np.histogram(s, s_bins)
    while np.any(1.0 / np.sqrt(np.maximum(counts, 1e-300)) > rel) and len(s_bins) > 2:
        i = int(np.argmax(1.0 / np.sqrt(np.maximum(counts, 1e-300)) > rel))
        if i == 0:
            s_bins = np.delete(s_bins, 1)
        elif i == len(counts) - 1:
            s_bins = np.delete(s_bins, i)
        elif counts[i - 1] <= counts[i + 1]:
            s_bins = np.delete(s_bins, i)
        else:
            s_bins = np.delete(s_bins, i + 1)
        counts, _ = np.histogram(s, s_bins)
    hist, se, ye = np.histogram2d(s, y, bins=[s_bins, y_bins], density=True)
    p = hist * np.outer(np.diff(se), np.diff(ye))
    mi = _reference_mutual_info(p)
    null = stats.gamma(a=0.5 * (len(s_bins) - 2) * (len(y_bins) - 2), scale=1.0 / len(s_f))
    pvalue = null.sf(mi)
    return mi, pvalue, stats.norm.isf(pvalue), (len(s_bins) - 1, len(y_bins) - 1)


def reference_toys(table, n_toys, rng):
    """The reference's Poisson toys: one table per toy, MI by the nested maps."""
    n = table.sum()
    p = table / n
    expected = n * np.outer(p.sum(axis=1), p.sum(axis=0))
    out = np.empty(n_toys)
    for k in range(n_toys):
        toy = rng.poisson(expected)
        out[k] = _reference_mutual_info(toy / toy.sum())
    return out


# ----------------------------------------------------------------------------- harness


def make_data(n, rng):
    y = 3100.0 + rng.exponential(320.0, 3 * n)
    y = y[y < 3900.0][:n]
    s = 1.0 / (1.0 + np.exp(-rng.normal(0.0, 1.5, n)))
    s[rng.random(n) < 0.07] = 0.50098
    return s, y


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, N <= 2.5e5")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 7
    sizes = [100_000, 250_000] if args.quick else [100_000, 250_000, 1_000_000]
    rng = np.random.default_rng(0)

    print("MI independence test, median wall time of", repeats, "runs")
    print(
        f"{'N':>9} {'nhtad ms':>9} {'(a) ref ms':>11} {'ref/nhtad':>9} "
        f"{'(b) h2d ms':>10} {'nhtad/h2d':>9} {'(d_s,d_y)':>10} {'Z nhtad':>8} {'Z ref':>7}"
    )
    for n in sizes:
        s, y = make_data(n, rng)
        test = MutualInformationIndependenceTest()
        ours, _ = best_time(lambda: test.fit(s, y), repeats)
        ref, ref_out = best_time(lambda: reference_test(s, y), max(1, repeats // 2))
        h2d, hist = best_time(
            lambda: np.histogram2d(s, y, bins=[test.s_edges_, test.y_edges_])[0], repeats
        )
        # Same edges, same table: nhtad's counting agrees with numpy's.
        assert np.array_equal(hist, test.contingency_), "contingency tables differ"
        print(
            f"{n:>9} {1e3 * ours:>9.2f} {1e3 * ref:>11.1f} {ref / ours:>9.1f} "
            f"{1e3 * h2d:>10.2f} {ours / h2d:>9.2f} {str(test.n_bins_):>10} "
            f"{test.significance_:>8.2f} {ref_out[2]:>7.2f}"
        )

    n = 250_000
    s, y = make_data(n, rng)
    table = MutualInformationIndependenceTest().fit(s, y).contingency_
    n_toys = 10_000
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    ours, null = best_time(
        lambda: mutual_information(
            np.random.default_rng(1).poisson(expected, (n_toys, *table.shape))
        ),
        repeats,
    )
    n_ref = 1_000 if args.quick else n_toys
    ref, ref_null = best_time(lambda: reference_toys(table, n_ref, np.random.default_rng(2)), 1)
    ref *= n_toys / n_ref
    dof = (table.shape[0] - 1) * (table.shape[1] - 1)
    print(
        f"\n{n_toys} Poisson toys of the {table.shape} table (N = {n}): nhtad {ours:.3f} s, "
        f"reference loop {ref:.2f} s{' (scaled from 1000)' if n_ref != n_toys else ''}, "
        f"ratio {ref / ours:.0f}x; toy mean I = {null.mean():.4e} "
        f"(reference toys {ref_null.mean():.4e}, Gamma {dof / 2 / n:.4e})"
    )


if __name__ == "__main__":
    main()
