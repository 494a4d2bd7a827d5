"""NPLM fits of one seed-004 toy on a torch device beside the same fit on 2 CPU threads.

Run: ``python benchmarks/bench_nplm_device.py --device cuda`` (on a machine with a GPU; with
``--device cpu`` it times the CPU against itself).

One toy of the seed-004 study (``LHCOToys(500_000, include_mjj=True, generate="kept")``: about
54k data and 108k reference events in the signal region), fitted as the study fits it: the
6-D NPLM statistic at widths 1, 2, 3 and the 5-D NPLM classifier at width 2 (M = 1000,
standardised features). Two rounds on the device (the first pays the device's start-up), then
the 5-D fit on 2 CPU threads in the same run: the printed speed-up is device vs CPU, and the
ratio of the two t values shows that the device changes rounding only.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nhtad.calibration import LHCOToys
from nhtad.scoring import NPLMKernelEstimator


def fit(X, y, sigma, device, seed):
    start = time.perf_counter()
    est = NPLMKernelEstimator(
        sigma=sigma, n_centers=1000, standardize=True, device=device, random_state=seed
    ).fit(X, y)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, est


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="torch device to time (default cuda)")
    args = parser.parse_args(argv)
    X, y = LHCOToys(500_000, include_mjj=True, generate="kept")(np.random.SeedSequence(7))
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    print(f"toy: N = {y.size} ({int(y.sum())} data); torch {torch.__version__}; {name}")
    for k in range(2):
        s6, e6 = fit(X, y, [1.0, 2.0, 3.0], args.device, 1)
        s5, e5 = fit(X[:, :5], y, 2.0, args.device, 2)
        print(
            f"{args.device} round {k}: 6-D, 3 widths {s6:.3f} s (t = {np.round(e6.statistic_, 6)}, "
            f"CG {e6.cg_iterations_}); 5-D {s5:.3f} s (t = {e5.statistic_:.6f})"
        )
    torch.set_num_threads(2)
    c5, f5 = fit(X[:, :5], y, 2.0, "cpu", 2)
    print(
        f"cpu, 2 threads: 5-D {c5:.2f} s (t = {f5.statistic_:.6f}); "
        f"t({args.device}) / t(cpu) - 1 = {e5.statistic_ / f5.statistic_ - 1:.1e}; "
        f"speed-up {c5 / s5:.1f}x"
    )


if __name__ == "__main__":
    main()
