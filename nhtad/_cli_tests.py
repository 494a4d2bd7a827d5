"""``nhtad test TEST FILE``: read the columns, build the library's test, run it, report it.

One builder per subcommand turns the options into the test object of :mod:`nhtad.stats` (or
:class:`~nhtad.scoring.NPLMTest`) with the parameters of the same names, and the arrays its
``test`` takes; the statistics are all the library's. The order is fixed so that nothing
costly runs before a mistake is reported: options that contradict each other
(:class:`~nhtad._cli_inputs.UsageError`, exit 2), outputs that exist (exit 1), the files and
their columns (exit 1), then the test.
"""

from __future__ import annotations

import numpy as np

from ._cli_inputs import (
    Inputs,
    UsageError,
    check_simulation_use,
    data_and_reference,
    mass_samples,
    read_columns,
    refuse_options,
    window_and_region,
    y_bins,
)
from ._cli_record import planned_outputs, report

__all__ = ["cmd_test", "UsageError"]

_SIMULATION = "give --simulation FILE (the same columns) or --simulation-column COL (a 0/1 flag)"


def cmd_test(args) -> int:
    """``nhtad test TEST``: run the test the subcommand names on the file's columns."""
    build = _BUILDERS[args.test_command]
    build(args, check_only=True)
    outputs = planned_outputs(args)
    test, inputs = build(args)
    result = test.test(*inputs.fit_args, **inputs.fit_kwargs)
    report(args, test, result, inputs, outputs)
    return 0


def _resampling(args) -> dict:
    return {
        "n_resamples": args.n_resamples,
        "n_jobs": args.n_jobs,
        "random_state": args.random_state,
        "verbose": int(args.verbose > 0),
    }


def _binned(args, simulation):
    """Window, region, y binning and samples of the binned-table tests."""
    window, region = window_and_region(args, region_needed=False)
    bins = y_bins(args, window, region)
    inputs = mass_samples(args, window, simulation=simulation)
    if region is not None:
        inputs.signal_region = (region.low, region.high)
    return bins, inputs


def _mi(args, check_only=False):
    from .stats import MutualInformationIndependenceTest

    referenced = args.method == "simulation"
    simulation = check_simulation_use(
        args,
        "required" if referenced else "forbidden",
        "--method simulation compares the data with simulated background: " + _SIMULATION
        if referenced
        else "--simulation/--simulation-column are used only with --method simulation; got "
        f"--method {args.method}.",
    )
    return _plain_binned_test(args, MutualInformationIndependenceTest, simulation, check_only)


def _plain_binned_test(args, test_class, simulation, check_only):
    """A binned test set by --rel-uncertainty, --y-bins, --method and the resampling options."""
    if check_only:
        window, region = window_and_region(args, region_needed=False)
        y_bins(args, window, region)
        return None
    bins, inputs = _binned(args, simulation)
    test = test_class(
        rel_uncertainty=args.rel_uncertainty, y_bins=bins, method=args.method, **_resampling(args)
    )
    return test, inputs


def _s_quantiles(args):
    if args.s_quantiles is None:
        return None
    if args.s_quantiles == ["halving"]:
        return "halving"
    try:
        q = np.array([float(v) for v in args.s_quantiles])
    except ValueError:
        raise UsageError(
            f"--s-quantiles takes 'halving' or increasing numbers in (0, 1); got "
            f"{' '.join(args.s_quantiles)}."
        ) from None
    if not (np.all((q > 0) & (q < 1)) and np.all(np.diff(q) > 0)):
        raise UsageError(
            f"--s-quantiles must be increasing numbers in (0, 1); got {' '.join(args.s_quantiles)}."
        )
    return q


def _smooth(args, check_only=False):
    from .stats import SmoothTrendIndependenceTest

    simulation = check_simulation_use(args, "optional", "")
    window, region = window_and_region(args, region_needed=False)
    if args.alternative == "signal_region" and region is None:
        raise UsageError("--alternative signal_region needs --signal-region LO HI (GeV).")
    if args.degree == "auto":
        if args.min_degree > args.max_degree:
            raise UsageError(
                f"--min-degree ({args.min_degree}) must not exceed --max-degree "
                f"({args.max_degree})."
            )
        sidebands = args.degree_from in ("sidebands", "both") or (
            args.degree_from == "auto" and not simulation
        )
        if sidebands and region is None:
            raise UsageError(
                "--degree auto chooses the degree from signal-free tables: give --signal-region "
                "LO HI (its sidebands) or a simulation (--simulation or --simulation-column), "
                "or an integer --degree."
            )
        if args.degree_from in ("simulation", "both") and not simulation:
            raise UsageError(f"--degree-from {args.degree_from} needs a simulation: " + _SIMULATION)
    s_quantiles = _s_quantiles(args)
    if check_only:
        y_bins(args, window, region)
        return None
    bins, inputs = _binned(args, simulation)
    test = SmoothTrendIndependenceTest(
        rel_uncertainty=args.rel_uncertainty,
        y_bins=bins,
        s_quantiles=s_quantiles,
        degree=args.degree,
        degree_from=args.degree_from,
        alternative=args.alternative,
        min_degree=args.min_degree,
        max_degree=args.max_degree,
        selection_alpha=args.selection_alpha,
        method=args.method,
        **_resampling(args),
    )
    return test, inputs


def _association(args, check_only=False):
    from .stats import HomogeneousAssociationTest

    check_simulation_use(
        args,
        "required",
        "the association test compares the data with simulated background: " + _SIMULATION,
    )
    return _plain_binned_test(args, HomogeneousAssociationTest, True, check_only)


def _cut(args, check_only=False):
    from .stats import AnomalyCutTest, TemplateCutAndCountTest

    if args.mode == "anomaly":
        refuse_options(
            args,
            ("quantile", "expected_n_data", "no_reference_error", "label_column", "reference"),
            "these set the template cut; use them with --mode template.",
        )
        window, region = window_and_region(args, region_needed=True)
        if check_only:
            return None
        inputs = mass_samples(args, window)
        inputs.signal_region = (region.low, region.high)
        s, mjj = inputs.fit_args
        inputs.fit_args = (s, region.labels(mjj))
        efficiency = 0.01 if args.efficiency is None else args.efficiency
        return AnomalyCutTest(efficiency, not args.no_efficiency_uncertainty), inputs
    refuse_options(
        args,
        ("efficiency", "no_efficiency_uncertainty", "window", "signal_region"),
        "these set the anomaly cut in m_jj regions; --mode template compares data with a "
        "reference sample and takes no m_jj.",
    )
    if check_only:
        return None
    roles = {"score": (args.score_column, "--score-column")}
    data, reference, _, files, columns = data_and_reference(args, roles)
    s = np.concatenate([data["score"], reference["score"]])
    y = np.r_[np.ones(data["score"].size, np.int8), np.zeros(reference["score"].size, np.int8)]
    events = {
        "data_tested": int(data["score"].size),
        "reference_tested": int(reference["score"].size),
    }
    test = TemplateCutAndCountTest(
        quantile=0.9 if args.quantile is None else args.quantile,
        expected_n_data=args.expected_n_data,
        reference_error=not args.no_reference_error,
    )
    return test, Inputs(fit_args=(s, y), files=files, columns=columns, events=events)


def _check_bins_fit(region, width):
    """The bump hunt needs the window and the signal region to be whole numbers of bins."""
    lo = region.window[0]
    for name, value in (("window", region.window[1]), ("signal region low", region.low)):
        n = (value - lo) / width
        if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
            raise UsageError(
                f"--bin-width {width:g} GeV does not divide the {name} boundary {value:g} GeV "
                f"from the window start {lo:g} GeV: the window and the signal region must be "
                "whole numbers of bins."
            )
    n = (region.high - lo) / width
    if abs(n - round(n)) > 1e-9 * max(1.0, abs(n)):
        raise UsageError(
            f"--bin-width {width:g} GeV does not put the signal region's upper edge "
            f"{region.high:g} GeV on a bin edge."
        )


def _bump(args, check_only=False):
    from .stats import BumpHuntTest

    window, region = window_and_region(args, region_needed=True)
    _check_bins_fit(region, args.bin_width)
    if check_only:
        return None
    cut = args.efficiency is not None
    inputs = mass_samples(args, window, score=cut)
    inputs.signal_region = (region.low, region.high)
    test = BumpHuntTest(
        region=region,
        efficiency=args.efficiency,
        bin_width=args.bin_width,
        sqrt_s=args.sqrt_s,
        cut_strategy=args.cut_strategy,
        n_nodes=args.n_nodes,
        efficiency_uncertainty=not args.no_efficiency_uncertainty,
    )
    return test, inputs


def _one_or_list(values):
    return values[0] if len(values) == 1 else list(values)


def _nplm_null(args, estimator, data, reference, pool, n_widths, inputs):
    """The null t of the NPLM test: read from --null-file, run as --n-toys toys, or none."""
    if args.null_file is not None:
        columns = args.null_columns or ["t"]
        roles = {f"t{i}": (c, "--null-columns") for i, c in enumerate(columns)}
        t = read_columns(args.null_file, roles)
        inputs.files["null_file"] = args.null_file
        inputs.null.update(source="file", null_columns=columns)
        return np.column_stack(list(t.values())) if n_widths > 1 else t["t0"]
    if args.n_toys is None:
        inputs.null.update(source="none: p <= 1 is the trivial bound")
        return None
    from .calibration import ReferenceResampler, ToyCalibrator
    from .scoring import NPLMTest

    generator = ReferenceResampler(pool, n_reference=len(reference), n_data=len(data))
    calibrator = ToyCalibrator(
        NPLMTest(estimator),
        generator,
        n_toys=args.n_toys,
        statistic="t_",
        n_jobs=args.n_jobs,
        random_state=args.random_state,
        verbose=int(args.verbose > 0),
    ).fit()
    inputs.null.update(
        source="toys",
        n_toys=args.n_toys,
        pool_events=int(len(pool)),
        toy_seeds="toy i: child i of numpy SeedSequence(random_state)",
        generator=repr(generator),
    )
    return calibrator.null_distribution_


def _nplm(args, check_only=False):
    n_widths = len(args.sigma) if args.sigma is not None else len(args.sigma_percentile)
    check_simulation_use(
        args,
        "required" if args.n_toys is not None else "forbidden",
        "--n-toys draws null toys from a simulated background pool: " + _SIMULATION
        if args.n_toys is not None
        else "--simulation/--simulation-column are the background pool of --n-toys toys; add "
        "--n-toys N.",
    )
    if args.null_columns is not None:
        if args.null_file is None:
            raise UsageError("--null-columns names columns of --null-file; add --null-file FILE.")
        if len(args.null_columns) != n_widths:
            raise UsageError(
                f"--null-columns names {len(args.null_columns)} column(s) for {n_widths} kernel "
                "width(s): give one column of toy t per width."
            )
    elif args.null_file is not None and n_widths > 1:
        raise UsageError(f"{n_widths} kernel widths need --null-columns, one per width.")
    no_null = args.null_file is None and args.n_toys is None
    if args.extrapolate is not None and no_null:
        raise UsageError("--extrapolate fits the toys' t: add --null-file or --n-toys.")
    if n_widths > 1 and no_null and args.combine != "softmax-t":
        raise UsageError(
            f"--combine {args.combine} combines per-width p-values, which need a null: add "
            "--null-file or --n-toys, or use --combine softmax-t."
        )
    if check_only:
        return None
    from .scoring import NPLMKernelEstimator, NPLMTest

    roles = {f"x{i}": (c, "--feature-columns") for i, c in enumerate(args.feature_columns)}
    data, reference, pool, files, columns = data_and_reference(args, roles, pool=True)
    data, reference = (np.column_stack(list(d.values())) for d in (data, reference))
    pool = None if pool is None else np.column_stack(list(pool.values()))
    events = {"data_tested": len(data), "reference_tested": len(reference)}
    if pool is not None:
        events["simulation_pool"] = len(pool)
    columns = {k: v for k, v in columns.items() if k not in roles}
    y = np.r_[np.ones(len(data), np.int8), np.zeros(len(reference), np.int8)]
    inputs = Inputs(
        fit_args=(np.concatenate([data, reference]), y),
        files=files,
        columns={"features": list(args.feature_columns), **columns},
        events=events,
    )
    estimator = NPLMKernelEstimator(
        sigma=None if args.sigma is None else _one_or_list(args.sigma),
        sigma_percentile=_one_or_list(args.sigma_percentile),
        n_centers=args.n_centers,
        lam=args.lam,
        loss=args.loss,
        solver=args.solver,
        expected_n_data=args.expected_n_data,
        standardize=args.standardize,
        device=args.device,
        random_state=args.random_state,
    )
    null = _nplm_null(args, estimator, data, reference, pool, n_widths, inputs)
    # Passed only when asked for, so that the command runs with an NPLMTest that predates it.
    extra = {} if args.extrapolate is None else {"extrapolate": args.extrapolate}
    test = NPLMTest(
        estimator, null=null, combine=args.combine, temperature=args.temperature, **extra
    )
    return test, inputs


_BUILDERS = {
    "mi": _mi,
    "smooth": _smooth,
    "association": _association,
    "cut": _cut,
    "bump": _bump,
    "nplm": _nplm,
}
