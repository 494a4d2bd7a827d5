"""A toy calibration on disk: one ``.npz`` with the toys' statistics and the run's identity.

Written atomically (:func:`nhtad.utils.atomic.atomic_output`: a temporary file renamed into
place), so an interrupted save leaves any earlier file untouched; read back with a check of
everything a later :meth:`~nhtad.calibration.ToyCalibrator.load` relies on, so that a damaged,
truncated or foreign file gives a ValueError that says so rather than a traceback from numpy.
"""

from __future__ import annotations

import json
import numbers
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_output
from ..utils.checkpoint import Checkpoint
from .identity import require_identified

__all__ = ["SavedCalibration", "write_calibration", "read_calibration", "open_checkpoint"]

#: Version 2 identifies the test by content hashes (version 1 by its repr).
_FORMAT_VERSION = 2


@dataclass(frozen=True)
class SavedCalibration:
    """Contents of a saved calibration (``alternative*`` are None without signal toys)."""

    meta: dict
    null: np.ndarray
    toy_indices: np.ndarray
    alternative: np.ndarray | None
    alternative_toy_indices: np.ndarray | None


def write_calibration(cal, path, *, overwrite=False) -> Path:
    """Write the fitted :class:`~nhtad.calibration.ToyCalibrator` ``cal`` to ``path``."""
    path = Path(path)
    meta = {"format": _FORMAT_VERSION, "identity": cal.identity_, "n_toys": int(cal.n_toys)}
    rs = cal.random_state
    if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
        meta["random_state"] = int(rs)
    arrays = {"null_distribution": cal.null_distribution_, "toy_indices": cal.toy_indices_}
    if hasattr(cal, "alternative_distribution_"):
        arrays["alternative_distribution"] = cal.alternative_distribution_
        arrays["alternative_toy_indices"] = cal.alternative_toy_indices_
        meta["alternative_identity"] = cal.alternative_identity_
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_output(path, overwrite=overwrite) as fh:
        np.savez(fh, **arrays)
    return path


def read_calibration(path: Path) -> SavedCalibration:
    """Contents of a saved calibration, or a ValueError saying why it cannot be read."""
    if not path.is_file():
        raise FileNotFoundError(f"no calibration file at {path}.")
    damaged = (
        f"{path} is not a readable ToyCalibrator file (damaged or truncated, e.g. by a copy "
        "cut short, or not a calibration at all); use another copy, or rerun the toys (with "
        "checkpoint= a rerun reuses what a checkpoint holds)."
    )
    try:
        # Our own handle: np.load leaves its file open when the zip is damaged.
        with path.open("rb") as fh:
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("a single .npy array, not an .npz archive")
            meta = json.loads(str(z["meta"]))
            null, idx = z["null_distribution"], z["toy_indices"]
            alt = z["alternative_distribution"] if "alternative_distribution" in z else None
            alt_idx = z["alternative_toy_indices"] if "alternative_toy_indices" in z else None
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError) as err:
        raise ValueError(f"{damaged} ({type(err).__name__}: {err})") from None
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT_VERSION:
        version = meta.get("format") if isinstance(meta, dict) else None
        raise ValueError(
            f"{path} is a ToyCalibrator file of format {version}, not {_FORMAT_VERSION}: "
            "format 1 identified the test by its repr, which cannot tell tests apart "
            "reliably, so its toys cannot be checked against a test; rerun them."
        )
    try:
        identity = meta["identity"]
        ok = (
            isinstance(identity["seed"]["entropy"], str)
            and isinstance(identity["statistic"], str)
            and isinstance(meta["n_toys"], int)
            and null.shape[:1] == idx.shape
            and np.issubdtype(idx.dtype, np.integer)
            and (alt is None or (alt_idx is not None and alt.shape[:1] == alt_idx.shape))
            and (alt is None or "alternative_identity" in meta)
        )
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise ValueError(damaged)
    return SavedCalibration(meta, null, idx, alt, alt_idx)


def open_checkpoint(path, identity, random_state):
    """``(Checkpoint, {toy index: statistic})`` of the run ``identity``; ``(None, {})`` if no path.

    A checkpoint of another run (another test, generator, statistic or root seed) is refused
    by :class:`~nhtad.utils.checkpoint.Checkpoint`.
    """
    if path is None:
        return None, {}
    if random_state is None:
        raise ValueError(
            "a checkpoint needs a reproducible random_state (an int or a SeedSequence): with "
            "None every fit draws new seeds and no finished toy could be reused."
        )
    require_identified(identity, "use a checkpoint")
    ckpt = Checkpoint(path, identity, what="toys")
    done = {int(i): np.asarray(v, dtype=np.float64) for i, v in ckpt.load().items()}
    return ckpt, done
