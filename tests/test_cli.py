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
