"""An append-only file of finished work units that survives a kill at any moment.

A toy calibration or a study runs for hours; its finished units (toys, realisations) are
appended to a checkpoint as they finish, so that a crash, a ``kill -9`` or a Ctrl-C loses at
most the units in flight. The file is JSON lines:

- line 1, written atomically when the file is created: ``{"nhtad_checkpoint": 1,
  "identity": {...}}``, the identity of the run (hashes of everything that made it);
- then one line per appended batch: ``{"records": [[index, value], ...], "crc32": c}``,
  flushed and fsync'ed before the call returns.

Floats are written by ``repr``, which round-trips a double exactly, so a resumed run is bit
for bit the uninterrupted one. A kill during an append leaves at most one incomplete last
line: it fails its length, JSON or CRC check, is reported and cut off when the file is next
opened, and its units are run again. A damaged line anywhere else means the file was changed
by something else, and is refused.

One process appends to a checkpoint at a time: split runs on several machines each keep their
own checkpoint (or their own saved part) and are joined with ``ToyCalibrator.merge``.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from pathlib import Path

from .atomic import atomic_output

__all__ = ["Checkpoint", "identity_differences"]

logger = logging.getLogger(__name__)

_FORMAT = 1


def identity_differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """Names of the entries in which two identity dicts differ (nested dicts by ``a.b`` path).

    In an estimator's parameter fingerprints (the dicts with a ``"<type>"`` entry, from
    :func:`~nhtad.utils.fingerprint.param_fingerprints`) the parameters named in
    :data:`~nhtad.utils.fingerprint.RESULT_NEUTRAL_PARAMS` are not compared: a checkpoint
    written when one of them still counted (``device`` before it was declared neutral) resumes
    like one written without it. Elsewhere every key counts (a study's root ``random_state``).
    """
    from .fingerprint import RESULT_NEUTRAL_PARAMS

    keys = set(saved) | set(current)
    if "<type>" in saved or "<type>" in current:
        # Nested parameters too ("estimator__device"), as param_fingerprints leaves them out.
        keys = {k for k in keys if k.rsplit("__", 1)[-1] not in RESULT_NEUTRAL_PARAMS}
    out = []
    for key in sorted(keys):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += identity_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}")
    return out


def _encode(records) -> str:
    body = json.dumps(records, separators=(",", ":"), allow_nan=True)
    crc = zlib.crc32(body.encode())
    return f'{{"records":{body},"crc32":{crc}}}\n'


class Checkpoint:
    """Finished units of one run, in an append-only file at ``path``.

    Parameters
    ----------
    path : str or Path
        The checkpoint file; its folder must exist. Created on first use.
    identity : dict
        JSON-serialisable identity of the run. Opening an existing file with another identity
        raises ``ValueError`` naming the entries that differ.
    what : str
        What the units are ("toys", "realisations"), for messages.
    """

    def __init__(self, path, identity: dict, *, what="units"):
        self.path = Path(path)
        self.identity = json.loads(json.dumps(identity))  # as it will read back
        self.what = what

    def load(self) -> dict:
        """Create the file, or read it back: ``{index: value}`` of the finished units.

        Raises
        ------
        ValueError
            If the file is not a checkpoint, belongs to another run, or is damaged before its
            last line.
        """
        if not self.path.exists():
            header = json.dumps({"nhtad_checkpoint": _FORMAT, "identity": self.identity})
            with atomic_output(self.path, mode="w") as fh:
                fh.write(header + "\n")
            logger.info("created checkpoint %s", self.path)
            return {}
        with self.path.open("rb") as fh:
            data = fh.read()
        lines = data.split(b"\n")
        try:
            header = json.loads(lines[0])
            saved = header["identity"]
            ok = header.get("nhtad_checkpoint") == _FORMAT and isinstance(saved, dict)
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok or len(lines) < 2:
            raise ValueError(
                f"{self.path} is not an nhtad checkpoint (format {_FORMAT}); give another path, "
                "or remove the file if it is a damaged checkpoint of this run."
            )
        differ = identity_differences(saved, self.identity)
        if differ:
            raise ValueError(
                f"the checkpoint {self.path} belongs to another run: {', '.join(differ)} "
                "differ. Resume it with the settings that made it, or give a new path."
            )
        done: dict = {}
        good_end = len(lines[0]) + 1
        # The text after the last newline is an append cut short (or empty).
        complete, tail = lines[1:-1], lines[-1]
        for number, line in enumerate(complete, start=2):
            records = self._decode(line)
            if records is None:
                if number == len(lines) - 1 and not tail:
                    # The last complete line failing its CRC is also an interrupted append
                    # (the newline can reach the disk before the rest of the line).
                    tail = line
                    break
                raise ValueError(
                    f"line {number} of the checkpoint {self.path} is damaged: the file was "
                    "changed by something other than nhtad. Remove it to start again."
                )
            for index, value in records:
                done[index] = value
            good_end += len(line) + 1
        if tail:
            logger.warning(
                "the last append to %s was cut short (the run was killed while writing); "
                "its %s are run again.",
                self.path,
                self.what,
            )
            os.truncate(self.path, good_end)
        return done

    @staticmethod
    def _decode(line: bytes):
        try:
            entry = json.loads(line)
            body = json.dumps(entry["records"], separators=(",", ":"), allow_nan=True)
            if zlib.crc32(body.encode()) != entry["crc32"]:
                return None
            return [(int(index), value) for index, value in entry["records"]]
        except (ValueError, KeyError, TypeError):
            return None

    def append(self, records) -> None:
        """Append ``[(index, value), ...]`` and make it durable before returning.

        ``value`` is anything JSON holds (floats round-trip exactly; NaN and inf allowed).
        """
        line = _encode([[int(i), v] for i, v in records])
        with self.path.open("a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
