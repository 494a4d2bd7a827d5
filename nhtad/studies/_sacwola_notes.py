"""The text of the seed-000 study page: what was run, on which events, and what was reused."""

from __future__ import annotations

__all__ = ["notes", "resumed_note", "describe"]


def resumed_note(done, n_table):
    """Say how much of the study came from a checkpoint: the run time covers the rest only."""
    n_table_done = sum(j < n_table for j in done)
    n_scan_done = len(done) - n_table_done
    if not done:
        return ""
    return (
        f" {n_table_done} table realisation(s) and {n_scan_done} scan run(s) were reused from "
        "the checkpoint of an earlier run with the same settings; the run time above covers "
        "the rest."
    )


def notes(cfg, data=None, simulation=None):
    """The paragraph under the table's title: sizes, event sources and what each row means."""
    if data is None and simulation is None:
        origin = (
            f"{cfg.n_background} background and {cfg.n_simulation} simulated events generated "
            "over the full m_jj range by the embedded generator, about a quarter in the "
            "3.1-3.9 TeV window"
        )
    else:
        origin = (
            f"data: {describe(data, cfg.n_background, 'generator')}; simulation: "
            f"{describe(simulation, cfg.n_simulation, 'generator (simulation mode)')}; events "
            "drawn without replacement per realisation, so realisations of a whole file differ "
            "in the injected signal and the training seeds only"
        )
    return (
        f"{cfg.n_realisations} realisation(s) per S/B (fresh background, simulation and "
        f"injection); {cfg.n_folds}-fold out-of-fold SA-CWoLa scores ({cfg.max_epochs} epochs); "
        f"{origin}; SR 3.3-3.7 TeV. Cells: "
        "median ± error (min to max) of Z over realisations, the error the bootstrap standard "
        "deviation of the median; the last column counts the background-only realisations "
        "with Z > 1.64 (p < 0.05: a calibrated test has 5% of them), with the rate's 68% "
        "Clopper-Pearson interval. 'cuts' = anomaly cuts with the paper's "
        "formula Z = (eps1 - eps2) N1 / sqrt(eps2 (N1 + N2)); BH = bump hunt (4-parameter dijet "
        "fit of the sidebands integrated over bins, full-covariance background error, profile "
        "likelihood). After a score cut, 'fit after cut' fits the selected events' sidebands; "
        "'seed recipe' is the notebook's: the uncut fit times the measured eps2 (flat efficiency "
        "in m_jj assumed) with eps2's statistical error dropped. '-' marks a fit that failed "
        "(reason in the JSON)."
    )


def describe(source, n, default):
    """One event source in words: the embedded generator, or ``n`` events of a user's source."""
    if source is None:
        return f"{n} events from the embedded {default}"
    size = "all" if n is None else str(n)
    return f"{size} background events of {source!r}"
