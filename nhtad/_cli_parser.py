"""The argument parser of the ``nhtad`` command line: its commands and their options."""

from __future__ import annotations

import argparse

from ._cli_commands import cmd_demo, cmd_generate, cmd_scan, cmd_study_nplm, cmd_study_sacwola
from ._cli_test_parser import add_test_commands

__all__ = ["build_parser", "VERBOSE_DESTS"]

#: Where ``-v`` is counted at each level of the command line (``nhtad -v test -v mi -v``): a
#: subcommand's parser would overwrite a count of the same name made before it, so each level
#: counts in its own attribute and :func:`nhtad.cli.main` adds them up.
VERBOSE_DESTS = ("verbose", "verbose_1", "verbose_2")


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


def _verbosity(dest, parser=None):
    """``-v/--verbose`` counted into ``dest`` (on ``parser``, or on a new parent parser)."""
    parser = parser if parser is not None else argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        dest=dest,
        help="log progress (-vv: debug messages, and the traceback of an error); accepted "
        "before or after the command",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nhtad`` command."""
    parser = _Parser(
        prog="nhtad",
        description="Null-hypothesis tests for anomaly detection in collider data.",
    )
    _verbosity(VERBOSE_DESTS[0], parser)
    verbose = {level: _verbosity(dest) for level, dest in enumerate(VERBOSE_DESTS) if level}
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        parents=[verbose[1]],
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
    demo.set_defaults(func=cmd_demo)

    gen = sub.add_parser(
        "generate",
        parents=[verbose[1]],
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
    gen.set_defaults(func=cmd_generate)

    test = sub.add_parser(
        "test",
        help="run a test of the null on scores (or features) read from a file",
        description=(
            "Run one of nhtad's tests of the background-only hypothesis on per-event columns "
            "of a .csv (header row) or .npz file; `nhtad test TEST --help` lists its options."
        ),
        parents=[verbose[1]],
    )
    add_test_commands(test, verbose[2])

    study = sub.add_parser(
        "study",
        help="reproduce a seed paper's table",
        description="The seed studies.",
        parents=[verbose[1]],
    )
    study_sub = study.add_subparsers(dest="study_command", metavar="STUDY", required=True)
    for name, func, text, default_out in (
        (
            "sacwola",
            cmd_study_sacwola,
            "seed-000 Table I: MI test (lam 0, 1), anomaly cuts and bump hunt vs S/B",
            "nhtad-sacwola",
        ),
        (
            "nplm",
            cmd_study_nplm,
            "seed-004 Table 1: NPLM and HGB with t_NP, t_cc and hyper-t_cc, toy-calibrated",
            "nhtad-nplm",
        ),
    ):
        p = study_sub.add_parser(
            name, help=text, description=text + " (embedded generator).", parents=[verbose[2]]
        )
        p.add_argument(
            "--quick",
            action="store_true",
            help="small sizes that check the machinery, not the physics (about a minute each on a "
            "quiet 2-core machine; docs/studies.md)",
        )
        p.add_argument(
            "--realisations",
            type=int,
            default=None,
            help="realisations per S/B (sacwola) or signal toys per injection (nplm)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        _add_data_files(p, simulation=name == "sacwola")
        if name == "nplm":
            p.add_argument(
                "--device",
                default="cpu",
                help="torch device of the NPLM fits, e.g. cuda (default: cpu; the HGB "
                "ensembles run on the CPU)",
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
            "an interrupted study can be continued with --resume (default: OUT/checkpoint, "
            "continued by running the same command again)",
        )
        p.add_argument(
            "--resume",
            action="store_true",
            help="continue the run whose checkpoints are in --checkpoint DIR (same settings): "
            "finished work is reused, the table is the one an uninterrupted run gives",
        )
        _common(p, out_default=default_out, force=True)
        p.set_defaults(func=func)
    _add_scan(sub, verbose)
    return parser


def _add_data_files(p, *, simulation, needed="needed with --data"):
    """The studies' event files: data (and simulation) from LHC Olympics feature files."""
    p.add_argument(
        "--data",
        metavar="FILE",
        help="LHC Olympics 2020 features .h5 to draw data from (default: the generator)",
    )
    p.add_argument("--masterkey", metavar="FILE", help="truth labels of a Black Box --data")
    if simulation:
        p.add_argument(
            "--simulation",
            metavar="FILE",
            help="LHCO features .h5 whose background (label 0; all rows if unlabelled) is "
            f"the simulation ({needed})",
        )
        p.add_argument(
            "--simulation-masterkey", metavar="FILE", help="truth labels of --simulation"
        )


def _add_scan(sub, verbose):
    text = (
        "look-elsewhere: slide the signal region across m_jj, local and toy-calibrated global "
        "p-values (MI test of an untrained score, bump hunt, SACWoLaTest retrained per window) "
        "with the signal at one or two masses"
    )
    p = sub.add_parser(
        "scan",
        help=text,
        description=text + " (embedded generator, or events drawn from LHCO files).",
        parents=[verbose[1]],
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="small sizes that check the machinery, not the physics (about a minute on a "
        "quiet 2-core machine)",
    )
    p.add_argument("--realisations", type=int, default=None, help="samples per mass and S/B")
    p.add_argument(
        "--toys", type=int, default=None, help="background-only toys of the whole scan per test"
    )
    p.add_argument(
        "--tests",
        nargs="+",
        choices=("mi", "bump", "sacwola"),
        default=None,
        help="tests to scan (default: mi bump sacwola; --quick: mi bump). sacwola retrains "
        "SA-CWoLa in every window (minutes per scan): its samples and toys are "
        "--trained-realisations and --trained-toys",
    )
    p.add_argument("--trained-realisations", type=int, default=None, help="sacwola's samples")
    p.add_argument("--trained-toys", type=int, default=None, help="sacwola's toys")
    p.add_argument(
        "--masses",
        type=float,
        nargs="+",
        default=None,
        help="resonance masses in GeV (default: 3500 4300, --quick 3500; with --data the "
        "file's signal mass, default 3500 as in the LHC Olympics)",
    )
    p.add_argument(
        "--n-background",
        type=int,
        default=None,
        help="background events per sample and toy over the full m_jj range, also simulated "
        "ones for sacwola (default: the mode's; with --data a quarter of the file's "
        "background, so that toys differ)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_data_files(p, simulation=True, needed="for sacwola with --data")
    p.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="folder where the calibration toys and the samples' scans are saved as they "
        "finish (default: "
        "OUT/checkpoint, continued by running the same command again)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run whose checkpoints are in --checkpoint DIR (same settings)",
    )
    _common(p, out_default="nhtad-scan", force=True)
    p.set_defaults(func=cmd_scan)
