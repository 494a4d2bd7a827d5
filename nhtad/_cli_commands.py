"""The commands of the ``nhtad`` command line: each takes the parsed arguments, returns 0.

Every command is a thin layer over the library: it reads what the command line names, calls
the library with the options of the same names (:func:`_options`) and prints its result for a
person to read (a table, where the outputs went). Errors are exceptions that
:func:`nhtad.cli.main` turns into one line. The tests of ``nhtad test`` are in
:mod:`nhtad._cli_tests`.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

from ._cli_files import refuse_existing

__all__ = ["cmd_demo", "cmd_generate", "cmd_study_sacwola", "cmd_study_nplm", "cmd_scan"]


def _options(args, *names) -> dict:
    """The command-line options ``names``, keyed as the library's parameters of the same names."""
    return {name: getattr(args, name) for name in names}


def cmd_demo(args) -> int:
    """``nhtad demo``: SA-CWoLa on LHCO-like events, tested with the plain and the default null."""
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
        **_options(
            args, "n_background", "signal_to_background", "mass_mjj_slope", "cv", "random_state"
        ),
        classifier=classifier,
    )
    print(format_demo_table(rows))
    print()
    print(demo_summary(rows))
    print(f"\n(done in {time.perf_counter() - start:.1f} s)")
    return 0


def cmd_generate(args) -> int:
    """``nhtad generate``: LHCO-like events written to a .npz, .csv or LHCO-format .h5 file."""
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
    refuse_existing([out], args.force)
    sample = make_lhco_like(
        **_options(
            args,
            "n_background",
            "signal_to_background",
            "signal",
            "simulation",
            "mismodelling",
            "random_state",
        )
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


def _study(args, module_name):
    """Run a study of :mod:`nhtad.studies` with the configuration the options give."""
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
    return _run_study(
        run,
        cfg,
        args,
        f"nhtad study ({module_name})",
        **sources,
        **({"device": args.device} if hasattr(args, "device") else {}),
    )


def _run_study(run, cfg, args, default_command, **extra) -> int:
    """Run a study function with the options every study command shares; print its table."""
    from .utils.tables import format_table

    command = "nhtad " + " ".join(sys.argv[1:]) if sys.argv[1:] else default_command
    result = run(
        cfg,
        random_state=args.random_state,
        n_jobs=args.n_jobs,
        out=args.out,
        verbose=0 if args.quiet else 1,
        command=command,
        checkpoint=_study_checkpoint(args),
        overwrite=args.force,
        **extra,
    )
    print(format_table(result["table"]))
    print(f"\n(done in {result['seconds'] / 60:.1f} min; outputs in {args.out})")
    return 0


def _study_checkpoint(args):
    """The checkpoint folder, refusing to start over an earlier run's without --resume.

    Without --checkpoint, a study with --out keeps its finished work in OUT/checkpoint as it
    goes, so that a run stopped by the user, a batch system or a crash leaves its results;
    the same command run again continues from them (the checkpoint's identity check refuses
    them if any setting differs, so they can only give the table an uninterrupted run gives).
    """
    if args.checkpoint is None:
        if args.resume:
            raise ValueError("--resume needs --checkpoint DIR, the folder of the run to continue.")
        if args.out is None:
            return None
        args.implicit_checkpoint = Path(args.out) / "checkpoint"
        return args.implicit_checkpoint
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


def _study_sources(args, *, simulation_needed=True) -> dict:
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
    elif args.data is not None and hasattr(args, "simulation") and simulation_needed:
        raise ValueError(
            "with --data, give the simulated background too (--simulation FILE, e.g. the "
            "Black Box 1 features file with label 0 rows, or any background-only file)."
        )
    return sources


def cmd_study_sacwola(args) -> int:
    """``nhtad study sacwola``: the SA-CWoLa study (:func:`~nhtad.studies.run_sacwola_study`)."""
    return _study(args, "sacwola_table")


def cmd_study_nplm(args) -> int:
    """``nhtad study nplm``: the NPLM study (:func:`~nhtad.studies.run_nplm_study`)."""
    return _study(args, "nplm_table")


def cmd_scan(args) -> int:
    """``nhtad scan``: the look-elsewhere scan study (:func:`~nhtad.studies.run_scan_study`)."""
    from .studies import scan_study

    cfg = scan_study.QUICK if args.quick else scan_study.FULL
    options = {
        "n_realisations": args.realisations,
        "n_toys": args.toys,
        "tests": None if args.tests is None else tuple(args.tests),
        "trained_realisations": args.trained_realisations,
        "trained_toys": args.trained_toys,
        "signal_masses": None if args.masses is None else tuple(args.masses),
    }
    cfg = replace(cfg, **{k: v for k, v in options.items() if v is not None})
    sources = _study_sources(
        args, simulation_needed=any(t in scan_study.TRAINED for t in cfg.tests)
    )
    n = args.n_background
    if sources:
        if args.masses is None:
            cfg = replace(cfg, signal_masses=(3500.0,))  # the LHC Olympics' W'
        if n is None:
            # Toys must differ: each draws a quarter of the file's background.
            n = sources["data"].n_background // 4
    if n is not None:
        cfg = replace(cfg, n_background=n, n_simulation=n)
    return _run_study(scan_study.run_scan_study, cfg, args, "nhtad scan", **sources)
