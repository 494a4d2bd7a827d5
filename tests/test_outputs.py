"""Outputs are written atomically and never replaced unasked (issue 15): ``write_lhco``, the
files of ``nhtad generate`` and ``nhtad test mi``; and damaged input tables of the CLI are one
clear line."""

import json
import subprocess
import sys

import numpy as np
import pytest

from nhtad.cli import main

SIGNAL_KINDS = ("resonant", "nonresonant")  # the ``signal`` values make_lhco_like offers


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# --------------------------------------------------------------------------- write_lhco


@pytest.fixture
def lhco():
    pytest.importorskip("tables")
    pd = pytest.importorskip("pandas")
    from nhtad.datasets import load_lhco, make_lhco_like, write_lhco

    sample = make_lhco_like(3_000, 0.05, random_state=0)
    return pd, sample, write_lhco, load_lhco


def test_write_lhco_refuses_an_existing_file_unless_asked(lhco, tmp_path):
    pd, sample, write_lhco, load_lhco = lhco
    path = write_lhco(tmp_path / "events.h5", sample)
    old = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"events.h5 exists; pass overwrite=True"):
        write_lhco(path, sample.events[:10], sample.truth[:10])
    assert path.read_bytes() == old
    write_lhco(path, sample.events[:10], sample.truth[:10], overwrite=True)
    assert load_lhco(path).n_events == 10
    assert _files(tmp_path) == ["events.h5"]


def test_write_lhco_overwrite_keeps_the_other_keys(lhco, tmp_path):
    pd, sample, write_lhco, load_lhco = lhco
    path = write_lhco(tmp_path / "events.h5", sample)
    notes = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    notes.to_hdf(path, key="notes", format="table")
    write_lhco(path, sample.events[:10], sample.truth[:10], overwrite=True)  # replaces df
    write_lhco(path, sample.events[:20], key="simulation", overwrite=True)  # adds a key
    with pd.HDFStore(path, mode="r") as store:
        assert sorted(store.keys()) == ["/df", "/notes", "/simulation"]
    pd.testing.assert_frame_equal(pd.read_hdf(path, "notes"), notes)
    assert load_lhco(path, key="df").n_events == 10
    assert load_lhco(path, key="simulation").truth is None
    assert _files(tmp_path) == ["events.h5"]


@pytest.mark.parametrize("exists", [True, False])
@pytest.mark.parametrize("when", ["before", "after"])
def test_interrupted_write_lhco_leaves_the_old_file_and_no_temporary(
    lhco, tmp_path, monkeypatch, exists, when
):
    pd, sample, write_lhco, load_lhco = lhco
    path = tmp_path / "events.h5"
    if exists:
        write_lhco(path, sample)
        pd.DataFrame({"x": [1.0]}).to_hdf(path, key="notes")
        old = path.read_bytes()
    real_put = pd.HDFStore.put

    def interrupted_put(self, *args, **kwargs):
        if when == "after":  # the new frame is in the temporary file, the rename not done
            real_put(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.HDFStore, "put", interrupted_put)
    with pytest.raises(KeyboardInterrupt):
        write_lhco(path, sample.events[:10], sample.truth[:10], overwrite=True)
    monkeypatch.undo()
    if exists:
        assert path.read_bytes() == old
        assert load_lhco(path, key="df").n_events == sample.events.size
        assert _files(tmp_path) == ["events.h5"]
    else:
        assert _files(tmp_path) == []


def test_write_lhco_into_a_file_that_is_not_hdf5_leaves_it_alone(lhco, tmp_path):
    pd, sample, write_lhco, load_lhco = lhco
    path = tmp_path / "notes.h5"
    path.write_text("my notes, not an HDF5 file\n")
    with pytest.raises(ValueError, match=r"notes.h5 exists but is not a readable HDF5 file.*left"):
        write_lhco(path, sample, overwrite=True)
    assert path.read_text() == "my notes, not an HDF5 file\n"
    assert _files(tmp_path) == ["notes.h5"]


@pytest.mark.parametrize(
    "labels, shown",
    [([0, 1, 2], ": [2.0, "), ([0, np.nan, 1], ": [nan, "), ([0, -1, 1], ": [-1.0, ")],
)
def test_write_lhco_refuses_labels_load_lhco_rejects(lhco, tmp_path, labels, shown):
    # Issue 15: a label 2 was written, and load_lhco then refused the file.
    pd, sample, write_lhco, load_lhco = lhco
    truth = np.resize(np.asarray(labels, dtype=float), sample.events.size)
    with pytest.raises(ValueError, match=r"not 0 or 1 .*Map the labels to 0/1 first") as exc:
        write_lhco(tmp_path / "events.h5", sample.events, truth)
    assert shown in str(exc.value)
    assert _files(tmp_path) == []  # refused before anything is written
    # The documented remedy gives a file that loads.
    mapped = np.nan_to_num(truth) != 0
    path = write_lhco(tmp_path / "events.h5", sample.events, mapped)
    np.testing.assert_array_equal(load_lhco(path).truth, mapped)


def test_generate_offers_the_generators_signal_kinds(capsys):
    from nhtad.datasets import make_lhco_like

    with pytest.raises(ValueError, match="signal must be 'resonant' or 'nonresonant';"):
        make_lhco_like(10, signal="other")  # the generator's kinds are SIGNAL_KINDS ...
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    assert "--signal {" + ",".join(SIGNAL_KINDS) + "}" in capsys.readouterr().out  # ... all offered


@pytest.mark.parametrize("kind", SIGNAL_KINDS)
@pytest.mark.parametrize("simulation", [False, True])
def test_generated_lhco_file_always_loads(lhco, tmp_path, capsys, kind, simulation):
    pd, _, _, load_lhco = lhco
    from nhtad.datasets import make_lhco_like

    path = tmp_path / "events.h5"
    argv = ["generate", str(path), "--n-background", "20000", "--signal-to-background", "0.1"]
    argv += ["--signal", kind, "--random-state", "4"] + (["--simulation"] if simulation else [])
    assert main(argv) == 0
    data = load_lhco(path)  # no warning: every generated event is valid (warnings are errors)
    sample = make_lhco_like(
        20_000, 0.1, signal=kind, simulation=simulation, random_state=4
    )  # what generate wrote
    assert data.n_events == sample.events.size and data.dropped_index.size == 0
    np.testing.assert_array_equal(data.truth, sample.truth)
    assert data.truth.sum() == sample.n_signal > 0
    for name in sample.events.dtype.names:
        np.testing.assert_allclose(data.events[name], sample.events[name], rtol=1e-12)


# --------------------------------------------------------------------------- nhtad generate


@pytest.mark.parametrize("suffix", [".npz", ".csv", ".h5"])
def test_generate_refuses_an_existing_output_unless_forced(tmp_path, capsys, suffix):
    if suffix == ".h5":
        pytest.importorskip("tables")
    out = tmp_path / f"events{suffix}"
    base = ["generate", str(out), "--random-state", "1"]
    assert main([*base, "--n-background", "2000"]) == 0
    capsys.readouterr()
    old = out.read_bytes()
    assert main([*base, "--n-background", "1000"]) == 1
    _one_line_error(capsys, f"{out} already exists; pass --force to replace it")
    assert out.read_bytes() == old
    assert main([*base, "--n-background", "1000", "--force"]) == 0
    assert "wrote 1000 events" in capsys.readouterr().out
    assert out.read_bytes() != old and _files(tmp_path) == [out.name]


def test_generate_refuses_before_generating(tmp_path, capsys, monkeypatch):
    import nhtad.datasets

    out = tmp_path / "events.npz"
    out.write_bytes(b"precious")

    def no_generation(*args, **kwargs):
        raise AssertionError("generated although the output is refused")

    monkeypatch.setattr(nhtad.datasets, "make_lhco_like", no_generation)
    assert main(["generate", str(out), "--n-background", "1000"]) == 1
    _one_line_error(capsys, "--force")
    assert main(["generate", str(tmp_path / "events.txt"), "--n-background", "1000"]) == 1
    _one_line_error(capsys, "unknown format '.txt'")
    assert out.read_bytes() == b"precious"


def test_generate_force_on_an_lhco_file_keeps_its_other_keys(tmp_path, capsys):
    pytest.importorskip("tables")
    pd = pytest.importorskip("pandas")
    out = tmp_path / "events.h5"
    assert main(["generate", str(out), "--n-background", "2000"]) == 0
    pd.DataFrame({"x": [1.0]}).to_hdf(out, key="notes")
    assert main(["generate", str(out), "--n-background", "1000", "--force"]) == 0
    with pd.HDFStore(out, mode="r") as store:
        assert sorted(store.keys()) == ["/df", "/notes"]
        assert len(store["df"]) == 1000


def test_console_script_refuses_an_existing_output_in_one_line(tmp_path):
    out = tmp_path / "events.csv"
    out.write_text("precious\n")
    result = subprocess.run(
        [sys.executable, "-m", "nhtad.cli", "generate", str(out), "--n-background", "100"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and "--force" in result.stderr
    assert out.read_text() == "precious\n"


# --------------------------------------------------------------------------- nhtad test mi


@pytest.fixture
def scores(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "scores.npz"
    np.savez(path, s=rng.random(20_000), mjj=rng.uniform(3100, 3900, 20_000))
    return path


def test_test_mi_refuses_existing_outputs_unless_forced(tmp_path, capsys, scores, monkeypatch):
    out = tmp_path / "mi"
    argv = ["test", "mi", str(scores), "--rel-uncertainty", "0.05", "--out", str(out)]
    assert main(argv) == 0
    capsys.readouterr()
    old = {name: (out / name).read_bytes() for name in ("mi_test.json", "mi_test.png")}

    import nhtad.stats

    class NoTest:
        def __init__(self, **kwargs):
            raise AssertionError("tested although the outputs are refused")

    with monkeypatch.context() as patch:
        patch.setattr(nhtad.stats, "MutualInformationIndependenceTest", NoTest)
        assert main(argv) == 1
    _one_line_error(capsys, "mi_test.json", "mi_test.png", "already exist; pass --force")
    (out / "mi_test.json").unlink()  # one output left is still refused
    assert main(argv) == 1
    _one_line_error(capsys, "mi_test.png already exists; pass --force to replace it")
    assert main([*argv, "--force"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert _files(out) == ["mi_test.json", "mi_test.png"]
    assert (out / "mi_test.png").read_bytes()[:8] == old["mi_test.png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "mi_test.json").read_text())["n_events"] == 20_000


def test_a_command_that_writes_nothing_takes_no_force(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--force"])
    assert exc.value.code == 2
    capsys.readouterr()


# --------------------------------------------------------------------------- damaged tables


def _npz_bytes(tmp_path):
    path = tmp_path / "good.npz"
    np.savez(path, s=np.zeros(10), mjj=np.ones(10))
    data = path.read_bytes()
    path.unlink()
    return data


def _write_npy_as_npz(path):
    with open(path, "wb") as fh:
        np.save(fh, np.zeros(3))


@pytest.mark.parametrize(
    "name, make, message",
    [
        ("empty.npz", lambda p, t: p.write_bytes(b""), "is empty (0 bytes)"),
        ("empty.csv", lambda p, t: p.write_bytes(b""), "is empty (0 bytes)"),
        (
            "truncated.npz",
            lambda p, t: p.write_bytes(_npz_bytes(t)[: len(_npz_bytes(t)) // 2]),
            "could not be read as a .npz table (BadZipFile",
        ),
        (
            "random.npz",
            lambda p, t: p.write_bytes(np.random.default_rng(0).bytes(500)),
            "could not be read as a .npz table",
        ),
        (
            "objects.npz",
            lambda p, t: np.savez(p, s=np.array([{}], dtype=object), mjj=np.ones(1)),
            "could not be read as a .npz table",
        ),
        ("array.npz", lambda p, t: _write_npy_as_npz(p), "holds a single .npy array"),
        (
            "text.npz",
            lambda p, t: np.savez(p, s=np.array(["a", "b"]), mjj=np.ones(2)),
            "column 's' of",
        ),
        (
            "random.csv",
            lambda p, t: p.write_bytes(b"\xff\xfe\x81" * 50),
            "could not be read as a .csv table (UnicodeDecodeError",
        ),
        (
            "ragged.csv",
            lambda p, t: p.write_text("s,mjj\n1,2\n3\n4,5,6\n"),
            "Line #3 (got 1 columns instead of 2)",
        ),
        ("blank.csv", lambda p, t: p.write_text("\n \n"), "could not be read as a .csv table"),
    ],
)
def test_damaged_tables_are_one_clear_line(tmp_path, capsys, name, make, message):
    path = tmp_path / name
    make(path, tmp_path)
    assert main(["test", "mi", str(path)]) == 1
    err = _one_line_error(capsys, str(path), message)
    assert "Write it with" in err and "allow_pickle" not in err
