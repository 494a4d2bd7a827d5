"""What ``nhtad test`` reports: the readable summary, and the JSON record of everything used.

The record holds what a reader needs to redo or audit the test: the test's class and
``get_params()``, the columns, window, signal region and bins actually used (from the
result's details), the null and the seed, every input file with its SHA-256, the versions of
nhtad and of the numerical libraries, and the command line. Non-finite floats are written as
the strings ``"inf"``, ``"-inf"`` and ``"nan"``, so the file is strict JSON.
"""

from __future__ import annotations

import json
import math
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ._cli_files import file_sha256, refuse_existing

__all__ = ["planned_outputs", "report", "jsonable"]

#: Tests whose ``--out`` folder also gets a figure, and the plotting function that draws it.
_FIGURES = {"mi": "plot_mi_null", "smooth": "plot_smooth_trend"}
_RESULT_FIELDS = ("statistic", "pvalue", "log_pvalue", "significance", "method", "n_events")


def jsonable(obj):
    """``obj`` in plain JSON types: arrays as lists, estimators as their class and parameters,
    a SignalRegion as its boundaries, non-finite floats as strings."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if hasattr(obj, "get_params") and not isinstance(obj, type):
        return {"class": type(obj).__name__, "params": jsonable(obj.get_params(deep=False))}
    if hasattr(obj, "in_window") and hasattr(obj, "window"):  # a SignalRegion
        return {"low": obj.low, "high": obj.high, "window": list(obj.window)}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    return repr(obj)


def _versions() -> dict:
    import platform
    from importlib import metadata

    from . import __version__

    found = {"nhtad": __version__, "python": platform.python_version()}
    for dist in ("numpy", "scipy", "scikit-learn", "torch"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = None
    return found


def planned_outputs(args) -> dict:
    """The files the command will write, by kind, refused now if they exist without --force
    (a resampled null can take minutes that a refusal should not cost)."""
    name = args.test_command
    outputs = {}
    if args.json not in (None, "-"):
        outputs["json"] = Path(args.json)
    if args.out is not None:
        out = Path(args.out)
        outputs["out_json"] = out / f"{name}_test.json"
        if name in _FIGURES:
            outputs["figure"] = out / f"{name}_test.png"
    refuse_existing(outputs.values(), args.force)
    return outputs


def _null_record(args, result, inputs) -> dict:
    details = result.details
    null = {
        "requested": getattr(args, "method", None),
        "used": details.get("null", result.method),
        "pvalue_method": result.method,
        "pvalue_source": details.get("pvalue_source"),
        "n_null": None if result.null_distribution is None else len(result.null_distribution),
    }
    null.update(inputs.null)
    return null


def _bins(test, details) -> dict | None:
    bins = {key: details[key] for key in ("n_bins", "s_edges", "y_edges") if key in details}
    if getattr(test, "bin_edges_", None) is not None:  # the bump hunt's m_jj histogram
        bins["mjj_edges"] = test.bin_edges_
    return bins or None


def _record(args, test, result, inputs) -> dict:
    files = {
        role: {"path": str(path), "sha256": file_sha256(path)}
        for role, path in inputs.files.items()
    }
    details = dict(result.details)
    record = {
        "command": "nhtad " + shlex.join(args.argv),
        "test_command": args.test_command,
        "test": type(test).__name__,
        "file": str(args.file),
        **{name: getattr(result, name) for name in _RESULT_FIELDS},
        "params": test.get_params(deep=False),
        "null": _null_record(args, result, inputs),
        "random_state": args.random_state,
        "n_jobs": args.n_jobs,
        "inputs": files,
        "columns": inputs.columns,
        "events": inputs.events,
        "window": inputs.window,
        "signal_region": inputs.signal_region,
        "bins": _bins(test, details),
        "details": details,
        "versions": _versions(),
    }
    return jsonable(record)


def _header(args, inputs, record) -> str:
    """Where the events came from, in two lines above the result."""
    files = ", ".join(
        f"{role} {info['path']} (sha256 {info['sha256'][:12]})"
        for role, info in record["inputs"].items()
    )
    columns = ", ".join(f"{role}={name}" for role, name in inputs.columns.items())
    lines = [f"{args.command_prog}: {files}; columns {columns}"]
    events = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in inputs.events.items())
    where = []
    if inputs.window is not None:
        where.append(f"window [{inputs.window[0]:g}, {inputs.window[1]:g}) GeV")
    if inputs.signal_region is not None:
        low, high = inputs.signal_region
        where.append(f"signal region [{low:g}, {high:g}) GeV")
    lines.append("events: " + events + ("; " + ", ".join(where) if where else ""))
    return "\n".join(lines)


def report(args, test, result, inputs, outputs) -> None:
    """Print the readable summary and write the JSON record and figure where asked."""
    from .utils.atomic import atomic_output

    record = _record(args, test, result, inputs)
    text = json.dumps(record, indent=1, allow_nan=False)
    # With the record on stdout, the words go to stderr so that stdout stays one JSON document.
    stream = sys.stderr if args.json == "-" else sys.stdout
    print(_header(args, inputs, record), file=stream)
    print(str(result), file=stream)
    if args.json == "-":
        print(text)
    written = []
    for kind in ("json", "out_json"):
        if kind in outputs:
            outputs[kind].parent.mkdir(parents=True, exist_ok=True)
            with atomic_output(outputs[kind], overwrite=args.force, mode="w") as fh:
                fh.write(text + "\n")
            written.append(str(outputs[kind]))
    if "figure" in outputs:
        from . import plotting

        plot = getattr(plotting, _FIGURES[args.test_command])
        figure = plot(result) if args.test_command == "mi" else plot(test)
        plotting.save_figure(figure, outputs["figure"], overwrite=args.force)
        written.append(str(outputs["figure"]))
    if written:
        print(f"wrote {', '.join(written)}", file=stream)
