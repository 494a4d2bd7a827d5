"""Reading the command line's input files and guarding its outputs.

``nhtad test`` reads per-event columns from a ``.csv`` (header row) or ``.npz`` (one array per
column, or a structured ``events`` array as ``nhtad generate`` writes it). A file numpy cannot
read is reported in one line that names the file and how to write it, never as a traceback
from numpy or zipfile. Outputs that exist already are refused before any work is done unless
``--force`` is given.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["read_table", "refuse_existing", "file_sha256"]


_TABLE_HOW = {
    ".npz": "numpy.savez(path, s=..., mjj=...) (one numeric array per column) or nhtad generate",
    ".csv": "a header row of column names, then one comma-separated row of numbers per event",
}


def _load_npz(path):
    """The arrays of a .npz file by name; None when it holds a bare .npy array instead."""
    import numpy as np

    # Opened here, not by np.load, so the file is closed even when numpy fails half-way.
    with open(path, "rb") as fh:
        z = np.load(fh, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            return None
        with z:
            if "events" in z.files and z["events"].dtype.names:
                events = z["events"]
                return {name: events[name] for name in events.dtype.names}
            return {name: z[name] for name in z.files}


def _load_csv(path):
    import numpy as np

    with open(path, encoding="utf-8") as fh:
        data = np.genfromtxt(fh, delimiter=",", names=True, dtype=float)
    return {name: np.atleast_1d(data[name]) for name in (data.dtype.names or ())}


def read_table(path, columns, options=None):
    """Columns of a .csv (header row) or .npz (one array per column, or a structured array).

    A file numpy cannot read (empty, truncated, not an archive, text that is not a table) is a
    ValueError naming the file and how to write it, never a traceback from numpy or zipfile.
    A missing column is a ValueError that lists the columns the file has and names
    ``options``, the command-line options that choose the columns (default: the score and
    m_jj columns of ``nhtad test mi``).
    """
    import warnings

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix not in _TABLE_HOW:
        raise ValueError(f"{path}: unknown format {path.suffix!r}; use a .csv or .npz file.")
    how = _TABLE_HOW[path.suffix]
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): an interrupted write? Write it with {how}.")
    try:
        with warnings.catch_warnings():
            # genfromtxt warns about a file it cannot parse and returns nothing useful.
            warnings.simplefilter("error", UserWarning)
            table = _load_npz(path) if path.suffix == ".npz" else _load_csv(path)
    except (MemoryError, PermissionError):
        raise
    except Exception as exc:  # numpy, zipfile and codecs raise many types for a bad file
        text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        # numpy's advice to unpickle does not apply: nhtad never unpickles a file.
        text = text.split(" If you trust the file")[0].replace(" when allow_pickle=False", "")
        text = text[:240]
        detail = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        raise ValueError(
            f"{path} could not be read as a {path.suffix} table ({detail}); it may be damaged, "
            f"incomplete or of another format. Write it with {how}."
        ) from None
    if table is None:
        raise ValueError(
            f"{path} holds a single .npy array, not a .npz archive of named columns. Write "
            f"it with {how}."
        )
    missing = [c for c in dict.fromkeys(columns) if c not in table]
    if missing:
        options = options or ("--score-column", "--mass-column")
        raise ValueError(
            f"{path} has no column(s) {missing}; it has {sorted(table)}. Name them with "
            f"{' / '.join(dict.fromkeys(options))}."
        )
    values = []
    for c in columns:
        try:
            values.append(np.asarray(table[c], dtype=float))
        except (TypeError, ValueError):
            raise ValueError(
                f"column {c!r} of {path} is not numeric ({np.asarray(table[c]).dtype}). Write "
                f"it with {how}."
            ) from None
    return values


def refuse_existing(paths, force) -> None:
    """Refuse before any work is done if an output exists and --force was not given."""
    existing = [str(p) for p in paths if Path(p).exists()]
    if existing and not force:
        if len(existing) == 1:
            what, it, kept = f"{existing[0]} already exists", "it", "the old file stays"
        else:
            what, it, kept = f"{', '.join(existing)} already exist", "them", "old files stay"
        raise FileExistsError(
            f"{what}; pass --force to replace {it} ({kept} until the new output is complete) "
            "or choose another output name."
        )


def file_sha256(path) -> str:
    """SHA-256 of a file's bytes, read in chunks: which input a saved result came from."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
