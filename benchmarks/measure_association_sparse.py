"""Type-I error of the homogeneous-association G^2 against criteria on the expected counts.

The measurement behind ``MAX_G2_BIAS`` (docs/statistics.md)::

    python benchmarks/measure_association_sparse.py 4000   # toys per configuration

Toy-level study: G^2 of null 2 x d_s x d_y tables vs. criteria on the fitted expected counts.

Null model (no three-way interaction): pooled s-y association from a Gaussian copula with
correlation rho on equal-probability bins (as pooled equal-count binning makes), data and
simulation differing in s and y marginals by log-linear tilts, sizes n_data and r * n_data.
n_data is set from m = mean expected count of a data cell. Each toy stores G^2, dof and the
candidate criteria computed from its *fitted* expected counts:
  min_mu   smallest fitted count
  frac5    fraction of fitted counts < 5
  b        (1/6) sum 1/mu / sqrt(2 dof): leading Williams/Lawley bias of G^2 in null-sd units
"""

import sys
import time

import numpy as np
from joblib import Parallel, delayed
from scipy import stats

from nhtad.stats.association import fit_no_three_way, g_squared


def copula_table(ds, dy, rho):
    qs = stats.norm.ppf(np.arange(1, ds) / ds)
    qy = stats.norm.ppf(np.arange(1, dy) / dy)
    mvn = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]])
    cdf = np.zeros((ds + 1, dy + 1))
    cdf[-1, 1:-1] = stats.norm.cdf(qy)
    cdf[1:-1, -1] = stats.norm.cdf(qs)
    cdf[-1, -1] = 1
    if rho == 0:
        cdf[1:-1, 1:-1] = np.outer(stats.norm.cdf(qs), stats.norm.cdf(qy))
    else:
        pts = np.array([[a, b] for a in qs for b in qy])
        cdf[1:-1, 1:-1] = mvn.cdf(pts).reshape(ds - 1, dy - 1)
    p = np.diff(np.diff(cdf, axis=0), axis=1)
    p = np.clip(p, 1e-300, None)
    return p / p.sum()


def run(ds, dy, rho, r, m, T, seed):
    p = copula_table(ds, dy, rho)
    u = np.linspace(-1, 1, ds)
    v = np.linspace(-1, 1, dy)
    shape = np.stack([p, p * np.exp(0.4 * u)[:, None] * np.exp(-0.8 * v)[None, :]])
    shape /= shape.sum(axis=(1, 2), keepdims=True)
    n_data = int(round(m * ds * dy))
    totals = np.array([n_data, int(round(r * n_data))])
    rng = np.random.default_rng(seed)
    out = []
    for k in range(0, T, 500):
        toys = rng.multinomial(totals, shape.reshape(2, -1), size=(min(500, T - k), 2)).reshape(
            -1, 2, ds, dy
        )
        mu, it, conv = fit_no_three_way(toys)
        g2 = g_squared(toys, mu)
        dof = (ds - 1) * (dy - 1)
        with np.errstate(divide="ignore"):
            inv = np.where(mu > 0, 1 / mu, np.inf).sum(axis=(1, 2, 3))
        out.append(
            np.column_stack(
                [
                    g2,
                    np.full(len(g2), dof),
                    mu.min(axis=(1, 2, 3)),
                    (mu < 5).mean(axis=(1, 2, 3)),
                    inv / 6 / np.sqrt(2 * dof),
                    np.full(len(g2), m),
                    np.full(len(g2), ds),
                    np.full(len(g2), r),
                    np.full(len(g2), rho),
                    conv,
                ]
            )
        )
    return np.concatenate(out)


def analyse(a):
    g2, dof, minmu, frac5, b, m, d, r, rho, conv = a.T
    print("toys", len(a), "unconverged", int((conv == 0).sum()))
    p = stats.chi2.sf(g2, dof)
    z = (g2 - dof) / np.sqrt(2 * dof)

    def summary(mask, label):
        if mask.sum() == 0:
            return
        rates = " ".join(f"r{a:g}={np.mean(p[mask] < a):.4f}" for a in (0.05, 0.01, 0.001))
        print(f"{label:28s} n={int(mask.sum()):7d} {rates} shift={z[mask].mean():+.3f}")

    print("== binned by b (Williams bias / null sd)")
    edges = [0, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, np.inf]
    for lo, hi in zip(edges[:-1], edges[1:]):
        summary((b >= lo) & (b < hi), f"b in [{lo}, {hi})")
    print("== accepted by b <= threshold (cumulative)")
    for t in [0.05, 0.1, 0.15, 0.2, 0.3]:
        summary(b <= t, f"b <= {t}")
    print("== binned by min fitted mu")
    edges = [0, 0.5, 1, 2, 3, 5, 8, 12, 20, np.inf]
    for lo, hi in zip(edges[:-1], edges[1:]):
        summary((minmu >= lo) & (minmu < hi), f"min mu in [{lo}, {hi})")
    print("== accepted by min mu >= threshold (cumulative)")
    for t in [1, 3, 5, 10, 20]:
        summary(minmu >= t, f"min mu >= {t}")
    print("== fraction of cells below 5 <= threshold")
    for t in [0.0, 0.05, 0.2]:
        summary(frac5 <= t, f"frac5 <= {t}")
    print("== per config (shape, rho, r, m): worst among configs accepted by each rule")
    keys = np.unique(np.column_stack([d, rho, r, m]), axis=0)
    rows = []
    for k in keys:
        sel = (d == k[0]) & (rho == k[1]) & (r == k[2]) & (m == k[3])
        rates = [np.mean(p[sel] < alpha) for alpha in (0.05, 0.01, 0.001)]
        rows.append((*k, np.median(b[sel]), np.median(minmu[sel]), *rates, z[sel].mean()))
    rows = np.array(rows)
    for name, ok in (("b<=0.1", rows[:, 4] <= 0.1), ("minmu>=5", rows[:, 5] >= 5)):
        sub = rows[ok]
        w = sub[np.argmax(sub[:, 8])]
        print(
            f"{name}: {len(sub)} configs, worst r05 {w[6]:.4f} r01 {w[7]:.4f} r001 {w[8]:.5f} "
            f"shift {w[9]:+.3f} at d={w[0]:.0f} rho={w[1]:.1f} r={w[2]:.0f} m={w[3]:g} "
            f"(b={w[4]:.3f} min mu={w[5]:.2f})"
        )


if __name__ == "__main__":
    T = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    shapes = [(3, 3), (4, 6), (8, 8), (12, 12), (16, 16), (25, 25), (40, 40)]
    grid = [
        (ds, dy, rho, r, m)
        for (ds, dy) in shapes
        for rho in (0.0, 0.6)
        for r in (1, 4)
        for m in (2, 3, 5, 8, 12, 20, 40, 80)
    ]
    t0 = time.time()
    res = Parallel(n_jobs=2)(delayed(run)(*g, T, k) for k, g in enumerate(grid))
    print("time", time.time() - t0)
    analyse(np.concatenate(res))
