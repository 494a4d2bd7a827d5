"""The look-elsewhere study: a sliding signal-region scan on the embedded generator.

A resonance of unknown mass is searched for by sliding the signal region across m_jj
(:class:`~nhtad.stats.SignalRegionScan`). For every test, background-only toys of the whole
scan calibrate the global p-value ``P(max_w Z_w >= observed)``; Gross & Vitells' upcrossing
estimate (EPJC 70 (2010) 525), fitted on the same toys, is the analytic cross-check and the
global Z beyond the toys' reach. Then, for the signal at each mass and S/B, fresh samples give
the best window's local Z, the global Z, the trials factor and how often the best window's
signal region contains the true mass.

Tests:

- ``"mi"``: the binned MI test of (s, m_jj) with an untrained two-prong score,
  ``s = -(tau21_1 + tau21_2)`` (Kamenik & Szewc's test without training; independent of m_jj
  in the generator's background, so its local p-values are exact and the scan isolates the
  look-elsewhere effect), about 20 equal-count m_jj and score bins per window (fewer in a
  sparse window, so that every cell expects at least 20 events);
- ``"bump"``: the bump hunt without a cut (4-parameter dijet fit of the sidebands, profile
  likelihood in the signal region);
- ``"sacwola"``: :class:`~nhtad.SACWoLaTest` with its defaults (SA-CWoLa trained out-of-fold
  on data and simulation in every window, lam = 1, tested with its honest null), on a coarser
  grid and fewer samples and toys (each window trains five classifiers).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from functools import partial

import numpy as np

from ..utils.checkpoint import Checkpoint
from ..utils.fingerprint import fingerprint
from ..utils.progress import progress
from ._tables import (
    _jsonable,
    check_checkpoint_seed,
    check_outputs_free,
    checkpoint_folder,
    write_outputs,
)

__all__ = ["ScanStudyConfig", "ScanToys", "run_scan_study", "QUICK", "FULL", "scan_test"]

logger = logging.getLogger(__name__)

TESTS = ("mi", "bump", "sacwola")
#: Tests trained per window: their own grid, samples and toys (``trained_*`` settings).
TRAINED = ("sacwola",)


@dataclass(frozen=True)
class ScanStudyConfig:
    """Sizes and settings of the scan study.

    Attributes
    ----------
    n_background : int
        Background events over the generator's full m_jj range (1.5-7 TeV) per sample; only
        those in ``mjj_range`` are generated (``make_lhco_like(keep=...)``).
    mjj_range : tuple of float
        The scanned range: every window lies inside it.
    width, sideband_width, step : float
        Signal-region width, sideband width and the step between centres (GeV).
    signal_masses : tuple of float
        Resonance masses injected (GeV).
    signal_to_background : tuple of float
        S/B counted in the window centred on the true mass (0 = background only; those
        samples do not depend on the mass and are shared by the masses).
    n_realisations : int
        Samples per (mass, S/B).
    n_toys : int
        Background-only toys of the whole scan per test (the global calibration).
    tests : tuple of str
        Among :data:`TESTS`.
    gross_vitells_level : float
        The low level u0 (local Z) whose upcrossings the toys count.
    n_simulation : int
        Simulated background events (full range) of the trained tests.
    trained_mjj_range : tuple of float
        The trained tests' scanned range.
    trained_step : float
        Their step between centres.
    trained_realisations, trained_toys : int
        Their samples per (mass, S/B) and background-only toys.
    """

    n_background: int = 1_000_000
    mjj_range: tuple = (2700.0, 5100.0)
    width: float = 400.0
    sideband_width: float = 200.0
    step: float = 100.0
    signal_masses: tuple = (3500.0, 4300.0)
    signal_to_background: tuple = (0.0, 0.005, 0.01)
    n_realisations: int = 20
    n_toys: int = 300
    tests: tuple = TESTS
    gross_vitells_level: float = 0.5
    n_simulation: int = 1_000_000
    trained_mjj_range: tuple = (3100.0, 4900.0)
    trained_step: float = 200.0
    trained_realisations: int = 3
    trained_toys: int = 10


#: The machinery in about a minute: a fifth of the events, 200 GeV steps, one mass, 40 toys,
#: the untrained tests (``--tests sacwola`` adds the trained one: minutes per scan).
QUICK = ScanStudyConfig(
    n_background=200_000,
    step=200.0,
    signal_masses=(3500.0,),
    signal_to_background=(0.0, 0.01),
    n_realisations=2,
    n_toys=40,
    tests=("mi", "bump"),
    n_simulation=200_000,
    trained_realisations=1,
    trained_toys=4,
)
FULL = ScanStudyConfig()


def _mi_test(region, n_events):
    """About 20 m_jj and score bins, fewer in a sparse window so that every cell expects at
    least 20 events and the chi-square law of the MI statistic holds."""
    from ..stats import MutualInformationIndependenceTest

    bins = min(20.0, np.sqrt(n_events / 20.0))
    return MutualInformationIndependenceTest(rel_uncertainty=float(np.sqrt(bins / n_events)))


def scan_test(name, windows, *, null=None, random_state=None):
    """The study's :class:`~nhtad.stats.SignalRegionScan` for test ``name``."""
    from ..stats import BumpHuntTest, SignalRegionScan

    if name == "mi":
        return SignalRegionScan(_mi_test, windows, null=null, random_state=random_state)
    if name == "bump":
        return SignalRegionScan(BumpHuntTest(), windows, null=null, random_state=random_state)
    if name == "sacwola":
        from ..sacwola_test import SACWoLaTest

        return SignalRegionScan(SACWoLaTest(), windows, null=null, random_state=random_state)
    raise ValueError(f"unknown scan test {name!r}; choose from {TESTS}.")


def _generator(simulation):
    from ..datasets import make_lhco_like

    return partial(make_lhco_like, simulation=simulation)


class ScanToys:
    """A sample in the scanned range, as the scan of one test takes it.

    Parameters
    ----------
    n_background : int
        Background events over the source's whole m_jj range; those in ``mjj_range`` are kept.
    mjj_range : tuple of float
    signal_to_background : float, default=0.0
        Injected S/B, counted in ``region.window``.
    mass : float, default=3500.0
        Resonance mass of the embedded generator's signal.
    region : SignalRegion, optional
        Where the S/B is counted (required with a signal).
    output : {"score", "mass", "sacwola"}, default="score"
        ``(s, m_jj)`` with the untrained two-prong score, ``(None, m_jj)`` for the bump hunt,
        or ``{"X", "mjj", "is_simulation"}`` of data and simulation for SA-CWoLa.
    n_simulation : int, optional
        Simulated background events (full range), for ``output="sacwola"``.
    data, simulation : callable, optional
        ``source(n_background, signal_to_background, region=, random_state=)`` returning a
        Bunch with ``events``: an :class:`~nhtad.datasets.EventPool` of an LHCO file (its own
        signal, at the file's mass), or by default the embedded generator.
    """

    def __init__(
        self,
        n_background,
        mjj_range,
        signal_to_background=0.0,
        *,
        mass=3500.0,
        region=None,
        output="score",
        n_simulation=None,
        data=None,
        simulation=None,
    ):
        if output not in ("score", "mass", "sacwola"):
            raise ValueError(f"output must be 'score', 'mass' or 'sacwola'; got {output!r}.")
        if output == "sacwola" and n_simulation is None:
            raise ValueError("output='sacwola' needs n_simulation (the simulated background).")
        self.n_background = n_background
        self.mjj_range = tuple(float(v) for v in mjj_range)
        self.signal_to_background = float(signal_to_background)
        self.mass = float(mass)
        self.region = region
        self.output = output
        self.n_simulation = n_simulation
        # Functions (their code enters the checkpoints' identity) or event pools.
        self.data = _generator(False) if data is None else data
        self.simulation = _generator(True) if simulation is None else simulation

    def _draw(self, source, n, sb, seed):
        lo, hi = self.mjj_range
        from ..datasets import make_lhco_like

        if isinstance(source, partial) and source.func is make_lhco_like:
            # The embedded generator makes only the events in the kept range.
            return source(
                n,
                sb,
                signal_mass=self.mass,
                region=self.region,
                keep=self.mjj_range,
                random_state=seed,
            ).events
        events = source(n, sb, region=self.region, random_state=seed).events
        mjj = events["mjj"]
        return events[(mjj >= lo) & (mjj < hi)]

    def __call__(self, random_state):
        from ..utils.random import as_seed_sequence, child_seed

        seed = as_seed_sequence(random_state)
        events = self._draw(
            self.data, self.n_background, self.signal_to_background, child_seed(seed, 0)
        )
        if self.output == "score":
            return -(events["tau21_1"] + events["tau21_2"]), events["mjj"]
        if self.output == "mass":
            return None, events["mjj"]
        from ..datasets import sacwola_features

        sim = self._draw(self.simulation, self.n_simulation, 0.0, child_seed(seed, 1))
        return {
            "X": np.vstack([sacwola_features(events), sacwola_features(sim)]),
            "mjj": np.concatenate([events["mjj"], sim["mjj"]]),
            "is_simulation": np.r_[np.zeros(events.size, bool), np.ones(sim.size, bool)],
        }


def _region_at(mass, cfg):
    from ..datasets import SignalRegion

    half = 0.5 * cfg.width
    return SignalRegion(
        mass - half,
        mass + half,
        (mass - half - cfg.sideband_width, mass + half + cfg.sideband_width),
    )


def _plan(name, cfg):
    """Windows, samples per cell and toys of test ``name``."""
    from ..stats import sliding_regions

    trained = name in TRAINED
    windows = sliding_regions(
        width=cfg.width,
        sideband_width=cfg.sideband_width,
        step=cfg.trained_step if trained else cfg.step,
        mjj_range=cfg.trained_mjj_range if trained else cfg.mjj_range,
    )
    realisations = cfg.trained_realisations if trained else cfg.n_realisations
    toys = cfg.trained_toys if trained else cfg.n_toys
    return windows, realisations, toys


def _toys(name, cfg, windows, sb=0.0, mass=3500.0, sources=None):
    output = {"mi": "score", "bump": "mass", "sacwola": "sacwola"}[name]
    lo = min(w.window[0] for w in windows)
    hi = max(w.window[1] for w in windows)
    return ScanToys(
        cfg.n_background,
        (lo, hi),
        sb,
        mass=mass,
        region=_region_at(mass, cfg) if sb else None,
        output=output,
        n_simulation=cfg.n_simulation if output == "sacwola" else None,
        **(sources or {}),
    )


def run_scan_study(
    cfg=QUICK,
    *,
    random_state=0,
    n_jobs=None,
    out=None,
    verbose=1,
    command="",
    checkpoint=None,
    overwrite=False,
    data=None,
    simulation=None,
):
    """Run the scan study; write ``scan_table.md/.csv/.json`` and figures into ``out``.

    Parameters
    ----------
    cfg : ScanStudyConfig
    random_state : int
        Root seed of the toys and samples.
    n_jobs : int or None
        Toys in parallel (joblib).
    out : str or Path or None
        Output folder; nothing is written when None.
    verbose : int
        Progress bars when > 0.
    command : str
        The command line, recorded in the outputs.
    checkpoint : str or Path or None
        Folder of the checkpoints: the calibration toys (``toys_<test>.ckpt``, see
        :class:`~nhtad.calibration.ToyCalibrator`) and the samples' scans
        (``samples_<test>.ckpt``); a rerun with the same settings reuses every finished one.
    overwrite : bool, default=False
        Replace the outputs of an earlier study in ``out``.
    data, simulation : callable or None
        Event sources instead of the embedded generator (see :class:`ScanToys`), e.g.
        :class:`~nhtad.datasets.EventPool` of LHCO files; ``simulation`` is needed by the
        trained tests with ``data``. A file's signal sits at its own mass: give that mass as
        ``cfg.signal_masses``.

    Returns
    -------
    dict
        ``table`` (one row per test, mass and S/B), ``rows`` (one per sample and mass),
        ``calibration`` (per test: toys, Gross-Vitells), ``windows`` (per test), ``seconds``.
    """
    from ..calibration import ToyCalibrator
    from ..stats import gross_vitells

    check_outputs_free(out, "scan_table", overwrite=overwrite)
    folder = checkpoint_folder(checkpoint)
    for name in cfg.tests:
        if name not in TESTS:
            raise ValueError(f"unknown scan test {name!r}; choose from {TESTS}.")
    if data is not None and simulation is None and any(t in TRAINED for t in cfg.tests):
        raise ValueError(
            "with an events source for the data, the trained tests need a simulated "
            "background too (simulation=...; --simulation FILE)."
        )
    sources = {k: v for k, v in (("data", data), ("simulation", simulation)) if v is not None}
    if folder is not None:
        check_checkpoint_seed(random_state, "samples")
    start = time.perf_counter()
    calibration, rows, examples, windows_of = {}, [], {}, {}
    for t_index, name in enumerate(cfg.tests):
        windows, n_realisations, n_toys = _plan(name, cfg)
        windows_of[name] = windows
        cal = ToyCalibrator(
            scan_test(name, windows),
            _toys(name, cfg, windows, sources=sources),
            n_toys=n_toys,
            statistic="local_significances_",
            # A trained scan's toy takes minutes: one per batch, so that every worker has
            # one and each is checkpointed as it finishes.
            batch_size=1 if name in TRAINED else 10,
            n_jobs=n_jobs,
            random_state=np.random.SeedSequence([random_state, 1, t_index]),
            checkpoint=None if folder is None else folder / f"toys_{name}.ckpt",
            verbose=verbose,
        ).fit()
        null = cal.null_distribution_
        gv = gross_vitells(null, level=cfg.gross_vitells_level)
        calibration[name] = {"null": null, "gross_vitells": gv}
        rows += _samples(
            name,
            cfg,
            windows,
            n_realisations,
            null,
            gv,
            random_state,
            folder,
            sources,
            verbose,
            examples,
        )
        logger.info("scan study: test %s done", name)
    table = summarise(rows, cfg)
    seconds = time.perf_counter() - start
    result = {
        "table": table,
        "rows": rows,
        "windows": {
            name: [(w.low, w.high, w.window[0], w.window[1]) for w in ws]
            for name, ws in windows_of.items()
        },
        "calibration": {
            name: {
                "n_toys": int(c["null"].shape[0]),
                "gross_vitells_level": c["gross_vitells"].level,
                "mean_upcrossings": c["gross_vitells"].mean_upcrossings,
                "null_local_z": c["null"],
            }
            for name, c in calibration.items()
        },
        "config": asdict(cfg),
        "seconds": seconds,
    }
    if out is not None:
        from .. import plotting

        figures = {
            name: plotting.plot_scan(scan, gross_vitells=calibration[name]["gross_vitells"])
            for name, scan in examples.items()
        }
        write_outputs(
            out,
            "scan_table",
            title="Look-elsewhere: a sliding signal-region scan with a calibrated global p-value",
            table=table,
            result=result,
            command=command,
            notes=_notes(cfg, windows_of, sources),
            figures=figures,
            sections=[
                (
                    "Global calibration per test",
                    "Background-only toys of the whole scan; the trials factor is p_global / "
                    "p_local at the median toy's best window. Gross-Vitells: mean number of "
                    "upcrossings of the local-Z level u0 per toy, and the global Z it gives "
                    "at local Z = 3 beside the toys' (when they resolve it).",
                    _calibration_rows(calibration),
                )
            ],
            overwrite=overwrite,
        )
    return result


def _samples(
    name, cfg, windows, n_realisations, null, gv, random_state, folder, sources, verbose, examples
):
    """Scan every sample of test ``name``; one row per sample and mass.

    A background-only sample does not depend on the mass: it is scanned once and counted
    under every mass (its best window holds a mass or not).
    """
    from ..calibration.toys import fit_on_sample
    from ..stats.pvalues import significance_to_log_pvalue

    jobs = (
        [(0.0, None, k) for k in range(n_realisations)] if 0.0 in cfg.signal_to_background else []
    )
    jobs += [
        (sb, m, k)
        for m in range(len(cfg.signal_masses))
        for sb in cfg.signal_to_background
        if sb
        for k in range(n_realisations)
    ]
    ckpt, done = None, {}
    if folder is not None:
        identity = {
            "study": "scan_table",
            "test": name,
            "config": fingerprint(asdict(cfg)),
            "random_state": int(random_state),
            "scan": fingerprint(scan_test(name, windows), where="the scan"),
            "samples": fingerprint(
                _toys(name, cfg, windows, sources=sources), where="the event sources"
            ),
        }
        ckpt = Checkpoint(folder / f"samples_{name}.ckpt", identity, what="samples")
        done = ckpt.load()
    centres = np.array([0.5 * (w.low + w.high) for w in windows])
    example_job = (max(cfg.signal_to_background), 0 if max(cfg.signal_to_background) else None, 0)
    rows = []
    for j, (sb, m, k) in enumerate(
        progress(jobs, total=len(jobs), verbose=verbose, desc=f"scan samples ({name})")
    ):
        injected_at = cfg.signal_masses[0] if m is None else cfg.signal_masses[m]
        key = [2, int(sb * 1e6), k] if m is None else [3, m, int(sb * 1e6), k]
        seed = np.random.SeedSequence([random_state, *key])
        keep_scan = (sb, m, k) == example_job
        if j in done and not keep_scan:
            scanned = done[j]
        else:
            sample = _toys(name, cfg, windows, sb, injected_at, sources)(seed)
            scan = fit_on_sample(scan_test(name, windows, null=null, random_state=seed), sample)
            scanned = {
                "local_significances": scan.local_significances_,
                "local_z": scan.statistic_,
                "global_z": scan.significance_,
                "trials_factor": scan.trials_factor_,
                "best_window": scan.best_window_,
            }
            if keep_scan:
                examples[name] = scan
            if ckpt is not None and j not in done:
                ckpt.append([(j, _jsonable(scanned, keep_nan=True))])
        best = windows[int(scanned["best_window"])]
        z = float(scanned["local_z"])
        log_gv = float(gv.log_pvalue(z))
        for mass in cfg.signal_masses if m is None else (injected_at,):
            rows.append(
                {
                    "test": name,
                    "mass": mass,
                    "signal_to_background": sb,
                    "realisation": k,
                    "local_z": z,
                    "global_z": float(scanned["global_z"]),
                    "global_z_gross_vitells": float(gv.significance(z)),
                    # Beyond every toy the global p is the floor 1/(toys + 1), an upper
                    # bound: its Z and trials factor are bounds, counted apart.
                    "beyond_toys": bool(z > null.max()),
                    "trials_factor": float(scanned["trials_factor"]),
                    "trials_factor_gross_vitells": float(
                        np.exp(log_gv - significance_to_log_pvalue(z))
                    ),
                    "best_centre": float(centres[int(scanned["best_window"])]),
                    "best_contains_mass": bool(best.low <= mass < best.high),
                    "local_significances": np.asarray(scanned["local_significances"]),
                }
            )
    if done:
        logger.info("resumed %d of %d %s scans from %s", len(done), len(jobs), name, ckpt.path)
    return rows


def _calibration_rows(calibration):
    from ..stats import empirical_log_pvalue, log_pvalue_to_significance
    from ..stats.pvalues import significance_to_log_pvalue

    rows = []
    for name, c in calibration.items():
        null = c["null"]
        null_max = null.max(axis=1)
        median = float(np.median(null_max))
        log_global = empirical_log_pvalue(null_max, median, warn_floor=False)
        trials = float(np.exp(log_global - significance_to_log_pvalue(median)))
        gv = c["gross_vitells"]
        z3_toys = log_pvalue_to_significance(empirical_log_pvalue(null_max, 3.0, warn_floor=False))
        floor = float(np.exp(-np.log1p(null_max.size)))
        rows.append(
            {
                "test": name,
                "windows": null.shape[1],
                "toys": null.shape[0],
                "median best local Z": f"{median:.2f}",
                "trials factor (median toy)": f"{trials:.1f}",
                f"<N(u0 = {gv.level:g})>": f"{gv.mean_upcrossings:.2f}",
                "global Z at local Z = 3: toys": (
                    f"{z3_toys:.2f}"
                    if (null_max >= 3.0).any()
                    else f">= {z3_toys:.2f} (floor p = {floor:.3g})"
                ),
                "global Z at local Z = 3: Gross-Vitells": f"{float(gv.significance(3.0)):.2f}",
            }
        )
    return rows


def summarise(rows, cfg):
    """Median and range of the local and global Z, trials factors and mass hits per cell."""
    from ..utils.tables import format_median_range

    table = []
    for name in cfg.tests:
        for mass in cfg.signal_masses:
            for sb in cfg.signal_to_background:
                sel = [
                    r
                    for r in rows
                    if r["test"] == name and r["mass"] == mass and r["signal_to_background"] == sb
                ]
                if not sel:
                    continue
                hits = sum(r["best_contains_mass"] for r in sel)

                def cell(key, fmt="{:.2f}", sel=sel):
                    return format_median_range([r[key] for r in sel], fmt=fmt)

                table.append(
                    {
                        "test": name,
                        "mass [GeV]": f"{mass:g}",
                        "S/B": f"{sb:g}",
                        "best local Z": cell("local_z"),
                        "global Z (toys)": _within_toys(sel, "global_z", "{:.2f}", ">="),
                        "global Z (Gross-Vitells)": cell("global_z_gross_vitells"),
                        "trials factor (toys)": _within_toys(sel, "trials_factor", "{:.3g}", "<="),
                        "trials factor (Gross-Vitells)": cell(
                            "trials_factor_gross_vitells", "{:.3g}"
                        ),
                        "best window holds the mass": f"{hits}/{len(sel)}",
                    }
                )
    return table


def _within_toys(sel, key, fmt, bound):
    """Median (range) over the samples the toys reach; those beyond every toy counted apart,
    with the bound the floor gives (global Z >= it, trials factor <= it)."""
    from ..utils.tables import format_median_range

    inside = [r[key] for r in sel if not r["beyond_toys"]]
    beyond = [r[key] for r in sel if r["beyond_toys"]]
    text = format_median_range(inside, fmt=fmt) if inside else ""
    if beyond:
        value = min(beyond) if bound == ">=" else max(beyond)
        text += f"{' ' if text else ''}[{len(beyond)} beyond the toys: {bound} {fmt.format(value)}]"
    return text


def _notes(cfg, windows_of, sources):
    grids = "; ".join(
        f"{name}: {len(ws)} windows, centres {0.5 * (ws[0].low + ws[0].high):g}-"
        f"{0.5 * (ws[-1].low + ws[-1].high):g} GeV"
        for name, ws in windows_of.items()
    )
    trained = [t for t in cfg.tests if t in TRAINED]
    source = (
        f"{cfg.n_background} background events drawn from {sources['data']!r} (those in the "
        "scanned range kept), its own signal injected"
        if "data" in sources
        else f"{cfg.n_background} background events over 1.5-7 TeV (those in the scanned range "
        "generated), the realistic W' -> X Y signal at "
        f"{', '.join(f'{m:g}' for m in cfg.signal_masses)} GeV injected"
    )
    text = (
        f"Signal regions {cfg.width:g} GeV wide with {cfg.sideband_width:g} GeV sidebands; "
        f"{grids}. Samples: {source} at S/B {', '.join(f'{s:g}' for s in cfg.signal_to_background)}"
        " (counted in the window centred on the mass; the background-only samples are the same "
        f"for every mass). Untrained tests: {cfg.n_realisations} samples per cell, "
        f"{cfg.n_toys} background-only toys of the whole scan per test. "
        "'mi' = binned MI test of an untrained two-prong score -(tau21_1 + tau21_2) against "
        "m_jj (about 20 m_jj bins per window, fewer where a cell would expect under 20 events); "
        "'bump' = bump hunt without a cut."
    )
    if trained:
        text += (
            f" 'sacwola' = SACWoLaTest with its defaults (5-fold SA-CWoLa training on data and "
            f"{cfg.n_simulation} simulated background events per sample, lam = 1, its honest "
            f"null) retrained in every window: {cfg.trained_realisations} samples per cell, "
            f"{cfg.trained_toys} toys (their global Z saturates early: read Gross-Vitells)."
        )
    text += (
        " Cells: median (min to max) over samples. A sample beyond every toy has the global p "
        "of the toys' floor, 1/(toys + 1), an upper bound: its global Z is a lower bound and "
        "its trials factor an upper bound, counted apart ('beyond the toys'); a global p of 1 "
        "(below every toy) has Z = -inf, shown as '-'. Gross-Vitells, fitted on the same "
        "toys, applies to excursions above its level u0: a sample whose best local Z is "
        "below u0 has no estimate, one whose estimate reaches p = 1 has Z = -inf (both "
        "'-'). Trials factor = p_global / p_local of "
        "the best window. 'best window holds the mass': samples whose most significant "
        "window's signal region contains the true mass."
    )
    return text
