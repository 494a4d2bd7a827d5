"""Speed of the NPLM kernel fit against a reference that works the way falkon does on CPU.

Run: ``python benchmarks/bench_nplm.py`` (``--quick`` for a short run; ``--device cuda``).

Configuration (``reference/nplm_falkon.md`` Sec. 13, where falkon 0.9.0 itself took 126 s on
this 2-core machine): d = 5, reference N_R = 200k and data N_D = 100k drawn from N(0, I_5),
M = 2000 centres drawn with ``default_rng(0).choice``, sigma = the 90th percentile of pairwise
reference distances (4.3), lam = 1e-6, float64, one Newton step of the weighted cross-entropy
with falkon's preconditioner and CG stopping rule (NPLM-Falkon's recipe).

In the same run, on the same data and centres, it times:

- nhtad: ``NPLMKernelEstimator(sigma=..., centers=...).fit(X, y)`` (K_NM stored when it fits the
  memory cap, one fused pass per CG iteration), then the statistic;
- the reference: the same preconditioner and CG, but K_NM never stored: each product with K_NM
  or K_MN recomputes the kernel tiles (distance GEMM, exp) in its own pass, two passes per CG
  iteration and two more every 10th (falkon's ``knmp_hess`` on CPU with ``keops_active="no"``),
  and 1/N preconditioner scaling.

It prints both times, their ratio and both t values (target: >= 10x with t equal to 1e-4
relative), then nhtad's scaling with N (M fixed) and with M (N fixed).

nhtad is timed twice: the first fit of the process ("cold") pays for the first touch of the
``8 N M`` bytes (4.8 GB) of fresh memory that hold K_NM; in this sandbox that page faulting alone
takes 4-7 s and varies from run to run. The second fit ("warm") reuses memory the process already
has, as every fit after the first one in a toy loop does. Both ratios are printed.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from nhtad.scoring import NPLMKernelEstimator, candidate_sigma
from nhtad.scoring.nplm import FALKON_CG_TOLERANCE
from nhtad.scoring.nystrom import CG_EPSILON, CG_REFRESH_EVERY, JITTER

# ----------------------------------------------------------------------------- the reference

_REFERENCE_BLOCK_ROWS = 20_000


def _kernel_block(Xb, C, c_sq, gamma):
    # Unfused, as a straightforward tile kernel does it: GEMM, add norms, clamp, scale, exp.
    D = Xb @ C.T
    D.mul_(-2.0)
    D.add_((Xb * Xb).sum(1)[:, None])
    D.add_(c_sq[None, :])
    D.clamp_min_(0.0)
    D.mul_(-gamma)
    return D.exp_()


def _knm_times(X, C, gamma, v):
    c_sq = (C * C).sum(1)
    out = torch.empty(X.shape[0], dtype=X.dtype)
    for s in range(0, X.shape[0], _REFERENCE_BLOCK_ROWS):
        out[s : s + _REFERENCE_BLOCK_ROWS] = (
            _kernel_block(X[s : s + _REFERENCE_BLOCK_ROWS], C, c_sq, gamma) @ v
        )
    return out


def _kmn_times(X, C, gamma, u):
    c_sq = (C * C).sum(1)
    out = torch.zeros(C.shape[0], dtype=X.dtype)
    for s in range(0, X.shape[0], _REFERENCE_BLOCK_ROWS):
        out += (
            _kernel_block(X[s : s + _REFERENCE_BLOCK_ROWS], C, c_sq, gamma).T
            @ u[s : s + _REFERENCE_BLOCK_ROWS]
        )
    return out


def reference_fit(X, y, idx, sigma, lam, w, cg_tol=FALKON_CG_TOLERANCE):
    """One WCE Newton step from f = 0, kernel recomputed on every pass; returns t and CG its."""
    n, m = X.shape[0], len(idx)
    C = X[idx]
    gamma = 0.5 / sigma**2
    c_sq = (C * C).sum(1)
    kmm = _kernel_block(C, C, c_sq, gamma)
    T = torch.linalg.cholesky(kmm + JITTER * m * torch.eye(m, dtype=X.dtype)).mT
    wc = torch.where(y[idx] > 0.5, 0.25, w / 4.0).to(X.dtype)
    A = torch.linalg.cholesky((T * wc[None, :]) @ T.T / n + lam * torch.eye(m, dtype=X.dtype)).mT
    d = torch.where(y > 0.5, 0.25, w / 4.0).to(X.dtype)
    g = torch.where(y > 0.5, -0.5, w / 2.0).to(X.dtype)

    def tri(U, v, trans=False):
        U = U.mT if trans else U
        return torch.linalg.solve_triangular(U, v[:, None], upper=not trans)[:, 0]

    def op(v):
        va = tri(A, v)
        h = _kmn_times(X, C, gamma, d * _knm_times(X, C, gamma, tri(T, va))) / n
        return tri(A, tri(T, h, True) + lam * va, True)

    b = tri(A, tri(T, _kmn_times(X, C, gamma, g) / n, True), True)
    x = torch.zeros(m, dtype=X.dtype)
    r = b.clone()
    p = r.clone()
    rs = r @ r
    for it in range(100_000):
        Ap = op(p)
        a = rs / (p @ Ap + CG_EPSILON)
        x += a * p
        r = b - op(x) if (it + 1) % CG_REFRESH_EVERY == 0 else r - a * Ap
        rs_new = r @ r
        if rs_new < cg_tol**2:
            break
        p = r + (rs_new / (rs + CG_EPSILON)) * p
        rs = rs_new
    alpha = tri(T, -tri(A, x))
    f = _knm_times(X, C, gamma, alpha)
    t = 2 * (w * torch.sum(-torch.expm1(f[y < 0.5])) + torch.sum(f[y > 0.5]))
    return float(t), it + 1


# ----------------------------------------------------------------------------- the run


def make_sample(n_data, n_reference, d=5, seed=0):
    rng = np.random.default_rng(seed)
    reference = rng.standard_normal((n_reference, d))
    data = rng.standard_normal((n_data, d))
    X = np.vstack([data, reference])
    y = np.r_[np.ones(n_data, int), np.zeros(n_reference, int)]
    return X, y


def time_nhtad(X, y, idx, sigma, device="cpu"):
    start = time.perf_counter()
    est = NPLMKernelEstimator(sigma=sigma, centers=idx, device=device).fit(X, y)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, est


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 30k, M = 500; short scans")
    parser.add_argument("--device", default="cpu", help="torch device for nhtad (reference: CPU)")
    parser.add_argument("--no-reference", action="store_true", help="skip the slow reference")
    args = parser.parse_args(argv)

    n_data, n_ref, m = (10_000, 20_000, 500) if args.quick else (100_000, 200_000, 2000)
    X, y = make_sample(n_data, n_ref)
    sigma = candidate_sigma(X[n_data:], 90)
    idx = np.random.default_rng(0).choice(X.shape[0], m, replace=False)
    print(
        f"NPLM fit: d=5, N_D={n_data}, N_R={n_ref}, M={m}, sigma={sigma}, lam=1e-6, float64, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}"
    )
    cold, est = time_nhtad(X, y, idx, sigma, args.device)
    warm, again = time_nhtad(X, y, idx, sigma, args.device)
    assert again.statistic_ == est.statistic_, "two identical fits gave different t"
    print(
        f"  nhtad cold {cold:8.2f} s  t = {est.statistic_:.6f}  CG iterations {est.cg_iterations_}"
        f"  kernel {est.kernel_storage_}"
    )
    print(f"  nhtad warm {warm:8.2f} s  (second fit, same t)")
    if not args.no_reference:
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.float64))
        start = time.perf_counter()
        t_ref, its = reference_fit(Xt, yt, torch.from_numpy(idx), sigma, 1e-6, n_data / n_ref)
        ref = time.perf_counter() - start
        rel = abs(est.statistic_ / t_ref - 1)
        print(f"  reference  {ref:8.2f} s  t = {t_ref:.6f}  CG iterations [{its}]")
        print(
            f"  speed-up {ref / cold:.1f}x cold, {ref / warm:.1f}x warm; "
            f"|t / t_ref - 1| = {rel:.1e} (target >= 10x, <= 1e-4)"
        )
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")

    print("\nnhtad scaling with N (M fixed; N_R = 2 N_D):")
    fractions = (0.25, 0.5, 1.0) if args.quick else (0.125, 0.25, 0.5, 1.0)
    for frac in fractions:
        nd, nr = int(n_data * frac), int(n_ref * frac)
        Xs, ys = make_sample(nd, nr, seed=1)
        sub = np.random.default_rng(0).choice(Xs.shape[0], m, replace=False)
        secs, e = time_nhtad(Xs, ys, sub, sigma, args.device)
        print(f"  N = {nd + nr:7d}  M = {m:5d}  {secs:7.2f} s  CG {e.cg_iterations_}")
    print("\nnhtad scaling with M (N fixed):")
    for mm in (m // 4, m // 2, m) if args.quick else (500, 1000, 2000, 4000):
        sub = np.random.default_rng(0).choice(X.shape[0], mm, replace=False)
        secs, e = time_nhtad(X, y, sub, sigma, args.device)
        print(f"  N = {X.shape[0]:7d}  M = {mm:5d}  {secs:7.2f} s  CG {e.cg_iterations_}")


if __name__ == "__main__":
    main()
