"""The seed studies end to end at toy sizes: tables, JSON and figures are written and sane."""

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

from nhtad.datasets import SignalRegion

pytest.importorskip("torch")
pytest.importorskip("matplotlib")


def _pngs_open(paths):
    from matplotlib.image import imread

    for path in paths:
        image = imread(path)
        assert image.ndim == 3 and image.shape[2] in (3, 4) and image.shape[0] > 100


def test_sacwola_table_study(tmp_path):
    from nhtad.studies.sacwola_table import QUICK, run_sacwola_study

    cfg = replace(
        QUICK,
        n_background=120_000,
        n_simulation=120_000,
        signal_to_background=(0.0, 0.01),
        n_realisations=2,
        n_folds=2,
        max_epochs=2,
        mi_null_toys=10,
    )
    result = run_sacwola_study(cfg, random_state=1, out=tmp_path, verbose=0, command="test")
    assert list(result["table"][0]) == [
        "Z",
        "S/B = 0",
        "S/B = 0.01",
        "false positives at S/B = 0 (Z > 1.64)",
    ]
    # Every method's false-positive cell counts the background-only realisations.
    assert all(
        line["false positives at S/B = 0 (Z > 1.64)"].endswith("]")
        for line in result["table"][1:]
        if line["false positives at S/B = 0 (Z > 1.64)"] != "-"
    )
    assert len(result["rows"]) == 4
    methods = [line["Z"] for line in result["table"]]
    for name in (
        "MI lam=0, asymptotic",
        "MI lam=1, asymptotic",
        "SACWoLaTest null lam=1",
        "cuts eps2=0.001 lam=1",
        "BH no cut",
        "BH eps2=0.1, lam=1, fit after cut",
        "BH eps2=0.01, lam=0, seed recipe",
    ):
        assert name in methods
    signal = [r for r in result["rows"] if r["signal_to_background"] == 0.01]
    assert all(r["n_signal"] > 0 and r["z0"] > 0 for r in signal)
    md = (tmp_path / "sacwola_table.md").read_text()
    assert "Made by `test`" in md and "| Z | S/B = 0 |" in md
    saved = json.loads((tmp_path / "sacwola_table.json").read_text())
    assert saved["command"] == "test" and len(saved["rows"]) == 4
    _pngs_open(sorted(tmp_path.glob("sacwola_table_fig*.png")))
    assert len(list(tmp_path.glob("*.png"))) == 3
    # The mismodelling scan: one paired realisation per strength, the same data each time.
    scan = saved["scan"]
    assert [r["mismodelling"] for r in scan] == [0.0, 4.0]
    assert len({r["n_data"] for r in scan}) == 1
    assert all(np.isfinite(r["z_honest"]) and 0 < r["p_honest"] <= 1 for r in scan)
    assert "## Simulation mismodelling scan (S/B = 0, lam = 1)" in md
    # The speed check: both recipes trained on the same fold and scored on held-out data.
    recipes = saved["speed"]["recipes"]
    assert set(recipes) == {"seed recipe", "nhtad default"}
    assert recipes["seed recipe"]["params"]["batch_size"] == 200
    assert all(r["seconds_one_fold"] > 0 and 0.5 < r["auc_signal"] <= 1 for r in recipes.values())
    assert "## Training speed and quality" in md


def test_nplm_table_study(tmp_path):
    from nhtad.studies.nplm_table import GRIDS, QUICK, SINGLE, run_nplm_study, summarise

    cfg = replace(QUICK, n_null=8, n_signal=3, injections=(0.05,), n_centers=100)
    result = run_nplm_study(cfg, random_state=2, out=tmp_path, verbose=0, command="test")
    null, signal = result["null"], result["signal"]["0.05"]
    assert null.shape == (8, 7 + len(cfg.sigmas) + 7) and signal.shape[0] == 3
    # A strong injection: every strategy's signal toys beat the null toys.
    detail = result["detail"]["0.05"]
    assert len(detail["HGB 5D + t_cc"]) == len(SINGLE)
    assert len(detail["NPLM 5D + hyper-t_cc"]) == len(GRIDS)
    # With 8 null toys no Z exceeds Phi^-1(1 - 1/9) = 1.22; a strong signal reaches it.
    z_max = float(np.max([c["significance"] for v in detail.values() for c in v]))
    assert z_max == pytest.approx(norm.isf(1 / 9))
    assert any(c["at_floor"] for v in detail.values() for c in v)
    assert all(c["low"] <= c["significance"] <= c["high"] for v in detail.values() for c in v)
    assert "chi-square extrapolation" in (tmp_path / "nplm_table.md").read_text()
    assert [row["width"] for row in result["chi2_extrapolation"]] == [f"{s:g}" for s in cfg.sigmas]
    assert (tmp_path / "nplm_table.csv").is_file()
    _pngs_open([tmp_path / "nplm_table_power.png"])
    # The summary is a pure function of the toy statistics.
    again, _ = summarise(null, {0.05: signal}, cfg)
    assert again == result["table"]


@pytest.fixture(scope="module")
def lhco_files(tmp_path_factory):
    """Generated data (with labelled signal) and simulation, written as LHCO feature files."""
    pytest.importorskip("tables")
    from nhtad.datasets import make_lhco_like, write_lhco

    folder = tmp_path_factory.mktemp("lhco")
    data, simulation = folder / "data.features.h5", folder / "simulation.features.h5"
    write_lhco(data, make_lhco_like(150_000, 0.05, random_state=10))
    write_lhco(simulation, make_lhco_like(100_000, simulation=True, random_state=11))
    return data, simulation


def test_sacwola_table_study_on_lhco_files(lhco_files, tmp_path):
    from nhtad.datasets import EventPool
    from nhtad.studies.sacwola_table import QUICK, run_sacwola_study

    data = EventPool.from_lhco(lhco_files[0])
    simulation = EventPool.from_lhco(lhco_files[1])
    cfg = replace(
        QUICK,
        n_background=None,
        n_simulation=None,
        signal_to_background=(0.0, 0.01),
        n_realisations=2,
        n_folds=2,
        max_epochs=2,
        mi_null_toys=0,
    )
    result = run_sacwola_study(
        cfg, random_state=1, out=tmp_path, verbose=0, data=data, simulation=simulation
    )
    rows = result["rows"]
    window = SignalRegion().in_window(data.background["mjj"]).sum()
    # The whole file's background, in every realisation; the injection differs between them.
    assert all(r["n_data"] - r["n_signal"] == window for r in rows)
    signal = [r for r in rows if r["signal_to_background"] == 0.01]
    assert [r["n_signal"] for r in signal] == [round(0.01 * window)] * 2
    assert np.isfinite([r["mi_lam1"] for r in rows]).all()
    md = (tmp_path / "sacwola_table.md").read_text()
    assert str(lhco_files[0]) in md and str(lhco_files[1]) in md
    assert len(list(tmp_path.glob("*.png"))) == 2  # Fig. 3 off (mi_null_toys=0)


def test_nplm_table_study_on_an_lhco_file(lhco_files, tmp_path):
    from nhtad.datasets import EventPool
    from nhtad.studies.nplm_table import QUICK, run_nplm_study

    data = EventPool.from_lhco(lhco_files[0])
    cfg = replace(QUICK, n_background=None, n_null=4, n_signal=2, injections=(0.05,), n_centers=100)
    result = run_nplm_study(cfg, random_state=3, out=tmp_path, verbose=0, data=data)
    assert result["null"].shape[0] == 4 and result["signal"]["0.05"].shape[0] == 2
    assert np.isfinite(result["null"]).all()
    md = (tmp_path / "nplm_table.md").read_text()
    # A quarter of the data part (a third of the file's background) per toy.
    assert f"data = {round(data.n_background / 3) // 4} background events" in md
    assert "disjoint data and reference parts" in md


def test_sacwola_study_resumes_from_its_checkpoint_to_the_same_table(tmp_path, monkeypatch):
    from nhtad.studies import sacwola_checks, sacwola_table
    from nhtad.studies.sacwola_table import QUICK, run_sacwola_study

    cfg = replace(
        QUICK,
        n_background=60_000,
        n_simulation=60_000,
        signal_to_background=(0.01,),
        n_realisations=3,
        n_folds=2,
        max_epochs=1,
        mi_null_toys=0,
        mismodelling_scan=(0.0, 4.0),
        speed_signal_to_background=None,
    )
    folder = tmp_path / "ckpt"
    real = sacwola_table._one_realisation
    real_scan = sacwola_checks.scan_one
    calls = []

    def interrupted_at_the_third(*args):
        calls.append(args[2])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    def scan_interrupted_at_the_second(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_scan(*args, **kwargs)

    # First stopped inside the table, then inside the scan, then run to the end.
    monkeypatch.setattr(sacwola_table, "_one_realisation", interrupted_at_the_third)
    with pytest.raises(KeyboardInterrupt):
        run_sacwola_study(cfg, random_state=1, verbose=0, checkpoint=folder)
    monkeypatch.setattr(sacwola_table, "_one_realisation", real)
    calls.clear()
    monkeypatch.setattr(sacwola_checks, "scan_one", scan_interrupted_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        run_sacwola_study(cfg, random_state=1, verbose=0, checkpoint=folder)
    monkeypatch.setattr(sacwola_checks, "scan_one", real_scan)
    out = tmp_path / "out"
    resumed = run_sacwola_study(cfg, random_state=1, verbose=0, checkpoint=folder, out=out)
    fresh = run_sacwola_study(cfg, random_state=1, verbose=0)
    assert resumed["table"] == fresh["table"]
    assert [r["mi_lam1"] for r in resumed["rows"]] == [r["mi_lam1"] for r in fresh["rows"]]
    assert [r["z_honest"] for r in resumed["scan"]] == [r["z_honest"] for r in fresh["scan"]]
    # The example realisation (for the figures) came back from the checkpoint folder.
    assert len(list(out.glob("sacwola_table_fig*.png"))) == 2
    with pytest.raises(FileExistsError, match="already holds the outputs"):
        run_sacwola_study(cfg, random_state=1, verbose=0, out=out)
    with pytest.raises(ValueError, match="belongs to another run: config"):
        run_sacwola_study(replace(cfg, max_epochs=2), random_state=1, checkpoint=folder)
    with pytest.raises(ValueError, match="belongs to another run: random_state"):
        run_sacwola_study(cfg, random_state=2, checkpoint=folder)


def test_nplm_study_checkpoints_every_toy_run(tmp_path):
    from nhtad.studies.nplm_table import QUICK, run_nplm_study

    cfg = replace(QUICK, n_background=30_000, n_null=4, n_signal=2, injections=(0.05,))
    cfg = replace(cfg, n_centers=50)
    folder = tmp_path / "ckpt"
    first = run_nplm_study(cfg, random_state=3, verbose=0, checkpoint=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["null.ckpt", "signal_0.ckpt"]
    again = run_nplm_study(cfg, random_state=3, verbose=0, checkpoint=folder)
    np.testing.assert_array_equal(again["null"], first["null"])
    assert again["table"] == first["table"]
    with pytest.raises(ValueError, match="belongs to another run"):
        run_nplm_study(replace(cfg, n_centers=60), random_state=3, checkpoint=folder)
