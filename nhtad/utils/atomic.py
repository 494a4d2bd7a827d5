"""Writes that never leave a truncated file behind nor destroy an older one.

A calibration or a generated sample costs hours; a write interrupted half-way (SIGTERM, a full
disk, an exception in the writer) must leave either the old file or the new one, never a
fragment. :func:`atomic_output` writes to a temporary file in the target's folder (so the
final rename stays on one file system, where POSIX makes it atomic) and renames it into place
only once the writer has finished and the data are on disk. :func:`atomic_path` does the
same for writers that need a file name instead of a file object (HDF5).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_output", "atomic_path"]


def _checked_target(path, overwrite) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists; pass overwrite=True to replace it (the old file is kept until the "
            "new one is complete)."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of {path} does not exist; create it first.")
    return path


def _temporary_beside(path: Path):
    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")


def _install(tmp, path: Path) -> None:
    os.chmod(tmp, 0o644)  # mkstemp's files are private; outputs are shared like any other
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_output(path, *, overwrite=False, mode="wb"):
    """Context manager yielding a file object whose contents replace ``path`` on success.

    Parameters
    ----------
    path : str or Path
        Final location. Its folder must exist.
    overwrite : bool, default=False
        Replace an existing ``path``. Without it an existing file is refused before anything
        is written.
    mode : {"wb", "w"}, default="wb"
        Binary or text output.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    FileNotFoundError
        If the folder of ``path`` does not exist.

    See Also
    --------
    atomic_path : the same for writers that need a file name (HDF5).
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}.")
    path = _checked_target(path, overwrite)
    fd, tmp = _temporary_beside(path)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        _install(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_path(path, *, overwrite=False):
    """Context manager yielding a temporary file name whose file replaces ``path`` on success.

    The variant of :func:`atomic_output` for writers that open the file themselves by name
    (PyTables/pandas HDF5). The temporary file exists, empty, in the folder of ``path``; the
    writer may replace its contents (e.g. with a copy of ``path``) and must have closed it
    when the ``with`` block ends. It is then flushed to disk and renamed onto ``path``; on any
    exception it is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or Path
        Final location. Its folder must exist.
    overwrite : bool, default=False
        Replace an existing ``path``. Without it an existing file is refused before anything
        is written.

    Yields
    ------
    pathlib.Path
        The temporary file to write.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false.
    FileNotFoundError
        If the folder of ``path`` does not exist.
    """
    path = _checked_target(path, overwrite)
    fd, tmp = _temporary_beside(path)
    os.close(fd)
    try:
        yield Path(tmp)
        # The writer closed its own handle; fsync through a new one flushes the same file.
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        _install(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
