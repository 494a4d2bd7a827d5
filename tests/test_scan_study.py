"""The look-elsewhere study (nhtad.studies.scan_study) and `nhtad scan` at toy sizes.

The statistics of the scan are tested in test_scan.py; here the study's wiring: every test
(the trained SA-CWoLa one included) runs in its own grid, background-only samples are shared
by the masses, samples beyond every toy are counted apart, a resumed run gives the same
table, and the CLI reads LHCO files.
"""

from dataclasses import replace

import numpy as np
import pytest

from nhtad.cli import main
from nhtad.studies import scan_study

pytestmark = pytest.mark.filterwarnings("ignore::nhtad.stats.ToyFloorWarning")

TINY = replace(
    scan_study.QUICK,
    n_background=40_000,
    n_simulation=40_000,
    signal_masses=(3500.0, 4300.0),
    signal_to_background=(0.0, 0.1),
    n_realisations=2,
    n_toys=6,
    tests=("mi", "bump", "sacwola"),
    trained_mjj_range=(3100.0, 4100.0),
    trained_realisations=1,
    trained_toys=2,
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    import warnings

    folder = tmp_path_factory.mktemp("scan")
    with warnings.catch_warnings():
        # Small windows: sparse tables and poorly described sidebands are warned about.
        warnings.simplefilter("ignore")
        result = scan_study.run_scan_study(
            TINY, verbose=0, out=folder / "out", checkpoint=folder / "ckpt"
        )
    return folder, result


def test_each_test_scans_its_grid_and_writes_the_outputs(tiny_run):
    folder, result = tiny_run
    windows = result["windows"]
    assert len(windows["mi"]) == len(windows["bump"]) == 9  # centres 3.1-4.7 TeV every 200 GeV
    assert len(windows["sacwola"]) == 2  # centres 3.5 and 3.7 TeV
    for name, c in result["calibration"].items():
        expected = TINY.trained_toys if name == "sacwola" else TINY.n_toys
        assert np.asarray(c["null_local_z"]).shape == (expected, len(windows[name]))
    md = (folder / "out" / "scan_table.md").read_text()
    assert "## Global calibration per test" in md and "'sacwola' = SACWoLaTest" in md
    assert sorted(p.name for p in (folder / "out").glob("*.png")) == [
        f"scan_table_{t}.png" for t in ("bump", "mi", "sacwola")
    ]
    # One row per test, mass and S/B; the sample counts per cell.
    assert len(result["table"]) == 3 * 2 * 2
    for row in result["table"]:
        n = TINY.trained_realisations if row["test"] == "sacwola" else TINY.n_realisations
        assert row["best window holds the mass"].endswith(f"/{n}")


def test_background_only_samples_are_shared_by_the_masses(tiny_run):
    rows = tiny_run[1]["rows"]
    for test in TINY.tests:
        null_rows = [r for r in rows if r["test"] == test and r["signal_to_background"] == 0]
        by_mass = {m: [r["local_z"] for r in null_rows if r["mass"] == m] for m in (3500, 4300)}
        assert by_mass[3500] == by_mass[4300] and len(by_mass[3500]) >= 1
        signal = [r["local_z"] for r in rows if r["test"] == test and r["signal_to_background"]]
        assert len(set(signal)) == len(signal)  # the signal samples differ


def test_rows_hold_consistent_global_pvalues(tiny_run):
    result = tiny_run[1]
    for row in result["rows"]:
        null = np.asarray(result["calibration"][row["test"]]["null_local_z"])
        assert row["beyond_toys"] == (row["local_z"] > null.max())
        # Global never more significant than local; the trials factor at least 1.
        assert row["global_z"] <= row["local_z"] + 1e-9
        assert row["trials_factor"] >= 1 - 1e-9
    # With S/B 0.1 in its window, SA-CWoLa finds the 3.5 TeV resonance beyond its
    # two toys: the table then gives the floor's bound.
    hit = [
        r
        for r in result["rows"]
        if r["test"] == "sacwola" and r["mass"] == 3500 and r["signal_to_background"]
    ]
    assert hit[0]["beyond_toys"] and hit[0]["local_z"] > 3
    cell = next(
        r
        for r in result["table"]
        if r["test"] == "sacwola" and r["mass [GeV]"] == "3500" and r["S/B"] == "0.1"
    )
    assert "[1 beyond the toys: >= " in cell["global Z (toys)"]
    assert np.isfinite(hit[0]["global_z_gross_vitells"])
    assert hit[0]["global_z_gross_vitells"] < hit[0]["local_z"]


def test_a_resumed_study_gives_the_same_table(tiny_run, tmp_path, caplog):
    import logging
    import warnings

    folder, first = tiny_run
    with warnings.catch_warnings(), caplog.at_level(logging.INFO, logger="nhtad"):
        warnings.simplefilter("ignore")
        again = scan_study.run_scan_study(
            TINY, verbose=0, out=tmp_path / "out", checkpoint=folder / "ckpt"
        )
    assert again["table"] == first["table"]
    assert "resumed" in caplog.text
    with pytest.raises(ValueError, match="belongs to another run"):
        scan_study.run_scan_study(replace(TINY, n_toys=7), verbose=0, checkpoint=folder / "ckpt")


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown scan test 'nplm'"):
        scan_study.run_scan_study(replace(TINY, tests=("nplm",)), verbose=0)
    with pytest.raises(ValueError, match="need a simulated background too"):
        scan_study.run_scan_study(TINY, verbose=0, data=lambda *a, **k: None)
    with pytest.raises(ValueError, match="output must be"):
        scan_study.ScanToys(1000, (3000, 4000), output="features")


def test_cli_scans_an_lhco_file(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tables")
    data = tmp_path / "data.h5"
    assert (
        main(
            [
                "generate",
                "--n-background",
                "200000",
                "--signal-to-background",
                "0.05",
                "--random-state",
                "1",
                str(data),
            ]
        )
        == 0
    )
    monkeypatch.setattr(scan_study, "QUICK", replace(scan_study.QUICK, n_toys=5, n_realisations=1))
    out = tmp_path / "out"
    argv = ["scan", "--quick", "--quiet", "--tests", "bump", "--data", str(data), "--out", str(out)]
    assert main(argv) == 0
    md = (out / "scan_table.md").read_text()
    # A quarter of the file's background per sample, its own signal at the default 3.5 TeV.
    assert "drawn from EventPool(" in md and str(data) in md
    assert "| bump | 3500 | 0.01 |" in md
    # sacwola with a data file needs the simulation.
    assert main([*argv[:4], "sacwola", *argv[5:], "--force"]) == 1
    assert "--simulation FILE" in capsys.readouterr().err
