"""Grosso et al.'s Table 1 on the embedded generator: NPLM and HGB, end to end or through a cut.

Grosso, Sengupta, Golling, Harris, EPJC 85, 1074 (2025), Table 1, compares at
N(S)/N(B) in {8.2e-4, 2.1e-3, 2.7e-3} (in the signal region) four strategies in the idealised
setting where the reference is an independent background sample in the signal region:

- HGB 5D + t_cc: an HGB-ensemble classifier of data vs reference (k-fold, out-of-fold scores),
  then a cut-and-count at one threshold (a quantile of the reference scores);
- NPLM 6D + t_NP: the NPLM statistic with m_jj as a sixth feature, several kernel widths
  combined by multiple testing (arXiv:2408.12296);
- HGB 5D + hyper-t_cc and NPLM 5D + hyper-t_cc: the classifier score (NPLM: its learned log
  density ratio f(x), in-sample) cut at several thresholds, combined by min-p.

Every toy (null or signal) runs all four on the same events: one vector of member statistics
per toy (-log p of each cut, t of each width). Every strategy is calibrated on the null toys
(empirical p; the combinations through their leave-one-out null p-values), and its "median Z"
is the Z of the median signal toy (:func:`nhtad.calibration.median_significance`). The spread
in the table is over hyper-parameter choices: thresholds for single t_cc, threshold grids for
the hyper-tests, combination rules for t_NP. With ``n_null`` null toys no Z exceeds
``Phi^-1(1 - 1/(n_null + 1))`` (2.33 at 100): the table says so where it saturates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm
from sklearn.base import BaseEstimator

from ._tables import check_outputs_free, write_outputs
from ._tables import checkpoint_folder as _checkpoint_folder

__all__ = ["NPLMStudyConfig", "Seed004ToyStatistics", "run_nplm_study", "QUICK", "FULL"]

logger = logging.getLogger(__name__)

THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.995)
SINGLE = (0.8, 0.9, 0.95, 0.99)
#: The single-threshold choices with the default (q = 0.9) first.
SINGLE_ORDER = (0.9, 0.8, 0.95, 0.99)
GRIDS = ((0.8, 0.9, 0.95, 0.99), (0.5, 0.7, 0.9, 0.99), (0.9, 0.95, 0.99, 0.995))


@dataclass(frozen=True)
class NPLMStudyConfig:
    """Sizes and settings of the Grosso et al. Table 1 study.

    Attributes
    ----------
    n_background : int or None
        Background events generated over the full m_jj range per toy (about 12% fall in the
        3.3-3.7 TeV signal region); the reference is ``reference_ratio`` times larger. With
        an LHCO file, the events drawn from it per toy (``None``: a quarter of its data part).
    injections : tuple of float
        N(S)/N(B) in the signal region.
    n_null, n_signal : int
        Null toys, and signal toys per injection.
    sigmas : tuple of float
        NPLM kernel widths (in units of the standardised features) of the 6-D t_NP.
    classifier_sigma : float
        Width of the 5-D NPLM used as a classifier.
    n_centers : int
    hgb_estimators, hgb_max_iter, hgb_folds : int
    """

    n_background: int = 500_000
    reference_ratio: float = 2.0
    injections: tuple = (8.2e-4, 2.1e-3, 2.7e-3)
    n_null: int = 1000
    n_signal: int = 50
    sigmas: tuple = (1.0, 2.0, 3.0)
    classifier_sigma: float = 2.0
    n_centers: int = 1000
    hgb_estimators: int = 3
    hgb_max_iter: int = 60
    hgb_folds: int = 3


#: About a minute on 2 cores: small toys, 40 null and 10 signal toys per injection. The
#: signals are then far too small to be seen: quick mode checks the machinery, not the physics.
QUICK = NPLMStudyConfig(
    n_background=60_000,
    n_null=40,
    n_signal=10,
    n_centers=200,
    hgb_estimators=2,
    hgb_max_iter=20,
    hgb_folds=2,
)
FULL = NPLMStudyConfig()


class Seed004ToyStatistics(BaseEstimator):
    """All member statistics of the four strategies on one toy ``(X, y)``.

    ``X`` has the five NPLM features and m_jj last (``nplm_features(..., include_mjj=True)``);
    ``y`` is 1 for data and 0 for reference. ``statistic_`` is the concatenation of
    ``-log p`` of the HGB cut at every threshold of :data:`THRESHOLDS`, NPLM's t at every
    width, and ``-log p`` of the NPLM-classifier cut at every threshold.
    """

    def __init__(
        self,
        sigmas=(1.0, 2.0, 3.0),
        classifier_sigma=2.0,
        n_centers=1000,
        hgb_estimators=3,
        hgb_max_iter=60,
        hgb_folds=3,
        device="cpu",
        random_state=None,
    ):
        self.sigmas = sigmas
        self.classifier_sigma = classifier_sigma
        self.n_centers = n_centers
        self.hgb_estimators = hgb_estimators
        self.hgb_max_iter = hgb_max_iter
        self.hgb_folds = hgb_folds
        self.device = device
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.model_selection import StratifiedKFold

        from ..scoring import HGBEnsembleClassifier, NPLMKernelEstimator, ScoreTransformer
        from ..stats import TemplateCutAndCountTest
        from ..utils.random import as_seed_sequence, spawn_children

        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        X5 = X[:, :5]
        # spawn_children(seed, 4) is seed.spawn(4) without spawning from the user's seed.
        root = as_seed_sequence(self.random_state)
        seeds = [int(s.generate_state(1)[0]) for s in spawn_children(root, 4)]

        def cut_log_p(s):
            return [-TemplateCutAndCountTest(quantile=q).fit(s, y).log_pvalue_ for q in THRESHOLDS]

        hgb = ScoreTransformer(
            HGBEnsembleClassifier(
                n_estimators=self.hgb_estimators, max_iter=self.hgb_max_iter, random_state=seeds[0]
            ),
            cv=StratifiedKFold(self.hgb_folds, shuffle=True, random_state=seeds[1]),
            refit=False,
        )
        hgb_part = cut_log_p(hgb.fit_transform(X5, y)[:, 0])
        nplm = NPLMKernelEstimator(
            sigma=list(self.sigmas),
            n_centers=self.n_centers,
            standardize=True,
            device=self.device,
            random_state=seeds[2],
        ).fit(X, y)
        classifier = NPLMKernelEstimator(
            sigma=self.classifier_sigma,
            n_centers=self.n_centers,
            standardize=True,
            device=self.device,
            random_state=seeds[3],
        ).fit(X5, y)
        clf_part = cut_log_p(classifier.decision_function(X5))
        self.statistic_ = np.r_[hgb_part, np.atleast_1d(nplm.statistic_), clf_part]
        return self


def _columns(cfg):
    k, m = len(THRESHOLDS), len(cfg.sigmas)
    return {
        "hgb": {q: j for j, q in enumerate(THRESHOLDS)},
        "nplm": list(range(k, k + m)),
        "clf": {q: k + m + j for j, q in enumerate(THRESHOLDS)},
    }


def _median_z(null, alt):
    from ..calibration import median_significance

    return median_significance(null, alt)


def _min_p(minus_log_p):
    """The hyper-t_cc statistic of rows of cuts' ``-log p``: min-p, ``max_j (-log p_j)``."""
    from ..stats import combined_statistic

    return combined_statistic(log_pvalues=-minus_log_p, combine="min-p")


def _cell(choices):
    """``"Z [low, high] (min to max)"``: the first (default) choice's median Z with its 68%
    order-statistic interval, and the range of median Z over every choice; ``>=`` marks a Z at
    the null toys' floor (the median signal toy beyond every null toy)."""
    first = choices[0]
    mark = ">=" if first.at_floor else ""
    text = f"{mark}{first.significance + 0.0:.2f} [{first.low + 0.0:.2f}, {first.high + 0.0:.2f}]"
    zs = [c.significance for c in choices]
    if len(zs) > 1:
        text += f" ({min(zs) + 0.0:.2f} to {max(zs) + 0.0:.2f})"
    return text


def summarise(null, signal, cfg):
    """Median Z of every strategy and hyper-parameter choice per injection.

    Returns the table (one row per injection, cells from :func:`_cell`) and the detail: per
    injection and strategy, the median Z of every choice (first = the default) with its
    interval and whether it sits at the null toys' floor.
    """
    from ..stats import MultipleTestCombination

    cols = _columns(cfg)
    table, detail = [], {}
    for inj in cfg.injections:
        alt = signal[inj]
        z = {
            "HGB 5D + t_cc": [
                _median_z(null[:, cols["hgb"][q]], alt[:, cols["hgb"][q]]) for q in SINGLE_ORDER
            ],
        }
        nplm = []
        for method in ("min-p", "fisher", "average-p"):
            comb = MultipleTestCombination(combine=method).fit(null[:, cols["nplm"]])
            nplm.append(
                _median_z(comb.null_combined_, comb.combined_statistic(alt[:, cols["nplm"]]))
            )
        z["NPLM 6D + t_NP"] = nplm
        for name, key in (("HGB 5D + hyper-t_cc", "hgb"), ("NPLM 5D + hyper-t_cc", "clf")):
            values = []
            for grid in GRIDS:
                idx = [cols[key][q] for q in grid]
                values.append(_median_z(_min_p(null[:, idx]), _min_p(alt[:, idx])))
            z[name] = values
        z["NPLM 5D + t_cc"] = [
            _median_z(null[:, cols["clf"][q]], alt[:, cols["clf"][q]]) for q in SINGLE_ORDER
        ]
        detail[f"{inj:g}"] = {
            name: [
                {
                    "significance": c.significance,
                    "low": c.low,
                    "high": c.high,
                    "at_floor": c.at_floor,
                }
                for c in values
            ]
            for name, values in z.items()
        }
        line = {"N(S)/N(B)": f"{inj:g}"}
        for name, values in z.items():
            line[name] = _cell(values)
        table.append(line)
    return table, detail


def chi2_section(null, signal, cfg):
    """Per width, the chi-square fitted to the null t_NP and the median signal t's Z under it.

    Beyond the null toys' floor ``Phi^-1(1 - 1/(n_null + 1))`` only an extrapolation gives a
    Z: the fitted ``chi2(dof)`` law (:func:`~nhtad.stats.chi2_extrapolation`), accepted when
    its KS p-value reaches 0.05. The tail check counts the null toys beyond the fitted law's
    1% and 0.1% quantiles against the expected numbers.
    """
    from scipy.stats import chi2 as chi2_law

    from ..stats import chi2_extrapolation, fit_chi2_dof

    cols = _columns(cfg)["nplm"]
    rows = []
    for j, sigma in enumerate(cfg.sigmas):
        t0 = null[:, cols[j]]
        fit = fit_chi2_dof(t0)
        n = t0.size
        tail = {q: int((t0 > chi2_law.isf(q, fit.dof)).sum()) for q in (0.01, 0.001)}
        row = {
            "width": f"{sigma:g}",
            "fitted dof": f"{fit.dof:.1f}",
            "KS distance (p)": f"{fit.ks_statistic:.3f} ({fit.ks_pvalue:.2f})",
            "null toys beyond the 1% / 0.1% quantile (expected)": (
                f"{tail[0.01]} / {tail[0.001]} ({0.01 * n:.1f} / {0.001 * n:.1f})"
            ),
        }
        for inj in cfg.injections:
            median_t = float(np.median(signal[inj][:, cols[j]]))
            try:
                ext = chi2_extrapolation(t0, median_t, fit=fit)
                text = f"{ext.significance:.2f} (empirical {ext.empirical_significance:.2f})"
            except ValueError:
                text = "fit refused (KS p < 0.05)"
            row[f"Z, N(S)/N(B) = {inj:g}"] = text
        rows.append(row)
    return rows


def _window_factor(source, n_background, region, random_state):
    """(S/B in the signal region) / (S/B in the window), measured on one sample of ``source``."""
    sample = source(n_background, 0.01, region=region, random_state=random_state)
    mjj, truth = sample.events["mjj"], sample.truth.astype(bool)
    in_sr, in_win = region.in_signal_region(mjj), region.in_window(mjj)
    sr = (truth & in_sr).sum() / (~truth & in_sr).sum()
    win = (truth & in_win).sum() / (~truth & in_win).sum()
    return float(sr / win)


def _file_sources(cfg, data, random_state):
    """Disjoint data and reference pools of a file, and the toy size it affords."""
    data_pool, reference_pool = data.split(
        1.0 / (1.0 + cfg.reference_ratio), random_state=np.random.SeedSequence([random_state, 98])
    )
    n = cfg.n_background
    if n is None:
        # Toys of one file overlap, and the more they share the narrower their null; with a
        # quarter of the data part per toy, two toys share a quarter of their events on average.
        n = data_pool.n_background // 4
    return data_pool, reference_pool, int(n)


def run_nplm_study(
    cfg=QUICK,
    *,
    random_state=0,
    n_jobs=None,
    out=None,
    verbose=1,
    command="",
    data=None,
    checkpoint=None,
    overwrite=False,
    device="cpu",
):
    """Run the study; write ``nplm_table.md/.csv/.json`` and the power figure into ``out``.

    Parameters
    ----------
    cfg : NPLMStudyConfig
    random_state : int
        Root seed of the null and signal toys.
    n_jobs : int or None
        Toys in parallel (joblib).
    out : str or Path or None
        Output folder; nothing is written when None.
    verbose : int
        Progress bar when > 0.
    command : str
        The command line that made the study, recorded in the outputs.
    data : EventPool or None
        Events to draw the toys from instead of the embedded generator, e.g.
        ``EventPool.from_lhco("events_anomalydetection_v2.features.h5")``. Its background is
        split once into disjoint data and reference parts (sizes 1 : ``reference_ratio``), so
        the reference stays independent of the data; ``cfg.n_background = None`` draws a
        quarter of the data part per toy.
    checkpoint : str or Path or None
        Folder of the toys' checkpoints (``null.ckpt``, ``signal_<k>.ckpt``; see
        :class:`~nhtad.calibration.ToyCalibrator`): a rerun with the same folder and settings
        reuses every finished toy and gives the same table.
    overwrite : bool, default=False
        Replace the outputs of an earlier study in ``out`` (refused before any toy runs).
    device : str, default="cpu"
        torch device of the NPLM fits, e.g. ``"cuda"`` (the HGB ensembles run on the CPU).
        Part of the toys' identity: a checkpoint made on one device is resumed on that device.

    Returns
    -------
    dict
        ``table``, ``detail`` (median Z of every choice), ``null`` and ``signal`` statistics.
    """
    from ..calibration import LHCOToys, ToyCalibrator, power_at_significance
    from ..datasets import SignalRegion

    check_outputs_free(out, "nplm_table", overwrite=overwrite)
    checkpoints = _checkpoint_folder(checkpoint)
    region = SignalRegion()
    start = time.perf_counter()
    if data is None:
        from ..datasets import make_lhco_like

        source, reference_source, n_background = make_lhco_like, None, cfg.n_background
    else:
        source, reference_source, n_background = _file_sources(cfg, data, random_state)
    factor = _window_factor(
        source, n_background, region, np.random.SeedSequence([random_state, 99])
    )
    toy_test = Seed004ToyStatistics(
        sigmas=cfg.sigmas,
        classifier_sigma=cfg.classifier_sigma,
        n_centers=cfg.n_centers,
        hgb_estimators=cfg.hgb_estimators,
        hgb_max_iter=cfg.hgb_max_iter,
        hgb_folds=cfg.hgb_folds,
        device=device,
    )

    def toys(injection):
        return LHCOToys(
            n_background,
            injection / factor,
            reference_ratio=cfg.reference_ratio,
            include_mjj=True,
            region=region,
            source=None if data is None else source,
            reference_source=reference_source,
            # The generator makes only the signal-region events a toy uses.
            generate="kept" if data is None else "full",
        )

    cal = ToyCalibrator(
        toy_test,
        toys(0.0),
        n_toys=cfg.n_null,
        n_jobs=n_jobs,
        random_state=random_state,
        checkpoint=None if checkpoints is None else checkpoints / "null.ckpt",
        verbose=verbose,
    ).fit()
    null = cal.null_distribution_
    signal = {}
    for j, inj in enumerate(cfg.injections):
        run = ToyCalibrator(
            toy_test,
            toys(inj),
            n_toys=cfg.n_signal,
            n_jobs=n_jobs,
            random_state=np.random.SeedSequence([random_state, 1000 + j]),
            checkpoint=None if checkpoints is None else checkpoints / f"signal_{j}.ckpt",
            verbose=verbose,
        ).fit()
        signal[inj] = run.null_distribution_
    table, detail = summarise(null, signal, cfg)
    extrapolation = chi2_section(null, signal, cfg)
    seconds = time.perf_counter() - start
    result = {
        "table": table,
        "detail": detail,
        "chi2_extrapolation": extrapolation,
        "device": str(device),
        "null": null,
        "signal": {f"{k:g}": v for k, v in signal.items()},
        "window_to_signal_region_factor": factor,
        "seconds": seconds,
        "config": asdict(cfg),
        "thresholds": THRESHOLDS,
    }
    if out is not None:
        from .. import plotting

        cols = _columns(cfg)
        inj = max(cfg.injections)
        # Only the Z whose level the null toys resolve (alpha >= 1 / n_null, power.py's rule).
        z_max = float(norm.isf(1.0 / cfg.n_null))
        zs = np.linspace(0.25, min(3.0, z_max), 10)
        curves = {
            "HGB 5D + t_cc (q=0.9)": power_at_significance(
                null[:, cols["hgb"][0.9]], signal[inj][:, cols["hgb"][0.9]], zs
            ),
            "NPLM 5D + t_cc (q=0.9)": power_at_significance(
                null[:, cols["clf"][0.9]], signal[inj][:, cols["clf"][0.9]], zs
            ),
        }
        idx = [cols["clf"][q] for q in GRIDS[0]]
        curves["NPLM 5D + hyper-t_cc"] = power_at_significance(
            _min_p(null[:, idx]), _min_p(signal[inj][:, idx]), zs
        )
        figures = {"power": plotting.plot_power_curves(curves)}
        write_outputs(
            out,
            "nplm_table",
            title="Seed-004 Table 1 analogue: median Z of NPLM and HGB strategies",
            table=table,
            result=result,
            command=command,
            notes=_notes(cfg, factor, data, n_background),
            figures=figures,
            sections=[
                (
                    "t_NP beyond the null toys: the chi-square extrapolation",
                    f"An extrapolation, not a measurement: {cfg.n_null} null toys resolve Z up "
                    f"to {float(norm.isf(1.0 / (cfg.n_null + 1))):.2f}; beyond it the Z of "
                    "the median signal t per width comes from the chi-square law fitted to "
                    "that width's null t (accepted when the KS p-value reaches 0.05; the dof "
                    "is tuned on the same toys, so that p is optimistic). The tail check "
                    "counts the null toys beyond the fitted law's 1% and 0.1% quantiles.",
                    extrapolation,
                )
            ],
            overwrite=overwrite,
        )
    return result


def _notes(cfg, factor, data=None, n_background=None):
    z_max = float(norm.isf(1.0 / (cfg.n_null + 1)))
    if data is None:
        origin = (
            f"data = {cfg.n_background} background events generated over the full m_jj range "
            "(about 12% in the 3.3-3.7 TeV signal region) plus the injected signal; reference = "
            f"an independent background sample {cfg.reference_ratio:g} times larger"
        )
    else:
        origin = (
            f"events from {data!r}, its background split once into disjoint data and reference "
            f"parts (1 : {cfg.reference_ratio:g}); data = {n_background} background events "
            f"drawn per toy from the data part plus the injected signal; reference = "
            f"{cfg.reference_ratio:g} times as many from the reference part (toys of one file "
            "overlap)"
        )
    return (
        f"Idealised setting: {origin}, signal-region events only. Injections are N(S)/N(B) in "
        f"the signal region "
        f"(window S/B = injection / {factor:.2f}). {cfg.n_null} null toys calibrate every "
        f"strategy (median Z saturates at {z_max:.2f}: '>=' marks a median signal toy beyond "
        f"every null toy); {cfg.n_signal} signal toys per injection. Cells: median Z of the "
        f"default choice, in square brackets its 68% interval from the finite number of signal "
        f"toys (order statistics of the median, distribution-free), and in round brackets the "
        f"range of median Z over hyper-parameter choices: thresholds {SINGLE_ORDER} for t_cc "
        f"(default first), threshold grids {GRIDS} for hyper-t_cc (min-p; the first is the "
        f"default), combination rules min-p (default) / Fisher / average-p over widths "
        f"{cfg.sigmas} for t_NP. HGB: "
        f"{cfg.hgb_estimators} x {cfg.hgb_max_iter} iterations, {cfg.hgb_folds}-fold; NPLM: "
        f"M = {cfg.n_centers}, standardised features, classifier width {cfg.classifier_sigma}."
    )
