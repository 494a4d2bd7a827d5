"""The ``nhtad`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import logging
import sys
import time

__all__ = ["main", "build_parser"]


def _cmd_demo(args) -> int:
    from .demo import demo_summary, format_demo_table, run_demo

    start = time.perf_counter()
    rows = run_demo(
        n_background=args.n_background,
        signal_to_background=args.signal_to_background,
        rel_uncertainty=args.rel_uncertainty,
        random_state=args.random_state,
    )
    print(
        "nhtad demo: LHCO-like dijet events (3.1-3.9 TeV window, SR 3.3-3.7 TeV), "
        "mutual-information independence test of score vs m_jj\n"
    )
    print(format_demo_table(rows))
    print()
    print(demo_summary(rows))
    print(f"\n(done in {time.perf_counter() - start:.1f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nhtad`` command."""
    parser = argparse.ArgumentParser(
        prog="nhtad",
        description="Null-hypothesis tests for anomaly detection in collider data.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="generate LHCO-like events and run the MI test on simple scores",
        description=(
            "Generate LHCO-like dijet events with the embedded generator and test two simple "
            "scores for independence of m_jj with the mutual-information test, at S/B = 0 and "
            "with an injected W' -> XY signal."
        ),
    )
    demo.add_argument(
        "--n-background",
        type=int,
        default=1_000_000,
        help="generated background events (default: 1e6)",
    )
    demo.add_argument(
        "--signal-to-background",
        type=float,
        nargs="+",
        default=[0.0, 0.005, 0.01],
        metavar="SB",
        help="injected S/B values counted in the window (default: 0 0.005 0.01)",
    )
    demo.add_argument(
        "--rel-uncertainty", type=float, default=0.01, help="MI binning target (default: 0.01)"
    )
    demo.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``nhtad`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except (ValueError, ImportError, OSError) as exc:
        print(f"nhtad {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
