"""Atomic outputs: an interrupted write leaves the old file, an existing file is not replaced
unless asked."""

import numpy as np
import pytest

from nhtad.utils.atomic import atomic_output, atomic_path


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_writes_and_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "out.bin"
    with atomic_output(path) as fh:
        fh.write(b"first")
    assert path.read_bytes() == b"first"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with atomic_output(path) as fh:
            fh.write(b"second")
    assert path.read_bytes() == b"first"
    with atomic_output(path, overwrite=True, mode="w") as fh:
        fh.write("second")
    assert path.read_text() == "second"
    assert _leftovers(tmp_path) == []


def test_a_failing_writer_leaves_the_old_file_and_no_fragment(tmp_path):
    path = tmp_path / "calibration.npz"
    path.write_bytes(b"old, complete")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_output(path, overwrite=True) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old, complete"
    assert _leftovers(tmp_path) == []


def test_bad_targets_are_refused_before_writing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        with atomic_output(tmp_path / "missing" / "out.npz") as fh:
            fh.write(b"x")
    with pytest.raises(ValueError, match="mode"):
        with atomic_output(tmp_path / "out.txt", mode="a"):
            pass


def test_numpy_archives_round_trip(tmp_path):
    path = tmp_path / "a.npz"
    with atomic_output(path) as fh:
        np.savez(fh, x=np.arange(3))
    np.testing.assert_array_equal(np.load(path)["x"], np.arange(3))


def test_atomic_path_for_writers_that_need_a_file_name(tmp_path):
    path = tmp_path / "events.h5"
    with atomic_path(path) as tmp:
        assert tmp.parent == tmp_path and tmp.is_file() and tmp != path
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and _leftovers(tmp_path) == []
    with pytest.raises(FileExistsError, match="overwrite=True"):
        with atomic_path(path):
            pass
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path, overwrite=True) as tmp:
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"new" and _leftovers(tmp_path) == []
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_bytes(b"newer")
    assert path.read_bytes() == b"newer"
