"""Run the test suite beside CPU-heavy processes: does it pass, how long, and does it exit?

Run: ``python benchmarks/check_busy_machine.py`` (the suite's default run, ``-m "not slow"``),
``python benchmarks/check_busy_machine.py --select hgb`` (a ``pytest -k`` selection), or with
more pytest arguments after ``--``.

On a shared machine the suite once ran into 900 s timeouts inside HistGradientBoosting and
joblib, then hung after printing its summary, waiting for a loky worker. This script
reproduces such a machine: it starts one busy process per core (``--burners``; a pure-Python
spin loop, or single-threaded numpy matrix products with ``--burner matmul``), runs pytest in
its own process group beside them and reports

* the wall time to pytest's summary line and to its exit,
* whether the tests passed (exit status 0),
* whether pytest exited by itself within ``--grace`` seconds of its summary; if not, it is
  reported as hung and its process group (pytest and its joblib workers) is killed.

The burners are killed at the end whatever happens. The exit status is 0 when the tests passed
and pytest exited by itself, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

BURNERS = {
    "spin": "while True: pass",
    "matmul": (
        "import numpy as np\n"
        "a = np.random.default_rng(0).random((400, 400))\n"
        "while True: a = np.tanh(a @ a)"
    ),
}

# pytest's last line, e.g. "3 passed, 2 deselected in 4.10s" (-q) or "=== 1 failed in 9.00s ===".
SUMMARY = re.compile(
    r"^=*\s*(\d+ (passed|failed|errors?|skipped|deselected|xfailed|xpassed)|no tests ran)"
    r".* in [\d.]+s"
)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def start_burners(n: int, kind: str) -> list[subprocess.Popen]:
    # One thread each: n burners then hold n cores, as n other single-threaded jobs would.
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return [
        subprocess.Popen(
            [sys.executable, "-c", BURNERS[kind]],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        if p.poll() is None:
            p.kill()
    for p in processes:
        p.wait()


def run_pytest(command, env, *, timeout, grace, echo):
    """Run ``command``; return (status, summary line, seconds to summary, seconds to exit)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a kill reaches its loky workers
    )
    seen = {}

    def read():
        for line in proc.stdout:
            if echo:
                sys.stdout.write(line)
                sys.stdout.flush()
            if SUMMARY.match(line.strip()):
                seen["line"], seen["at"] = line.strip(), time.monotonic() - start

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    status = "exited"
    while proc.poll() is None:
        now = time.monotonic() - start
        if "at" in seen and now > seen["at"] + grace:
            status = f"hung: still running {grace:.0f} s after its summary"
            break
        if now > timeout:
            status = f"timed out after {timeout:.0f} s"
            break
        time.sleep(0.5)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    reader.join(timeout=5)
    return status, proc.returncode, seen.get("line"), seen.get("at"), time.monotonic() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--select", help="pytest -k expression (default: the whole default run)")
    parser.add_argument(
        "--burners", type=int, default=cores(), help="busy processes (default: one per core)"
    )
    parser.add_argument("--burner", choices=sorted(BURNERS), default="spin")
    parser.add_argument(
        "--nhtad-threads",
        type=int,
        help="run pytest with NHTAD_NUM_THREADS set to this (threads per worker / process)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the run")
    parser.add_argument(
        "--grace", type=float, default=60.0, help="seconds to exit after the summary line"
    )
    parser.add_argument("--quiet", action="store_true", help="do not echo pytest's output")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments, after --")
    args = parser.parse_args(argv)
    if args.burners < 0:
        parser.error(f"--burners must be >= 0; got {args.burners}.")

    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if args.select:
        command += ["-k", args.select]
    command += args.pytest_args
    env = dict(os.environ)
    if args.nhtad_threads is not None:
        env["NHTAD_NUM_THREADS"] = str(args.nhtad_threads)

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    burners = start_burners(args.burners, args.burner)
    try:
        status, code, line, to_summary, to_exit = run_pytest(
            command, env, timeout=args.timeout, grace=args.grace, echo=not args.quiet
        )
    finally:
        stop(burners)

    passed = code == 0 and status == "exited"
    threads = {k: env[k] for k in ("NHTAD_NUM_THREADS", "OMP_NUM_THREADS") if k in env}
    print()
    print(f"command   : {' '.join(command[1:])}  (env {threads or 'unset'})")
    print(
        f"beside    : {args.burners} {args.burner} burner(s) on {cores()} core(s), "
        f"load {load_before:.1f} before"
    )
    print(f"summary   : {line or '(none seen)'}")
    if to_summary is not None:
        print(f"wall time : {to_summary:.1f} s to the summary, {to_exit:.1f} s to the exit")
    else:
        print(f"wall time : {to_exit:.1f} s")
    print(f"passed    : {'yes' if code == 0 else f'no (exit status {code})'}")
    print(f"exited    : {'yes, by itself' if status == 'exited' else f'no, {status}; killed'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
