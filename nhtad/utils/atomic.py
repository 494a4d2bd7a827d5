"""Writes that never leave a truncated file behind nor destroy an older one.

A calibration or a generated sample costs hours; a write interrupted half-way (SIGTERM, a full
disk, an exception in the writer) must leave either the old file or the new one, never a
fragment. :func:`atomic_output` writes to a temporary file in the target's folder (so the
final rename stays on one file system, where POSIX makes it atomic) and renames it into place
only once the writer has finished and the data are on disk.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_output"]


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
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}.")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"{path} exists; pass overwrite=True to replace it (the old file is kept until the "
            "new one is complete)."
        )
    if not path.parent.is_dir():
        raise FileNotFoundError(f"the folder of {path} does not exist; create it first.")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp's files are private; outputs are shared like any other
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
