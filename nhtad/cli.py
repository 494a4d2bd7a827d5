"""The ``nhtad`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

from .utils.interrupt import SIGINT_EXIT, SIGTERM_EXIT, sigterm_as_exit

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


_TABLE_HOW = {
    ".npz": "numpy.savez(path, s=..., mjj=...) (one numeric array per column) or nhtad generate",
    ".csv": "a header row of column names, then one comma-separated row of numbers per event",
}


def _load_npz(path):
    """The arrays of a .npz file by name; None when it holds a bare .npy array instead."""
    import numpy as np

    # Opened here, not by np.load, so the file is closed even when numpy fails half-way.
    with open(path, "rb") as fh:
        z = np.load(fh, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            return None
        with z:
            if "events" in z.files and z["events"].dtype.names:
                events = z["events"]
                return {name: events[name] for name in events.dtype.names}
            return {name: z[name] for name in z.files}


def _load_csv(path):
    import numpy as np

    with open(path, encoding="utf-8") as fh:
        data = np.genfromtxt(fh, delimiter=",", names=True, dtype=float)
    return {name: np.atleast_1d(data[name]) for name in (data.dtype.names or ())}


def _read_table(path, columns):
    """Columns of a .csv (header row) or .npz (one array per column, or a structured array).

    A file numpy cannot read (empty, truncated, not an archive, text that is not a table) is a
    ValueError naming the file and how to write it, never a traceback from numpy or zipfile.
    """
    import warnings

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix not in _TABLE_HOW:
        raise ValueError(f"{path}: unknown format {path.suffix!r}; use a .csv or .npz file.")
    how = _TABLE_HOW[path.suffix]
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): an interrupted write? Write it with {how}.")
    try:
        with warnings.catch_warnings():
            # genfromtxt warns about a file it cannot parse and returns nothing useful.
            warnings.simplefilter("error", UserWarning)
            table = _load_npz(path) if path.suffix == ".npz" else _load_csv(path)
    except (MemoryError, PermissionError):
        raise
    except Exception as exc:  # numpy, zipfile and codecs raise many types for a bad file
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        # numpy's advice to unpickle does not apply: nhtad never unpickles a file.
        text = text.split(" If you trust the file")[0].replace(" when allow_pickle=False", "")
        text = text[:240]
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        raise ValueError(
            f"{path} could not be read as a {path.suffix} table ({detail}); it may be damaged, "
            f"incomplete or of another format. Write it with {how}."
        ) from None
    if table is None:
        raise ValueError(
            f"{path} holds a single .npy array, not a .npz archive of named columns. Write "
            f"it with {how}."
        )
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(
            f"{path} has no column(s) {missing}; it has {sorted(table)}. Name them with "
            "--score-column / --mass-column."
        )
    values = []
    for c in columns:
        try:
            values.append(np.asarray(table[c], dtype=float))
        except (TypeError, ValueError):
            raise ValueError(
                f"column {c!r} of {path} is not numeric ({np.asarray(table[c]).dtype}). Write "
                f"it with {how}."
            ) from None
    return values


def _refuse_existing(paths, force) -> None:
    """Refuse before any work is done if an output exists and --force was not given."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not force:
        if len(existing) == 1:
            what, it, kept = f"{existing[0]} already exists", "it", "the old file stays"
        else:
            what, it, kept = f"{', '.join(existing)} already exist", "them", "old files stay"
        raise FileExistsError(
            f"{what}; pass --force to replace {it} ({kept} until the new output is complete) "
            "or choose another output name."
        )


def _cmd_generate(args) -> int:
    import numpy as np

    from .datasets import make_lhco_like
    from .utils.atomic import atomic_output

    out = Path(args.output)
    if out.suffix not in (".npz", ".csv", ".h5", ".hdf5"):
        raise ValueError(
            f"{out}: unknown format {out.suffix!r}; use a .csv, .npz or .h5 (LHCO features) "
            "file name."
        )
    # Checked before generating: a million events take seconds that a refusal should not cost.
    _refuse_existing([out], args.force)
    sample = make_lhco_like(
        args.n_background,
        args.signal_to_background,
        signal=args.signal,
        simulation=args.simulation,
        mismodelling=args.mismodelling,
        random_state=args.random_state,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    events = sample.events
    if out.suffix == ".npz":
        with atomic_output(out, overwrite=args.force) as fh:
            np.savez_compressed(fh, events=events, truth=sample.truth)
    elif out.suffix == ".csv":
        names = list(events.dtype.names) + ["truth"]
        table = np.column_stack([events[n] for n in events.dtype.names] + [sample.truth])
        with atomic_output(out, overwrite=args.force, mode="w") as fh:
            np.savetxt(fh, table, delimiter=",", header=",".join(names), comments="", fmt="%.8g")
    else:
        from .datasets import write_lhco

        # With --force an existing file keeps its other keys; only "df" is replaced.
        write_lhco(out, events, sample.truth, overwrite=args.force)
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
    if args.out:
        out = Path(args.out)
        json_path, png_path = out / "mi_test.json", out / "mi_test.png"
        # Checked before the test: a permutation null can take minutes.
        _refuse_existing([json_path, png_path], args.force)
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
        from . import plotting
        from .utils.atomic import atomic_output

        with atomic_output(json_path, overwrite=args.force, mode="w") as fh:
            fh.write(json.dumps(summary, indent=1))
        plotting.save_figure(plotting.plot_mi_null(result), png_path, overwrite=args.force)
        print(f"wrote {json_path} and {png_path}")
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
        checkpoint=_study_checkpoint(args),
        overwrite=args.force,
        **sources,
    )
    from .studies._tables import markdown_table

    print(markdown_table(result["table"]))
    print(f"\n(done in {result['seconds'] / 60:.1f} min; outputs in {args.out})")
    return 0


def _study_checkpoint(args):
    """The checkpoint folder, refusing to start over an earlier run's without --resume."""
    if args.checkpoint is None:
        if args.resume:
            raise ValueError("--resume needs --checkpoint DIR, the folder of the run to continue.")
        return None
    folder = Path(args.checkpoint)
    held = folder.is_dir() and any(folder.glob("*.ckpt"))
    if held and not args.resume:
        raise ValueError(
            f"{folder} holds the checkpoints of an earlier run; pass --resume to continue it "
            "(its settings must be the same), or choose another folder."
        )
    if args.resume and not held:
        raise ValueError(
            f"--resume: {folder} holds no checkpoint to continue; check the path, or drop "
            "--resume to start a run there."
        )
    return folder


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


def _force_option(parser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace existing output files (default: refuse them)",
    )


def _common(parser, *, out_default=None, jobs=True, force=False):
    parser.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    if jobs:
        parser.add_argument("--n-jobs", type=int, default=None, help="parallel jobs (joblib)")
    parser.add_argument(
        "--out", default=out_default, help=f"output folder (default: {out_default})"
    )
    if force:  # only where the command honours it: a --force that did nothing would mislead
        _force_option(parser)


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
    gen.add_argument(
        "--signal",
        choices=["resonant", "nonresonant"],
        default="resonant",
        help="the W' -> XY resonance or the same jets with flat m_jj (default: resonant)",
    )
    gen.add_argument("--simulation", action="store_true", help="the mismodelled simulation")
    gen.add_argument("--mismodelling", type=float, default=1.0, help="simulation mismodelling")
    gen.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    _force_option(gen)
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
    _common(mi, force=True)
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
        p.add_argument(
            "--checkpoint",
            metavar="DIR",
            help="folder where finished toys/realisations are saved as they finish, so that "
            "an interrupted study can be continued with --resume",
        )
        p.add_argument(
            "--resume",
            action="store_true",
            help="continue the run whose checkpoints are in --checkpoint DIR (same settings): "
            "finished work is reused, the table is the one an uninterrupted run gives",
        )
        _common(p, out_default=default_out, force=True)
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
        with sigterm_as_exit():
            return args.func(args)
    except (ValueError, ImportError, OSError, RuntimeError) as exc:
        message = " ".join(str(exc).split())
        print(f"nhtad {args.command}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(args, "Ctrl-C", SIGINT_EXIT)
    except SystemExit as exc:
        if exc.code != SIGTERM_EXIT:
            raise
        return _interrupted(args, "SIGTERM", SIGTERM_EXIT)


def _interrupted(args, what, code) -> int:
    """One line instead of a traceback: what the interrupted work left and how to go on."""
    message = f"nhtad {args.command}: interrupted ({what})."
    if getattr(args, "checkpoint", None) is not None:
        message += (
            f" The finished toys/realisations are in {args.checkpoint}; rerun the same "
            "command with --resume to continue."
        )
    elif hasattr(args, "checkpoint"):
        message += " Nothing finished was kept; add --checkpoint DIR to keep it next time."
    print(message, file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
