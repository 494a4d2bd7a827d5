"""The options of each ``nhtad test`` subcommand, and the value types that check their ranges.

A value type raises ``argparse.ArgumentTypeError``, which argparse reports in one line as
"argument --name: <message>" with exit status 2, so a range that one option decides alone is
refused while parsing. Every help string says what the option means, its unit and default.
"""

from __future__ import annotations

import argparse
import math

__all__ = [
    "gev",
    "open_unit",
    "positive",
    "positive_int",
    "n_jobs",
    "simulation_options",
    "mi_options",
    "smooth_options",
    "association_options",
    "cut_options",
    "bump_options",
    "nplm_options",
]


# -- value types: argparse reports their errors as "argument --name: <message>" --------------
def _number(text, what):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}")
    return value


def _integer(text, what):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None


def gev(text):
    """A finite mass in GeV."""
    return _number(text, "a mass in GeV")


def open_unit(text):
    """A number strictly between 0 and 1."""
    value = _number(text, "a number in (0, 1)")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in the open interval (0, 1); got {text}")
    return value


def positive(text):
    """A finite number > 0."""
    value = _number(text, "a positive number")
    if value <= 0.0:
        raise argparse.ArgumentTypeError(f"must be > 0; got {text}")
    return value


def positive_int(text):
    """An integer >= 1."""
    value = _integer(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text}")
    return value


def degree_int(text):
    """An integer >= 0 (a polynomial degree)."""
    value = _integer(text, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0; got {text}")
    return value


def n_jobs(text):
    """joblib's n_jobs: a positive count, or -1 (all cores), -2 (all but one), ..."""
    value = _integer(text, "an integer number of workers")
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1, or negative (-1: all cores); got 0")
    return value


def degree(text):
    """``auto`` or a polynomial degree >= 0."""
    return text if text == "auto" else degree_int(text)


def n_centers(text):
    """``sqrt`` or a positive number of Nyström centres."""
    return text if text == "sqrt" else positive_int(text)


def simulation_options(p, what):
    """``--simulation FILE`` or ``--simulation-column COL``: the simulated background."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--simulation", metavar="FILE", help=f"a second file with {what}")
    group.add_argument(
        "--simulation-column",
        metavar="COL",
        help="0/1 column of FILE marking simulated-background rows (1) among the data (0), "
        "instead of --simulation",
    )


def reference_options(p):
    """``--label-column COL`` or ``--reference FILE``: the data/reference split."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--label-column",
        metavar="COL",
        help="0/1 column of FILE: 1 for data, 0 for reference (background) events (default: "
        "is_data)",
    )
    group.add_argument(
        "--reference",
        metavar="FILE",
        help="a second file whose rows are all reference (background) events; every row of "
        "FILE is then data",
    )


def mi_options(p):
    """Options of ``nhtad test mi`` (MutualInformationIndependenceTest)."""
    p.add_argument(
        "--method",
        choices=["asymptotic", "permutation", "bootstrap", "simulation"],
        default="asymptotic",
        help="null of the MI: its Gamma (chi^2) law where the table carries it (else the exact "
        "permutation null, with a warning); permutations of m_jj; the reference's Poisson "
        "bootstrap; or 'simulation': I_data - I_sim against relabelled data/simulation events "
        "(needs --simulation or --simulation-column) (default: asymptotic)",
    )


def smooth_options(p):
    """Options of ``nhtad test smooth`` (SmoothTrendIndependenceTest)."""
    p.add_argument(
        "--method",
        choices=["asymptotic", "bootstrap"],
        default="asymptotic",
        help="the chi^2 law of G^2 (refused where the table cannot carry it), or a parametric "
        "bootstrap from the fitted trend (default: asymptotic)",
    )
    p.add_argument(
        "--alternative",
        choices=["any", "signal_region"],
        default="any",
        help="'any': goodness of fit of the smooth trend; 'signal_region': one extra term per "
        "score bin in the signal region (needs --signal-region) (default: any)",
    )
    p.add_argument(
        "--degree",
        type=degree,
        metavar="K|auto",
        default="auto",
        help="polynomial degree K of the trend in m_jj, or 'auto': the smallest degree the "
        "signal-free tables (sidebands, simulation) accept (default: auto)",
    )
    p.add_argument(
        "--degree-from",
        choices=["auto", "simulation", "sidebands", "both"],
        default="auto",
        help="which signal-free tables choose the degree with --degree auto: 'auto' is the "
        "simulation when given, else the sidebands (default: auto)",
    )
    p.add_argument(
        "--min-degree",
        type=degree_int,
        metavar="K",
        default=0,
        help="lowest degree tried (default: 0)",
    )
    p.add_argument(
        "--max-degree",
        type=degree_int,
        metavar="K",
        default=3,
        help="highest degree tried (default: 3)",
    )
    p.add_argument(
        "--selection-alpha",
        type=open_unit,
        metavar="ALPHA",
        default=0.05,
        help="level at which --degree auto rejects a degree, in (0, 1) (default: 0.05)",
    )
    p.add_argument(
        "--s-quantiles",
        nargs="+",
        metavar="Q",
        help="score bins cut at these quantiles of the data's scores (increasing, in (0, 1)), "
        "or 'halving' (1/2, 1/4, ... of the events) (default: equal-count bins under "
        "--rel-uncertainty)",
    )


def association_options(p):
    """Options of ``nhtad test association`` (HomogeneousAssociationTest)."""
    p.add_argument(
        "--method",
        choices=["asymptotic", "bootstrap", "permutation"],
        default="asymptotic",
        help="null of G^2: its chi^2 law (refused for sparse tables); a parametric bootstrap "
        "of the no-three-way model; or data/simulation relabelling (valid only if the two are "
        "identically distributed) (default: asymptotic)",
    )


def cut_options(p):
    """Options of ``nhtad test cut`` (AnomalyCutTest, TemplateCutAndCountTest)."""
    p.add_argument(
        "--mode",
        choices=["anomaly", "template"],
        default="anomaly",
        help="'anomaly': cut at a sideband efficiency, count signal-region events "
        "(AnomalyCutTest, needs m_jj); 'template': cut at a quantile of a reference sample, "
        "count data against it (TemplateCutAndCountTest, needs data/reference labels) "
        "(default: anomaly)",
    )
    p.add_argument(
        "--efficiency",
        type=open_unit,
        metavar="EPS2",
        help="anomaly mode: sideband efficiency eps2 of the cut, in (0, 1) (default: 0.01)",
    )
    p.add_argument(
        "--no-efficiency-uncertainty",
        action="store_true",
        help="anomaly mode: the paper's formula, without the binomial error of the measured "
        "eps2 in the variance (anti-conservative when the signal region holds more events "
        "than the sidebands; default: keep it)",
    )
    p.add_argument(
        "--quantile",
        type=open_unit,
        metavar="Q",
        help="template mode: quantile of the reference scores used as the cut, in (0, 1) "
        "(default: 0.9)",
    )
    p.add_argument(
        "--expected-n-data",
        type=positive,
        metavar="N",
        help="template mode: expected number of data events under the null, N(R) (default: "
        "the observed number)",
    )
    p.add_argument(
        "--no-reference-error",
        action="store_true",
        help="template mode: treat the scaled reference count as the exact background "
        "(Poisson tail) (default: include its error, the conditional binomial test)",
    )
    reference_options(p)


def bump_options(p):
    """Options of ``nhtad test bump`` (BumpHuntTest)."""
    p.add_argument(
        "--efficiency",
        type=open_unit,
        metavar="EPS2",
        help="first cut the score at this sideband efficiency eps2, in (0, 1) (default: no cut; "
        "the score column is then not read)",
    )
    p.add_argument(
        "--bin-width",
        type=positive,
        metavar="GEV",
        default=50.0,
        help="m_jj bin width in GeV; the window and the signal region must be whole numbers of "
        "bins (default: 50)",
    )
    p.add_argument(
        "--sqrt-s",
        type=positive,
        metavar="GEV",
        default=13000.0,
        help="centre-of-mass energy in GeV, the scale of the dijet function (default: 13000)",
    )
    p.add_argument(
        "--cut-strategy",
        choices=["fit_after_cut", "scale_by_efficiency"],
        default="fit_after_cut",
        help="background after a cut: fit the selected sidebands, or scale the uncut fit by "
        "the measured efficiency (default: fit_after_cut)",
    )
    p.add_argument(
        "--n-nodes",
        type=positive_int,
        metavar="N",
        default=8,
        help="Gauss-Legendre nodes per bin for the bin integrals (default: 8)",
    )
    p.add_argument(
        "--no-efficiency-uncertainty",
        action="store_true",
        help="with scale_by_efficiency, drop the binomial error of the efficiency from the "
        "background error, as the reference code does (default: keep it)",
    )


def nplm_options(p):
    """Options of ``nhtad test nplm`` (NPLMTest with NPLMKernelEstimator)."""
    p.add_argument(
        "--feature-columns",
        nargs="+",
        required=True,
        metavar="COL",
        help="feature columns the kernel model sees (e.g. mj1 mj2 tau21_1 tau21_2)",
    )
    reference_options(p)
    p.add_argument(
        "--sigma",
        nargs="+",
        type=positive,
        metavar="SIGMA",
        help="Gaussian kernel width(s) in feature units; several are combined (default: the "
        "--sigma-percentile of pairwise reference distances)",
    )
    p.add_argument(
        "--sigma-percentile",
        nargs="+",
        type=positive,
        default=[90.0],
        metavar="PCT",
        help="percentile(s) of pairwise reference distances used as widths when --sigma is "
        "not given (default: 90)",
    )
    p.add_argument(
        "--n-centers",
        type=n_centers,
        metavar="M|sqrt",
        default="sqrt",
        help="Nystrom centres M, or 'sqrt' for int(sqrt(N)) (default: sqrt)",
    )
    p.add_argument(
        "--lam",
        type=positive,
        metavar="LAMBDA",
        default=1e-6,
        help="ridge penalty (default: 1e-06)",
    )
    p.add_argument(
        "--loss",
        choices=["falkon", "nplm"],
        default="falkon",
        help="falkon's weighted cross-entropy (the NPLM-Falkon recipe) or the NPLM loss "
        "(default: falkon)",
    )
    p.add_argument(
        "--solver",
        choices=["auto", "falkon", "exact", "converged"],
        default="auto",
        help="Newton solver of the kernel model (default: auto, the recipe's for the loss)",
    )
    p.add_argument(
        "--expected-n-data",
        type=positive,
        metavar="N",
        help="expected number of data events under the null, N(R) (default: the observed number)",
    )
    p.add_argument(
        "--standardize",
        action="store_true",
        help="standardise features with the reference's mean and standard deviation first "
        "(widths are then in standard deviations) (default: raw features)",
    )
    p.add_argument(
        "--device", metavar="DEVICE", default="cpu", help="torch device, e.g. cuda (default: cpu)"
    )
    p.add_argument(
        "--combine",
        choices=["min-p", "fisher", "average-p", "softmax-t"],
        default="softmax-t",
        help="how several widths are combined; the p-value combinations need a null "
        "(default: softmax-t)",
    )
    p.add_argument(
        "--temperature",
        type=positive,
        metavar="T",
        default=1.0,
        help="temperature of softmax-t (default: 1)",
    )
    null = p.add_mutually_exclusive_group()
    null.add_argument(
        "--null-file",
        metavar="FILE",
        help=".csv or .npz with t of signal-free toys, one column per width (default: no null: "
        "p <= 1 is only the trivial bound)",
    )
    null.add_argument(
        "--n-toys",
        type=positive_int,
        metavar="N",
        help="run this many null toys first, each drawing data and reference of the observed "
        "sizes from the simulated background pool (--simulation or --simulation-column)",
    )
    p.add_argument(
        "--extrapolate",
        choices=["chi2"],
        help="beyond the toys, p from a chi-square fitted to their t (default: the empirical "
        "p of the toys, at least 1/(n_toys + 1))",
    )
    p.add_argument(
        "--null-columns",
        nargs="+",
        metavar="COL",
        help="columns of --null-file holding t, one per width (default: t)",
    )
    simulation_options(p, "the same feature columns for simulated background, the pool of --n-toys")
