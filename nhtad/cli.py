"""The ``nhtad`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

__all__ = ["main", "build_parser"]


def _cmd_demo(args) -> int:
    from .demo import demo_summary, format_demo_table, run_demo

    start = time.perf_counter()
    classifier = None
    if args.max_epochs is not None:
        from .scoring import SACWoLaClassifier

        classifier = SACWoLaClassifier(max_epochs=args.max_epochs)
    print(
        "nhtad demo: LHCO-like dijet events (3.1-3.9 TeV window, SR 3.3-3.7 TeV); SA-CWoLa "
        "trained out-of-fold on data + simulation (SACWoLaTest), its score tested against "
        "m_jj with the plain MI null and with the default smooth-trend null\n",
        flush=True,
    )
    rows = run_demo(
        n_background=args.n_background,
        signal_to_background=args.signal_to_background,
        mass_mjj_slope=args.mass_mjj_slope,
        cv=args.cv,
        random_state=args.random_state,
        classifier=classifier,
    )
    print(format_demo_table(rows))
    print()
    print(demo_summary(rows))
    print(f"\n(done in {time.perf_counter() - start:.1f} s)")
    return 0


def _read_table(path, columns):
    """Columns of a .csv (header row) or .npz (one array per column, or a structured array)."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "events" in z.files and z["events"].dtype.names:
                table = {name: z["events"][name] for name in z["events"].dtype.names}
            else:
                table = {name: z[name] for name in z.files}
    elif path.suffix == ".csv":
        data = np.genfromtxt(path, delimiter=",", names=True, dtype=float, encoding="utf-8")
        table = {name: np.atleast_1d(data[name]) for name in (data.dtype.names or ())}
    else:
        raise ValueError(f"{path}: unknown format {path.suffix!r}; use a .csv or .npz file.")
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}; it has {sorted(table)}. Name them with "
            "--score-column / --mass-column."
        )
    return [np.asarray(table[c], dtype=float) for c in columns]


def _cmd_generate(args) -> int:
    import numpy as np

    from .datasets import make_lhco_like

    sample = make_lhco_like(
        args.n_background,
        args.signal_to_background,
        simulation=args.simulation,
        mismodelling=args.mismodelling,
        random_state=args.random_state,
    )
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    events = sample.events
    if out.suffix == ".npz":
        np.savez_compressed(out, events=events, truth=sample.truth)
    elif out.suffix == ".csv":
        names = list(events.dtype.names) + ["truth"]
        table = np.column_stack([events[n] for n in events.dtype.names] + [sample.truth])
        np.savetxt(out, table, delimiter=",", header=",".join(names), comments="", fmt="%.8g")
    elif out.suffix in (".h5", ".hdf5"):
        from .datasets import write_lhco

        write_lhco(out, events, sample.truth)
    else:
        raise ValueError(
            f"{out}: unknown format {out.suffix!r}; use a .csv, .npz or .h5 (LHCO features) "
            "file name."
        )
    columns = (
        "the LHCO 2020 feature columns and label"
        if out.suffix in (".h5", ".hdf5")
        else (f"columns {', '.join(events.dtype.names)}, truth")
    )
    print(f"wrote {len(events)} events ({sample.n_signal} signal) to {out}; {columns}")
    return 0


def _cmd_test_mi(args) -> int:
    import json

    from .stats import MutualInformationIndependenceTest

    s, mjj = _read_table(args.file, [args.score_column, args.mass_column])
    test = MutualInformationIndependenceTest(
        rel_uncertainty=args.rel_uncertainty,
        method=args.method,
        n_resamples=args.n_resamples,
        n_jobs=args.n_jobs,
        random_state=args.random_state,
    )
    result = test.test(s, mjj)
    print(repr(result))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        summary = {
            "file": str(args.file),
            "statistic": result.statistic,
            "pvalue": result.pvalue,
            "log_pvalue": result.log_pvalue,
            "significance": result.significance,
            "method": result.method,
            "n_events": result.n_events,
        }
        (out / "mi_test.json").write_text(json.dumps(summary, indent=1))
        from . import plotting

        plotting.save_figure(plotting.plot_mi_null(result), out / "mi_test.png")
        print(f"wrote {out / 'mi_test.json'} and {out / 'mi_test.png'}")
    return 0


def _study(args, module_name):
    import importlib

    module = importlib.import_module(f".studies.{module_name}", __package__)
    cfg = module.QUICK if args.quick else module.FULL
    if args.realisations is not None:
        field = "n_realisations" if hasattr(cfg, "n_realisations") else "n_signal"
        cfg = replace(cfg, **{field: args.realisations})
    sources = _study_sources(args)
    if args.n_background is not None or sources:
        # With a file and no --n-background the study takes what the file affords.
        cfg = replace(cfg, n_background=args.n_background)
        if hasattr(cfg, "n_simulation"):
            cfg = replace(cfg, n_simulation=args.n_background)
    run = module.run_sacwola_study if module_name == "sacwola_table" else module.run_nplm_study
    command = "nhtad " + " ".join(sys.argv[1:]) if sys.argv[1:] else f"nhtad study ({module_name})"
    result = run(
        cfg,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        out=args.out,
        verbose=0 if args.quiet else 1,
        command=command,
        **sources,
    )
    from .studies._tables import markdown_table

    print(markdown_table(result["table"]))
    print(f"\n(done in {result['seconds'] / 60:.1f} min; outputs in {args.out})")
    return 0


def _study_sources(args) -> dict:
    """LHCO-file event pools named on the command line, keyed as the study functions take them."""
    from .datasets import EventPool

    sources = {}
    if args.data is not None:
        sources["data"] = EventPool.from_lhco(args.data, masterkey=args.masterkey)
    elif args.masterkey is not None:
        raise ValueError("--masterkey needs --data (the Black Box file it labels).")
    simulation = getattr(args, "simulation", None)
    if simulation is not None:
        if args.data is None:
            raise ValueError(
                "--simulation needs --data: the generator's data come with its own simulation."
            )
        sources["simulation"] = EventPool.from_lhco(
            simulation, masterkey=args.simulation_masterkey, unlabelled="background"
        )
    elif args.data is not None and hasattr(args, "simulation"):
        raise ValueError(
            "with --data, give the simulated background too (--simulation FILE, e.g. the "
            "Black Box 1 features file with label 0 rows, or any background-only file)."
        )
    return sources


def _cmd_study_sacwola(args) -> int:
    return _study(args, "sacwola_table")


def _cmd_study_nplm(args) -> int:
    return _study(args, "nplm_table")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, with where to look for help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(parser, *, out_default=None, jobs=True):
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    if jobs:
        parser.add_argument("--n-jobs", type=int, default=None, help="parallel jobs (joblib)")
    parser.add_argument(
        "--out", default=out_default, help=f"output folder (default: {out_default})"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nhtad`` command."""
    parser = _Parser(
        prog="nhtad",
        description="Null-hypothesis tests for anomaly detection in collider data.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="train SA-CWoLa on LHCO-like events and test its score honestly (about a minute)",
        description=(
            "Generate LHCO-like dijet data and simulation with the embedded generator, train "
            "the SA-CWoLa classifier out-of-fold (SACWoLaTest) at S/B = 0 and with an injected "
            "W' -> XY signal, and test the score against m_jj with the plain asymptotic MI null "
            "and with the default smooth-trend null."
        ),
    )
    demo.add_argument(
        "--n-background",
        type=int,
        default=800_000,
        help="generated background events of data and of simulation each (default: 8e5, "
        "about 200k in the window)",
    )
    demo.add_argument(
        "--signal-to-background",
        type=float,
        nargs="+",
        default=[0.0, 0.01],
        metavar="SB",
        help="injected S/B values counted in the window (default: 0 0.01)",
    )
    demo.add_argument(
        "--mass-mjj-slope",
        type=float,
        default=0.9,
        help="how steeply the background's jet masses rise with m_jj (default: 0.9; the "
        "generator's default is 0.3)",
    )
    demo.add_argument("--cv", type=int, default=3, help="out-of-fold training folds (default: 3)")
    demo.add_argument(
        "--max-epochs",
        type=int,
        default=None,
        help="training epochs of the classifier (default: SACWoLaClassifier's, 12)",
    )
    demo.add_argument("--random-state", type=int, default=1, help="seed (default: 1)")
    demo.set_defaults(func=_cmd_demo)

    gen = sub.add_parser(
        "generate",
        help="write LHCO-like events to a .npz, .csv or LHCO-format .h5 file",
        description=(
            "Generate LHCO-like dijet events with the embedded generator (the default data of "
            "nhtad) and write them with their truth labels to a .npz or .csv event table, or to "
            "an .h5 file in the LHC Olympics 2020 high-level feature format (jets rebuilt from "
            "m_jj, masses, tau21 and dR), which --data of the studies reads."
        ),
    )
    gen.add_argument("output", help="output file: .npz, .csv or .h5")
    gen.add_argument("--n-background", type=int, default=1_000_000, help="default: 1e6")
    gen.add_argument("--signal-to-background", type=float, default=0.0, help="S/B in the window")
    gen.add_argument("--simulation", action="store_true", help="the mismodelled simulation")
    gen.add_argument("--mismodelling", type=float, default=1.0, help="simulation mismodelling")
    gen.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    gen.set_defaults(func=_cmd_generate)

    test = sub.add_parser(
        "test", help="run a test of the null on scores from a file", description="Tests."
    )
    test_sub = test.add_subparsers(dest="test_command", metavar="TEST", required=True)
    mi = test_sub.add_parser(
        "mi",
        help="mutual-information independence test of a score and m_jj",
        description=(
            "Read a score and m_jj per event from a .csv (header row) or .npz file and test "
            "their independence with the binned mutual information (Kamenik & Szewc)."
        ),
    )
    mi.add_argument("file", help=".csv or .npz with the score and m_jj columns")
    mi.add_argument("--score-column", default="s", help="score column (default: s)")
    mi.add_argument("--mass-column", default="mjj", help="m_jj column (default: mjj)")
    mi.add_argument("--rel-uncertainty", type=float, default=0.01, help="default: 0.01")
    mi.add_argument(
        "--method", choices=["asymptotic", "permutation"], default="asymptotic", help="null"
    )
    mi.add_argument("--n-resamples", type=int, default=999, help="permutations (default: 999)")
    _common(mi)
    mi.set_defaults(func=_cmd_test_mi)

    study = sub.add_parser(
        "study", help="reproduce a seed paper's table", description="The seed studies."
    )
    study_sub = study.add_subparsers(dest="study_command", metavar="STUDY", required=True)
    for name, func, text, default_out in (
        (
            "sacwola",
            _cmd_study_sacwola,
            "seed-000 Table I: MI test (lam 0, 1), anomaly cuts and bump hunt vs S/B",
            "nhtad-sacwola",
        ),
        (
            "nplm",
            _cmd_study_nplm,
            "seed-004 Table 1: NPLM and HGB with t_NP, t_cc and hyper-t_cc, toy-calibrated",
            "nhtad-nplm",
        ),
    ):
        p = study_sub.add_parser(name, help=text, description=text + " (embedded generator).")
        p.add_argument("--quick", action="store_true", help="small and fast (a few minutes)")
        p.add_argument(
            "--realisations",
            type=int,
            default=None,
            help="realisations per S/B (sacwola) or signal toys per injection (nplm)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.add_argument(
            "--data",
            metavar="FILE",
            help="LHC Olympics 2020 features .h5 to draw data from (default: the generator)",
        )
        p.add_argument("--masterkey", metavar="FILE", help="truth labels of a Black Box --data")
        if name == "sacwola":
            p.add_argument(
                "--simulation",
                metavar="FILE",
                help="LHCO features .h5 whose background (label 0; all rows if unlabelled) is "
                "the simulation (needed with --data)",
            )
            p.add_argument(
                "--simulation-masterkey", metavar="FILE", help="truth labels of --simulation"
            )
        p.add_argument(
            "--n-background",
            type=int,
            default=None,
            help="background events per realisation/toy, also simulated ones for sacwola "
            "(default: the mode's; with --data: all of each file for sacwola, a quarter of the "
            "data part for nplm)",
        )
        _common(p, out_default=default_out)
        p.set_defaults(func=func)
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
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split())
        print(f"nhtad {args.command}: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
