"""The seed studies end to end at toy sizes: tables, JSON and figures are written and sane."""

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import norm

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
    assert list(result["table"][0]) == ["Z", "S/B = 0", "S/B = 0.01"]
    assert len(result["rows"]) == 4
    methods = [line["Z"] for line in result["table"]]
    for name in (
        "MI lam=0",
        "MI lam=1",
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
    z_max = float(np.max([max(v) for v in detail.values()]))
    assert z_max == pytest.approx(norm.isf(1 / 9))
    assert (tmp_path / "nplm_table.csv").is_file()
    _pngs_open([tmp_path / "nplm_table_power.png"])
    # The summary is a pure function of the toy statistics.
    again, _ = summarise(null, {0.05: signal}, cfg)
    assert again == result["table"]
