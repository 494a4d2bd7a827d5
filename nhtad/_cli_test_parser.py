"""The options of ``nhtad test``: one subcommand per test of the null, the common ones shared.

Every subcommand is built from parent parsers (the file and outputs; the score and m_jj
columns with the window and signal region; the binned table's settings), so an option means
the same everywhere. Ranges that one option alone decides (a relative uncertainty in (0, 1), a
positive count) are checked here, while parsing; what depends on several options or on the
file is checked by :mod:`nhtad._cli_tests` before the test runs.
"""

from __future__ import annotations

import argparse

from ._cli_test_options import (
    association_options,
    bump_options,
    cut_options,
    gev,
    mi_options,
    n_jobs,
    nplm_options,
    open_unit,
    positive_int,
    simulation_options,
    smooth_options,
)
from ._cli_tests import cmd_test

__all__ = ["add_test_commands"]


# -- parent parsers ------------------------------------------------------------------------
def _parent():
    return argparse.ArgumentParser(add_help=False)


def _io_parent(what):
    p = _parent()
    p.add_argument("file", help=f".csv (header row) or .npz file with {what}, one row per event")
    p.add_argument(
        "--random-state",
        type=int,
        metavar="SEED",
        default=0,
        help="seed of everything random in the test (resamples, toys, kernel centres); the "
        "same seed gives the same result for any --n-jobs (default: 0)",
    )
    p.add_argument(
        "--n-jobs",
        type=n_jobs,
        metavar="N",
        default=None,
        help="parallel joblib workers for resamples or toys; -1 for all cores (default: 1)",
    )
    p.add_argument(
        "--json",
        metavar="PATH",
        help="write the full result as JSON (every setting, the bins used, input SHA-256, "
        "versions, command line) to PATH, or to stdout with '--json -' (the readable summary "
        "then goes to stderr)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="also write TEST_test.json (as --json) and, where the test has one, its figure "
        "TEST_test.png to DIR (default: nothing written)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace existing output files (default: refuse them)",
    )
    return p


def _mass_parent(window_default):
    p = _parent()
    p.add_argument(
        "--score-column",
        metavar="COL",
        default="s",
        help="column of the anomaly score (default: s)",
    )
    p.add_argument(
        "--mass-column",
        metavar="COL",
        default="mjj",
        help="column of the resonant mass m_jj in GeV (default: mjj)",
    )
    p.add_argument(
        "--window",
        nargs=2,
        type=gev,
        metavar=("LO", "HI"),
        help=f"analysis window [LO, HI) in GeV: events outside it are dropped (default: "
        f"{window_default})",
    )
    p.add_argument(
        "--signal-region",
        nargs=2,
        type=gev,
        metavar=("LO", "HI"),
        help="signal region [LO, HI) in GeV inside the window (default window then 3100 3900)",
    )
    return p


def _binned_parent():
    p = _parent()
    p.add_argument(
        "--rel-uncertainty",
        type=open_unit,
        metavar="R",
        default=0.01,
        help="target relative Poisson uncertainty of every marginal bin of s and m_jj, in "
        "(0, 1): 0.01 means >= 10000 events a bin (default: 0.01)",
    )
    p.add_argument(
        "--y-bins",
        nargs="+",
        metavar="N|EDGE",
        help="m_jj binning: one integer N (N equal-count bins) or the bin edges in GeV, "
        "increasing (default: equal-count bins under --rel-uncertainty; with "
        "--signal-region, such bins inside each sideband and the signal region)",
    )
    p.add_argument(
        "--n-resamples",
        type=positive_int,
        metavar="N",
        default=999,
        help="resamples of a resampled null (permutation, bootstrap, relabelling) (default: 999)",
    )
    simulation_options(
        p,
        "the same score and m_jj columns for held-out simulated background",
    )
    return p


# -- the subcommands -----------------------------------------------------------------------
def _add(test_sub, name, help_text, description, parents):
    p = test_sub.add_parser(name, help=help_text, description=description, parents=parents)
    p.set_defaults(func=cmd_test, command_prog=p.prog)
    return p


def add_test_commands(test, verbose) -> None:
    """Add the subcommands of ``nhtad test`` to its parser ``test``; ``verbose`` is the
    parent parser of ``-v`` at their level."""
    test_sub = test.add_subparsers(dest="test_command", metavar="TEST", required=True)
    io_mass = _io_parent("the score and m_jj columns")
    binned = _binned_parent()
    mass_optional = _mass_parent("all events")
    mass_region = _mass_parent("3100 3900")
    table = [verbose, io_mass, mass_optional, binned]
    mi_options(
        _add(
            test_sub,
            "mi",
            "mutual-information independence test of a score and m_jj",
            "Test the independence of a score and m_jj with the binned mutual information "
            "(Kamenik & Szewc, PLB 840 (2023) 137836): exact for a score not trained on the "
            "data; for a trained score use --method simulation or `nhtad test smooth`.",
            table,
        )
    )
    smooth_options(
        _add(
            test_sub,
            "smooth",
            "independence of a score and m_jj up to a smooth trend (the honest default)",
            "Test that the score distribution changes with m_jj only smoothly: a log-linear "
            "trend of degree K in m_jj is the null, a change confined to the signal region the "
            "alternative (SmoothTrendIndependenceTest).",
            table,
        )
    )
    association_options(
        _add(
            test_sub,
            "association",
            "same score/m_jj association in data and simulation (no three-way interaction)",
            "Test that the score/m_jj association is the same in data and in simulated "
            "background (HomogeneousAssociationTest: G^2 of the log-linear model without "
            "three-way interaction); needs --simulation or --simulation-column.",
            table,
        )
    )
    cut_options(
        _add(
            test_sub,
            "cut",
            "cut-and-count on the score: anomaly cut (SR vs sidebands) or template cut",
            "Cut the score and count: --mode anomaly compares the signal region with the "
            "sidebands at a sideband efficiency (AnomalyCutTest); --mode template compares data "
            "with a reference sample above a reference quantile (TemplateCutAndCountTest).",
            [verbose, io_mass, mass_region],
        )
    )
    bump_options(
        _add(
            test_sub,
            "bump",
            "bump hunt: dijet fit to the sidebands, profile likelihood in the signal region",
            "Fit the dijet function to the m_jj sidebands and test the signal-region count "
            "with the profile likelihood (BumpHuntTest), optionally after a score cut.",
            [verbose, io_mass, mass_region],
        )
    )
    nplm_options(
        _add(
            test_sub,
            "nplm",
            "NPLM kernel test of data against a reference sample on feature columns",
            "Fit NPLM's kernel model of the data/reference density ratio on feature columns "
            "and test t = -2 min L (NPLMTest, Grosso et al., EPJC 85 (2025) 1074), calibrated "
            "on null toys from a file or run here.",
            [verbose, _io_parent("the feature columns")],
        )
    )
