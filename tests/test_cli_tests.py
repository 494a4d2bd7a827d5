"""`nhtad test TEST FILE`: every test of the library from the command line, run in-process.

The command must be a thin layer: the JSON it writes must hold the numbers the library gives on
the same events, with every setting that made them, and every wrong option must be one line on
stderr with exit status 2 (1 when the inputs or the test fail).
"""

import hashlib
import json

import numpy as np
import pytest

from nhtad.cli import main
from nhtad.datasets import SignalRegion, make_lhco_like

WINDOW = (3100.0, 3900.0)


def _write_csv(path, **columns):
    names = list(columns)
    table = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
    np.savetxt(path, table, delimiter=",", header=",".join(names), comments="", fmt="%.10g")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Small LHCO-like data and simulation with a score independent of m_jj, and NPLM inputs."""
    folder = tmp_path_factory.mktemp("cli_tests")
    rng = np.random.default_rng(0)
    data = make_lhco_like(60_000, random_state=1).events
    sim = make_lhco_like(60_000, simulation=True, random_state=2).events
    s_data, s_sim = rng.random(data.size), rng.random(sim.size)
    paths = {
        "data": _write_csv(folder / "data.csv", s=s_data, mjj=data["mjj"], mj1=data["mj1"]),
        "sim": folder / "sim.npz",
        "both": folder / "both.npz",
    }
    np.savez(paths["sim"], s=s_sim, mjj=sim["mjj"])
    np.savez(
        paths["both"],
        s=np.r_[s_data, s_sim],
        mjj=np.r_[data["mjj"], sim["mjj"]],
        is_sim=np.r_[np.zeros(data.size), np.ones(sim.size)],
    )
    # NPLM: 200 data and 400 reference rows of two features, and a background pool of 2000.
    x = rng.normal(size=(2600, 2))
    paths["nplm"] = _write_csv(
        folder / "nplm.csv",
        x1=x[:, 0],
        x2=x[:, 1],
        is_data=np.r_[np.ones(200), np.zeros(2400)],
        is_sim=np.r_[np.zeros(600), np.ones(2000)],
    )
    paths["null"] = _write_csv(
        folder / "null.csv", t=rng.chisquare(8, 40) * 5, t2=rng.chisquare(8, 40) * 5
    )
    arrays = {"s": s_data, "mjj": data["mjj"], "s_sim": s_sim, "mjj_sim": sim["mjj"]}
    return {k: str(v) for k, v in paths.items()}, arrays


def _run_json(argv, capsys):
    """Run a command with ``--json -``: its exit status 0, its record parsed from stdout."""
    assert main([*argv, "--json", "-"]) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def _in_window(arrays, suffix=""):
    m = arrays["mjj" + suffix]
    keep = (m >= WINDOW[0]) & (m < WINDOW[1])
    return arrays["s" + suffix][keep], m[keep]


def test_mi_record_holds_the_library_result_and_every_setting(files, capsys):
    from nhtad.stats import MutualInformationIndependenceTest

    paths, arrays = files
    argv = ["test", "mi", paths["data"], "--rel-uncertainty", "0.03"]
    argv += ["--window", "3100", "3900", "--signal-region", "3300", "3700"]
    record, err = _run_json(argv, capsys)
    expected = MutualInformationIndependenceTest(
        rel_uncertainty=0.03, y_bins=SignalRegion(3300, 3700, WINDOW)
    ).test(*_in_window(arrays))
    assert record["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert record["log_pvalue"] == pytest.approx(expected.log_pvalue, rel=1e-12)
    assert record["bins"]["y_edges"] == pytest.approx(list(expected.details["y_edges"]))
    # The signal region's boundaries are bin edges, as its binning promises.
    assert {3300.0, 3700.0} <= set(record["bins"]["y_edges"])
    assert record["params"]["y_bins"] == {"low": 3300.0, "high": 3700.0, "window": list(WINDOW)}
    assert record["window"] == list(WINDOW) and record["signal_region"] == [3300.0, 3700.0]
    events = record["events"]
    assert events["data_read"] == arrays["s"].size
    assert events["data_tested"] + events["data_outside_window"] == events["data_read"]
    assert events["data_tested"] == record["n_events"] == expected.n_events
    with open(paths["data"], "rb") as fh:
        assert record["inputs"]["file"]["sha256"] == hashlib.sha256(fh.read()).hexdigest()
    assert record["command"].startswith("nhtad test mi ") and "--json -" in record["command"]
    assert record["null"]["requested"] == "asymptotic" and record["random_state"] == 0
    assert set(record["versions"]) >= {"nhtad", "numpy", "scipy", "scikit-learn", "torch"}
    # With the record on stdout, the readable summary goes to stderr.
    assert "MutualInformationIndependenceTest" in err


def test_mi_simulation_null_reads_the_simulation_from_a_flag_column(files, capsys):
    paths, arrays = files
    argv = ["test", "mi", paths["both"], "--simulation-column", "is_sim", "--method"]
    argv += ["simulation", "--rel-uncertainty", "0.03", "--window", "3100", "3900"]
    record, _ = _run_json([*argv, "--n-resamples", "19", "--random-state", "5"], capsys)
    n_sim = _in_window(arrays, "_sim")[0].size
    assert record["details"]["n_simulation"] == record["events"]["simulation_tested"] == n_sim
    assert record["null"]["n_null"] == 19 and record["params"]["random_state"] == 5
    assert record["columns"]["simulation_flag"] == "is_sim"


def test_smooth_and_association_with_a_simulation_file(files, capsys):
    paths, arrays = files
    common = ["--simulation", paths["sim"], "--rel-uncertainty", "0.03"]
    argv = ["test", "smooth", paths["data"], *common, "--signal-region", "3300", "3700"]
    record, _ = _run_json([*argv, "--alternative", "signal_region", "--max-degree", "2"], capsys)
    assert record["params"]["alternative"] == "signal_region"
    assert record["details"]["degree"] <= 2 and "sha256" in record["inputs"]["simulation"]
    argv = ["test", "association", paths["data"], *common, "--window", "3100", "3900"]
    record, _ = _run_json([*argv, "--y-bins", "6"], capsys)
    assert record["bins"]["n_bins"][1] == 6 and record["params"]["y_bins"] == 6
    assert record["details"]["n_simulation"] == _in_window(arrays, "_sim")[0].size


def test_cut_in_both_modes_counts_what_the_options_select(files, capsys):
    paths, arrays = files
    record, _ = _run_json(["test", "cut", paths["data"], "--efficiency", "0.05"], capsys)
    mjj = _in_window(arrays)[1]
    assert record["details"]["N1"] == SignalRegion().in_signal_region(mjj).sum()
    assert record["params"] == {"efficiency": 0.05, "efficiency_uncertainty": True}
    argv = ["test", "cut", paths["both"], "--mode", "template", "--label-column", "is_sim"]
    record, _ = _run_json([*argv, "--quantile", "0.8", "--no-reference-error"], capsys)
    # is_sim = 1 marks the "data" here: the simulation's rows, tested against the data's.
    assert record["details"]["N_D"] == arrays["s_sim"].size
    assert record["details"]["k_R"] == pytest.approx(0.2 * arrays["s"].size, abs=2)
    assert record["params"]["reference_error"] is False


def test_bump_hunt_bins_follow_the_options(files, capsys):
    paths, _ = files
    argv = ["test", "bump", paths["data"], "--bin-width", "100", "--window", "3000", "4000"]
    record, _ = _run_json(argv, capsys)
    edges = np.array(record["bins"]["mjj_edges"])
    assert edges[0] == 3000 and edges[-1] == 4000 and np.allclose(np.diff(edges), 100)
    assert record["details"]["signal_region"] == [3300.0, 3700.0]
    assert record["columns"] == {"mass": "mjj"}  # no cut: the score is not read


def test_nplm_with_toys_from_the_pool_and_with_a_null_file(files, capsys):
    pytest.importorskip("torch")
    paths, _ = files
    argv = ["test", "nplm", paths["nplm"], "--feature-columns", "x1", "x2", "--n-centers", "20"]
    record, _ = _run_json([*argv, "--simulation-column", "is_sim", "--n-toys", "3"], capsys)
    assert record["null"]["source"] == "toys" and record["null"]["n_toys"] == 3
    assert record["null"]["pool_events"] == 2000 and record["method"] == "toys"
    assert record["events"] == {
        "data_tested": 200,
        "reference_tested": 400,
        "simulation_pool": 2000,
    }
    assert record["params"]["estimator"]["params"]["n_centers"] == 20
    argv += ["--sigma", "1", "2", "--null-file", paths["null"], "--null-columns", "t", "t2"]
    record, _ = _run_json([*argv, "--random-state", "4"], capsys)
    assert len(record["params"]["null"]) == 40 and len(record["params"]["null"][0]) == 2
    assert "null_file" in record["inputs"]


def test_verbose_is_accepted_before_and_after_the_subcommand(files, capsys):
    paths, _ = files
    # A table too sparse for the chi-square law: the library refuses it (exit 1).
    bad = ["mi", paths["data"], "--rel-uncertainty", "0.3", "--window", "3100", "3900"]
    assert main(["test", *bad]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "too sparse" in err
    for argv in (["-vv", "test", *bad], ["test", "-v", *bad, "-v"], ["test", *bad, "-vv"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback" in err and err.strip().splitlines()[-1].startswith("nhtad test mi: ")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["mi", "{data}", "--rel-uncertainty", "1.5"], "open interval (0, 1)"),
        (["mi", "{data}", "--n-resamples", "0"], "must be an integer >= 1"),
        (["mi", "{data}", "--n-jobs", "0"], "-1: all cores"),
        (["mi", "{data}", "--window", "3900", "3100"], "needs LO < HI"),
        (["mi", "{data}", "--signal-region", "3000", "3700"], "must lie inside the window"),
        (["mi", "{data}", "--y-bins", "5", "--signal-region", "3300", "3700"], "give one"),
        (["mi", "{data}", "--y-bins", "3500", "3200", "3900"], "increasing"),
        (["mi", "{data}", "--method", "simulation"], "give --simulation FILE"),
        (["mi", "{data}", "--simulation", "{sim}"], "only with --method simulation"),
        (["mi", "{data}", "--simulation", "{sim}", "--simulation-column", "s"], "not allowed"),
        (["mi", "{data}", "--json"], "expected one argument"),
        (["association", "{data}"], "give --simulation FILE"),
        (["smooth", "{data}", "--alternative", "signal_region"], "needs --signal-region"),
        (["smooth", "{data}"], "chooses the degree from signal-free tables"),
        (["smooth", "{data}", "--degree", "1", "--s-quantiles", "0.5", "0.2"], "increasing"),
        (["smooth", "{data}", "--degree", "-1"], "integer >= 0"),
        (["cut", "{data}", "--quantile", "0.9"], "use them with --mode template"),
        (["cut", "{data}", "--mode", "template", "--window", "3000", "4000"], "takes no m_jj"),
        (["bump", "{data}", "--bin-width", "30"], "whole numbers of bins"),
        (["bump", "{data}", "--efficiency", "1.2"], "open interval (0, 1)"),
        (["nplm", "{nplm}", "--feature-columns", "x1", "--null-columns", "t"], "--null-file"),
        (["nplm", "{nplm}", "--feature-columns", "x1", "--n-toys", "3"], "background pool"),
        (["nplm", "{nplm}", "--feature-columns", "x1", "--simulation-column", "c"], "--n-toys N"),
        (
            [
                "nplm",
                "{nplm}",
                "--feature-columns",
                "x1",
                "--sigma",
                "1",
                "2",
                "--combine",
                "fisher",
            ],
            "need a null",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_2(files, capsys, argv, message):
    paths, _ = files
    argv = ["test", *(a.format(**paths) for a in argv)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith(f"nhtad test {argv[1]}: error: ") and "--help" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["mi", "{data}", "--score-column", "nope"], "it has ['mj1', 'mjj', 's']"),
        (["cut", "{data}", "--mode", "template"], "--label-column"),
        (["mi", "{both}", "--method", "simulation", "--simulation-column", "s"], "must be 0"),
        (["mi", "{data}", "--window", "9000", "9500"], "none of the"),
    ],
)
def test_inputs_that_do_not_fit_the_options_are_one_line_and_exit_1(files, capsys, argv, message):
    paths, _ = files
    assert main(["test", *(a.format(**paths) for a in argv)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_mi_keeps_its_former_flags_and_out_folder(files, tmp_path, capsys):
    paths, arrays = files
    out = tmp_path / "out"
    argv = ["test", "mi", paths["data"], "--score-column", "mj1", "--mass-column", "mjj"]
    argv += ["--rel-uncertainty", "0.01", "--method", "permutation", "--n-resamples", "9"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "MutualInformationIndependenceTest" in capsys.readouterr().out
    record = json.loads((out / "mi_test.json").read_text())
    for key in ("file", "statistic", "pvalue", "log_pvalue", "significance", "method", "n_events"):
        assert key in record
    assert record["n_events"] == arrays["s"].size and record["columns"]["score"] == "mj1"
    assert (out / "mi_test.png").is_file()
    # An existing output is refused before the test runs, and replaced with --force.
    assert main([*argv, "--out", str(out)]) == 1
    assert "already exist" in capsys.readouterr().err
    assert main([*argv, "--out", str(out), "--force"]) == 0
