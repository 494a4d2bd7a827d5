import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from nhtad.cli import main
from nhtad.demo import demo_summary, format_demo_table, run_demo


def test_demo_prints_both_nulls_at_zero_and_injected_signal(capsys):
    argv = ["demo", "--n-background", "60000", "--cv", "2", "--max-epochs", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| S/B |" in out and "Z, plain MI" in out and "Z, default null" in out
    for sb in ("| 0 |", "| 0.01 |"):
        assert sb in out
    assert "Next:" in out


class _MassScore(ClassifierMixin, BaseEstimator):
    """A 'trained' score that is the lighter jet's mass: as m_jj-dependent as scores get."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def fit(self, X, y, is_simulation=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        s = 1 / (1 + np.exp(-0.03 * (np.asarray(X)[:, 1] - 60.0)))
        return np.column_stack([1 - s, s])


def test_run_demo_reads_a_fake_from_the_plain_null_and_not_from_the_default():
    rows = run_demo(800_000, (0.0,), cv=2, classifier=_MassScore())
    (row,) = rows
    assert row.z_plain_mi > 5  # the plain chi^2 law: a fake discovery ...
    assert row.z_default < 3  # ... that the default null does not make
    summary = demo_summary(rows)
    assert "FAKE" in summary and "compatible with background" in summary
    assert "| 0 |" in format_demo_table(rows)


def test_help_and_no_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--help"])
    assert exc.value.code == 0
    assert main([]) == 2


def test_bad_input_is_one_line_and_nonzero(capsys):
    assert main(["demo", "--n-background", "100000", "--cv", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "cv" in err and "Traceback" not in err


def test_console_script_is_installed():
    result = subprocess.run(
        [sys.executable, "-m", "nhtad.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "nhtad" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["generate", "--help"],
        ["test", "--help"],
        ["test", "mi", "--help"],
        ["study", "--help"],
        ["study", "sacwola", "--help"],
        ["study", "nplm", "--help"],
    ],
)
def test_every_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    assert "usage: nhtad" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".npz", ".csv"])
def test_generate_then_test_mi_on_the_file(tmp_path, suffix, capsys):
    import numpy as np

    events = tmp_path / f"events{suffix}"
    assert main(["generate", str(events), "--n-background", "200000", "--random-state", "3"]) == 0
    assert events.is_file() and "wrote" in capsys.readouterr().out
    if suffix == ".npz":
        with np.load(events) as z:
            mjj, mj1 = z["events"]["mjj"], z["events"]["mj1"]
    else:
        table = np.genfromtxt(events, delimiter=",", names=True)
        mjj, mj1 = table["mjj"], table["mj1"]
    assert mjj.size == 200_000
    window = (mjj > 3100) & (mjj < 3900)
    scores = tmp_path / "scores.csv"
    np.savetxt(
        scores,
        np.column_stack([mj1[window], mjj[window]]),
        delimiter=",",
        header="mass,mjj",
        comments="",
    )
    out = tmp_path / "out"
    args = ["test", "mi", str(scores), "--score-column", "mass", "--rel-uncertainty", "0.03"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MutualInformationIndependenceTest" in printed  # str(result), the readable summary
    assert (out / "mi_test.json").is_file() and (out / "mi_test.png").is_file()


def test_bad_input_through_the_cli_is_one_clear_line(tmp_path, capsys):
    import numpy as np

    # A missing file.
    assert main(["test", "mi", str(tmp_path / "missing.csv")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err and "Traceback" not in err
    # Wrong columns.
    bad = tmp_path / "bad.csv"
    np.savetxt(bad, np.ones((5, 2)), delimiter=",", header="a,b", comments="")
    assert main(["test", "mi", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no column(s) ['s', 'mjj']" in err and "'a'" in err
    # An unknown format.
    assert main(["generate", str(tmp_path / "events.parquet"), "--n-background", "1000"]) == 1
    assert "unknown format" in capsys.readouterr().err
    # An unknown option or subcommand: argparse, one line, exit code 2.
    for argv in (["demo", "--frobnicate"], ["study", "sacwolla"], ["test", "kolmogorov"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error:" in err and "--help" in err


def test_console_script_reports_errors_without_a_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "nhtad.cli", "test", "mi", str(tmp_path / "nope.npz")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_studies_read_lhco_files_written_by_generate(tmp_path, capsys, monkeypatch):
    pytest.importorskip("tables")
    pytest.importorskip("torch")
    from dataclasses import replace

    from nhtad.studies import nplm_table, sacwola_table

    data, sim = tmp_path / "data.h5", tmp_path / "sim.h5"
    gen = ["generate", "--n-background", "80000", "--random-state"]
    assert main([*gen, "1", str(data), "--signal-to-background", "0.05"]) == 0
    assert main([*gen, "2", str(sim), "--simulation"]) == 0
    assert "LHCO 2020 feature columns" in capsys.readouterr().out
    # Small quick modes, so the test checks the wiring and not the physics.
    monkeypatch.setattr(
        sacwola_table,
        "QUICK",
        replace(
            sacwola_table.QUICK,
            signal_to_background=(0.0, 0.01),
            n_folds=2,
            max_epochs=1,
            mi_null_toys=0,
        ),
    )
    monkeypatch.setattr(
        nplm_table,
        "QUICK",
        replace(nplm_table.QUICK, n_null=3, n_signal=2, injections=(0.05,), n_centers=50),
    )
    out = tmp_path / "sacwola"
    argv = ["study", "sacwola", "--quick", "--quiet", "--realisations", "1"]
    argv += ["--data", str(data), "--simulation", str(sim), "--out", str(out)]
    assert main(argv) == 0
    assert "MI lam=1" in capsys.readouterr().out
    assert str(data) in (out / "sacwola_table.md").read_text()
    out = tmp_path / "nplm"
    argv = ["study", "nplm", "--quick", "--quiet", "--data", str(data), "--n-background", "20000"]
    assert main([*argv, "--out", str(out)]) == 0
    assert "data = 20000 background events" in (out / "nplm_table.md").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["study", "sacwola", "--data", "{missing}", "--simulation", "{missing}"], "not found"),
        (["study", "sacwola", "--data", "{data}"], "give the simulated background too"),
        (["study", "sacwola", "--simulation", "{data}"], "--simulation needs --data"),
        (["study", "nplm", "--masterkey", "{data}"], "--masterkey needs --data"),
        (["study", "nplm", "--data", "{unlabelled}"], "has no truth labels"),
        (["study", "nplm", "--data", "{data}", "--n-background", "10000000"], "Ask for fewer"),
        (["study", "nplm", "--data", "{csv}"], "not an HDF5 file"),
    ],
)
def test_bad_study_files_are_one_clear_line(tmp_path, capsys, argv, message):
    pytest.importorskip("tables")
    from nhtad.datasets import make_lhco_like, write_lhco

    sample = make_lhco_like(5_000, 0.1, random_state=0)
    files = {
        "missing": tmp_path / "missing.h5",
        "data": write_lhco(tmp_path / "data.h5", sample),
        "unlabelled": write_lhco(tmp_path / "unlabelled.h5", sample.events),
        "csv": tmp_path / "events.csv",
    }
    files["csv"].write_text("mjj\n1\n")
    argv = [a.format(**files) for a in argv]
    assert main([*argv, "--quick", "--quiet", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def _fake_study(monkeypatch, effect):
    from nhtad.studies import nplm_table

    calls = []

    def run(cfg, **kwargs):
        calls.append(kwargs)
        effect()
        return {"table": [], "seconds": 0.0}

    monkeypatch.setattr(nplm_table, "run_nplm_study", run)
    return calls


def test_study_checkpoint_and_resume_flags(tmp_path, capsys, monkeypatch):
    calls = _fake_study(monkeypatch, lambda: None)
    folder = tmp_path / "ckpt"
    base = ["study", "nplm", "--quick", "--quiet", "--out", str(tmp_path / "out")]
    assert main([*base, "--checkpoint", str(folder)]) == 0
    assert calls[-1]["checkpoint"] == folder and calls[-1]["overwrite"] is False
    folder.mkdir()
    (folder / "null.ckpt").write_text("{}\n")
    # A folder with an earlier run's checkpoints needs --resume; --resume needs one.
    assert main([*base, "--checkpoint", str(folder)]) == 1
    assert "pass --resume to continue it" in capsys.readouterr().err
    assert main([*base, "--checkpoint", str(folder), "--resume", "--force"]) == 0
    assert calls[-1]["overwrite"] is True
    assert main([*base, "--checkpoint", str(tmp_path / "nothing"), "--resume"]) == 1
    assert "holds no checkpoint to continue" in capsys.readouterr().err
    assert main([*base, "--resume"]) == 1
    assert "--resume needs --checkpoint DIR" in capsys.readouterr().err
    # No --checkpoint: the study keeps its finished work in OUT/checkpoint as it goes.
    assert main(base) == 0
    assert calls[-1]["checkpoint"] == tmp_path / "out" / "checkpoint"


@pytest.mark.parametrize(
    "signal_exc, code, what",
    [(KeyboardInterrupt, 130, "Ctrl-C"), (lambda: SystemExit(143), 143, "SIGTERM")],
)
def test_an_interrupted_command_prints_one_line_and_exits_130_or_143(
    tmp_path, capsys, monkeypatch, signal_exc, code, what
):
    def interrupt():
        raise signal_exc()

    _fake_study(monkeypatch, interrupt)
    folder = tmp_path / "ckpt"
    assert main(["study", "nplm", "--quick", "--checkpoint", str(folder)]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"interrupted ({what})" in err and "--resume" in err
    # Without --checkpoint the finished work is kept under --out, and the same command
    # continues from it.
    out = tmp_path / "out"
    assert main(["study", "nplm", "--quick", "--out", str(out)]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"are in {out / 'checkpoint'}" in err
    assert "run the same command again" in err


def test_sigterm_to_a_running_study_exits_143_with_no_workers_left(tmp_path):
    psutil = pytest.importorskip("psutil")
    import os
    import signal
    import time

    folder = tmp_path / "ckpt"
    argv = ["study", "nplm", "--quick", "--quiet", "--n-jobs", "2", "--n-background", "20000"]
    argv += ["--checkpoint", str(folder), "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "nhtad.cli", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    children = []
    while time.monotonic() < deadline and proc.poll() is None:
        children = psutil.Process(proc.pid).children(recursive=True)
        if (folder / "null.ckpt").exists() and len(children) >= 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None and children, "the study should be running toys in workers"
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert err.strip().count("\n") == 0 and "interrupted (SIGTERM)" in err, err
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"workers left behind: {alive}"
