import subprocess
import sys

import pytest

from nhtad.cli import main
from nhtad.demo import format_demo_table, run_demo


def test_demo_prints_p_values_and_z_at_zero_and_injected_signal(capsys):
    assert main(["demo", "--n-background", "300000", "--rel-uncertainty", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "| score | S/B |" in out
    for sb in ("| 0 |", "| 0.005 |", "| 0.01 |"):
        assert sb in out
    assert "p-value" in out and "Z" in out


def test_run_demo_shows_the_fake_signal_of_a_correlated_score():
    rows = run_demo(1_000_000, (0.0,), random_state=0)
    by_score = {r.score.split()[0]: r for r in rows}
    assert by_score["two-prong"].significance < 3
    assert by_score["heavier-jet"].significance > 3
    assert "heavier-jet mass" in format_demo_table(rows)


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
    assert main(["demo", "--n-background", "1000", "--rel-uncertainty", "2"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "rel_uncertainty" in err and "Traceback" not in err


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
    assert "TestResult(test='MutualInformationIndependenceTest'" in printed
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
