"""What identifies a toy run: the test's parameters, the generator, the statistic, the root seed.

Two partial runs may be merged, a saved run loaded, or a checkpoint resumed only when they were
made by the same run: :class:`~nhtad.calibration.ToyCalibrator` compares these content hashes
(:mod:`nhtad.utils.fingerprint`) before it mixes any toys. A part that cannot be hashed is
marked "unidentified"; such a run still runs, but is never mixed with another.
"""

from __future__ import annotations

import numpy as np

from ..utils.checkpoint import identity_differences
from ..utils.fingerprint import FingerprintError, fingerprint, param_fingerprints

__all__ = ["run_identity", "root_seed", "require_identified", "refuse_different"]

_UNIDENTIFIED = "unidentified"


def _type_name(obj) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _generator_identity(generator, generator_id):
    """What identifies a generator: the user's ``generator_id``, else its type and content."""
    if generator_id is not None:
        if not isinstance(generator_id, str) or not generator_id:
            raise ValueError(
                f"generator_id must be a non-empty string naming the generator; got "
                f"{generator_id!r}."
            )
        return {"id": generator_id}
    try:
        content = fingerprint(generator, where="the generator")
    except FingerprintError as err:
        content = f"{_UNIDENTIFIED}: {err}"
    return {"type": _type_name(generator), "content": content}


def _test_identity(test):
    try:
        return param_fingerprints(test)
    except FingerprintError as err:
        return {"<type>": _type_name(test), "<content>": f"{_UNIDENTIFIED}: {err}"}


def run_identity(test, generator, generator_id, statistic, root: np.random.SeedSequence) -> dict:
    """Hashes of the test's parameters and the generator, the statistic and the root seed."""
    if not isinstance(statistic, str):
        raise ValueError(f"statistic must be an attribute name; got {statistic!r}.")
    return {
        "test": _test_identity(test),
        "generator": _generator_identity(generator, generator_id),
        "statistic": statistic,
        "seed": {"entropy": str(root.entropy), "spawn_key": [int(k) for k in root.spawn_key]},
    }


def root_seed(identity: dict) -> np.random.SeedSequence:
    """The root seed recorded in ``identity`` (inverse of its ``"seed"`` entry)."""
    seed = identity["seed"]
    return np.random.SeedSequence(int(seed["entropy"]), spawn_key=tuple(seed["spawn_key"]))


def _unidentified(identity: dict) -> str | None:
    for value in identity.values():
        if isinstance(value, dict):
            found = _unidentified(value)
            if found:
                return found
        elif isinstance(value, str) and value.startswith(_UNIDENTIFIED):
            return value
    return None


def require_identified(identity: dict, action: str):
    """Refuse ``action`` (merge, save, checkpoint) for a run whose identity is not known."""
    reason = _unidentified(identity)
    if reason:
        raise ValueError(
            f"cannot {action}: the run's identity is unknown ({reason}). Pass "
            "generator_id='a name you change whenever the generator changes', or give the "
            "generator and test parameters that can be hashed (arrays, numbers, estimators)."
        )


def refuse_different(mine: dict, theirs: dict, what: str):
    """Refuse to mix toys of two runs whose identities differ, naming what differs."""
    differ = identity_differences(theirs, mine)
    if differ:
        names = ", ".join(d.replace("test.<type>", "test type") for d in differ[:8])
        more = f" and {len(differ) - 8} more" if len(differ) > 8 else ""
        raise ValueError(
            f"{what}: they differ in {names}{more}. Toys of different tests, generators, "
            "statistics or root seeds must not be mixed; use the settings that made them."
        )
