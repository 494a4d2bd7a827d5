"""What ``nhtad test`` reads: option checks, the window and signal region, the samples.

The options that depend on each other (a signal region inside the window, a simulation only
for the tests and methods that use one) are checked before any file is read and reported as
a :class:`UsageError`, exit status 2 like argparse's own errors; what a file holds (its
columns, its 0/1 flags) is checked as it is read and reported as a ValueError, exit status 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._cli_files import read_table

__all__ = [
    "UsageError",
    "Inputs",
    "window_and_region",
    "y_bins",
    "check_simulation_use",
    "read_columns",
    "split_flag",
    "mass_samples",
    "data_and_reference",
    "refuse_options",
]


class UsageError(ValueError):
    """Options that contradict each other or the command: exit status 2, like argparse's."""


@dataclass
class Inputs:
    """The arrays a test is fitted on and what the record says about where they came from."""

    fit_args: tuple
    fit_kwargs: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # role -> path
    columns: dict = field(default_factory=dict)  # role -> column name
    events: dict = field(default_factory=dict)  # what was read, dropped and tested
    window: tuple | None = None
    signal_region: tuple | None = None
    null: dict = field(default_factory=dict)  # how the null was made, beyond the test's params


def refuse_options(args, names, why) -> None:
    """A UsageError naming the options in ``names`` (attribute names) that were given."""
    given = [
        "--" + n.replace("_", "-") for n in names if getattr(args, n, None) not in (None, False)
    ]
    if given:
        raise UsageError(f"{', '.join(given)}: {why}")


def window_and_region(args, *, region_needed):
    """``(window, region)`` from ``--window`` and ``--signal-region``.

    ``region`` is a :class:`~nhtad.datasets.SignalRegion` when the test needs one or a signal
    region is given (its window then defaults to the SignalRegion's); else None, and
    ``window`` is ``--window`` or None (all events).
    """
    from .datasets import SignalRegion

    pairs = {"--window": args.window, "--signal-region": args.signal_region}
    for name, pair in pairs.items():
        if pair is not None and not pair[0] < pair[1]:
            raise UsageError(f"{name} LO HI needs LO < HI (GeV); got {pair[0]:g} {pair[1]:g}.")
    if args.signal_region is None and not region_needed:
        return (None if args.window is None else tuple(args.window)), None
    default = SignalRegion()
    low, high = args.signal_region or (default.low, default.high)
    window = tuple(args.window) if args.window is not None else default.window
    if not window[0] < low < high < window[1]:
        raise UsageError(
            f"the signal region [{low:g}, {high:g}) GeV must lie inside the window "
            f"[{window[0]:g}, {window[1]:g}) GeV with a sideband on each side; set "
            "--signal-region and --window so that window LO < SR LO < SR HI < window HI."
        )
    region = SignalRegion(low, high, window)
    return region.window, region


def y_bins(args, window, region):
    """``--y-bins`` as the library takes it: None, a number of bins, or the edges in GeV."""
    if args.y_bins is None:
        return region
    if region is not None:
        raise UsageError(
            "--y-bins and --signal-region both set the m_jj binning (the signal region makes "
            "its boundaries bin edges): give one of them."
        )
    if len(args.y_bins) == 1:
        try:
            n = int(args.y_bins[0])
        except ValueError:
            raise UsageError(
                f"--y-bins takes one integer (a number of bins) or two or more edges in GeV; "
                f"got {args.y_bins[0]!r}."
            ) from None
        if n < 2:
            raise UsageError(f"--y-bins N needs N >= 2 bins; got {n}.")
        return n
    try:
        edges = np.array([float(v) for v in args.y_bins])
    except ValueError:
        raise UsageError(f"--y-bins edges must be numbers (GeV); got {args.y_bins}.") from None
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise UsageError(f"--y-bins edges must be finite and increasing; got {args.y_bins}.")
    if window is not None and (edges[0] > window[0] or edges[-1] < window[1]):
        raise UsageError(
            f"--y-bins edges [{edges[0]:g}, {edges[-1]:g}] must cover the --window "
            f"[{window[0]:g}, {window[1]:g}) GeV, or every event in the window has a bin."
        )
    return edges


def check_simulation_use(args, use, why) -> bool:
    """Whether a simulation is given; a UsageError where ``use`` ("required"/"forbidden")
    says it must or must not be, with ``why`` as the message."""
    given = args.simulation is not None or args.simulation_column is not None
    if (use == "required" and not given) or (use == "forbidden" and given):
        raise UsageError(why)
    return given


def read_columns(path, roles) -> dict:
    """``{role: array}`` from ``roles = {role: (column, option)}`` of the file ``path``."""
    columns = [column for column, _ in roles.values()]
    options = [option for _, option in roles.values()]
    arrays = read_table(path, columns, options)
    by_column = dict(zip(columns, arrays))
    return {role: by_column[column] for role, (column, _) in roles.items()}


def split_flag(flag, column, path, meaning):
    """Boolean mask of the rows whose 0/1 ``column`` is 1; ``meaning = (what 0, what 1)``."""
    values = np.unique(flag)
    if not np.all(np.isin(values, (0.0, 1.0))):
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (" ..." if values.size > 6 else "")
        raise ValueError(
            f"column {column!r} of {path} must be 0 ({meaning[0]}) or 1 ({meaning[1]}) on "
            f"every row; it holds {shown}."
        )
    ones = flag == 1.0
    for kept, what in ((ones, meaning[1]), (~ones, meaning[0])):
        if not kept.any():
            raise ValueError(f"column {column!r} of {path} marks no {what} rows.")
    return ones


def _select_window(arrays, window, events, what):
    """Keep the rows whose mass lies in ``window``; count the others in ``events``."""
    n = arrays["mass"].size
    events[f"{what}_read"] = int(n)
    if window is None:
        events[f"{what}_tested"] = int(n)
        return arrays
    keep = (arrays["mass"] >= window[0]) & (arrays["mass"] < window[1])
    events[f"{what}_outside_window"] = int(n - keep.sum())
    events[f"{what}_tested"] = int(keep.sum())
    if not keep.any():
        raise ValueError(
            f"none of the {n} {what} events lies in the window [{window[0]:g}, {window[1]:g}) "
            "GeV; check --window and the units of the mass column (GeV)."
        )
    return {role: values[keep] for role, values in arrays.items()}


def _split_simulation_rows(args, read, kinds):
    """Read the columns ``read`` of the file; rows flagged by --simulation-column go apart.

    Returns ``(arrays, simulation)``: dicts of arrays by role, ``simulation`` None when no flag
    column was read (a data/reference label column stays with the non-simulated rows).
    """
    arrays = read_columns(args.file, read)
    if "flag" not in arrays:
        return arrays, None
    ones = split_flag(arrays.pop("flag"), args.simulation_column, args.file, kinds)
    sim = {role: values[ones] for role, values in arrays.items() if role != "label"}
    return {role: values[~ones] for role, values in arrays.items()}, sim


def mass_samples(args, window, *, score=True, simulation=False) -> Inputs:
    """The data's (and the simulation's) score and m_jj, inside the window."""
    roles = {"mass": (args.mass_column, "--mass-column")}
    if score:
        roles = {"score": (args.score_column, "--score-column"), **roles}
    files = {"file": args.file}
    columns = {role: column for role, (column, _) in roles.items()}
    read = dict(roles)
    if simulation and args.simulation_column is not None:
        read["flag"] = (args.simulation_column, "--simulation-column")
        columns["simulation_flag"] = args.simulation_column
    arrays, sim = _split_simulation_rows(args, read, ("data", "simulation"))
    if sim is None and simulation:
        files["simulation"] = args.simulation
        sim = read_columns(args.simulation, roles)
    events = {}
    data = _select_window(arrays, window, events, "data")
    inputs = Inputs(fit_args=(), files=files, columns=columns, events=events, window=window)
    if sim is not None:
        sim = _select_window(sim, window, events, "simulation")
        inputs.fit_kwargs = {"s_simulation": sim.get("score"), "y_simulation": sim["mass"]}
    inputs.fit_args = (data.get("score"), data["mass"])
    return inputs


def data_and_reference(args, feature_roles, *, pool=False):
    """Data and reference rows of ``feature_roles``, by a 0/1 label column or a second file.

    With ``pool``, the rows flagged by ``--simulation-column`` (or those of ``--simulation``)
    are returned too, as the simulated background pool of null toys. Returns
    ``(data, reference, pool, files, columns)`` with dicts of arrays by role.
    """
    files = {"file": args.file}
    columns = {role: column for role, (column, _) in feature_roles.items()}
    read = dict(feature_roles)
    if args.reference is None:
        label = args.label_column or "is_data"
        read["label"] = (label, "--label-column")
        columns["label"] = label
    if pool and args.simulation_column is not None:
        read["flag"] = (args.simulation_column, "--simulation-column")
        columns["simulation_flag"] = args.simulation_column
    arrays, sim = _split_simulation_rows(args, read, ("data or reference", "simulation"))
    if sim is None and pool and args.simulation is not None:
        files["simulation"] = args.simulation
        sim = read_columns(args.simulation, feature_roles)
    if args.reference is None:
        is_data = split_flag(arrays.pop("label"), label, args.file, ("reference", "data"))
        data = {role: values[is_data] for role, values in arrays.items()}
        reference = {role: values[~is_data] for role, values in arrays.items()}
    else:
        files["reference"] = args.reference
        data, reference = arrays, read_columns(args.reference, feature_roles)
    return data, reference, sim, files, columns
