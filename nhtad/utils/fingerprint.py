"""Content hashes that identify what made a saved result, never by ``repr``.

A calibration may only be merged with, resumed from or compared to toys made by the same test
on the same generator. ``repr`` cannot tell: scikit-learn elides long parameters (two
hyper-tests whose 15 thresholds differ in one print alike) and a ``repr`` of an array shows a
few numbers. :func:`fingerprint` hashes the *content* instead: array bytes with dtype and
shape, floats bit for bit (``float.hex``), estimators through their ``get_params``, generator
objects through their attributes, functions through their code, defaults and closure.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import numbers
import types
from collections.abc import Mapping
from pathlib import PurePath

import numpy as np

__all__ = ["fingerprint", "param_fingerprints", "FingerprintError", "RESULT_NEUTRAL_PARAMS"]

#: Parameters that never change a toy's statistic: ``random_state`` is reset per toy from the
#: toy's seed (:func:`nhtad.calibration.run_one_toy`), ``n_jobs`` and ``verbose`` only change
#: how the work runs, and ``device`` where the arithmetic runs: it changes rounding, as the
#: number of threads does (NPLM's t on CUDA and on the CPU agree to about 1e-7, far inside a
#: toy's spread), not the statistic's law. Leaving them out lets a run be resumed with another
#: ``n_jobs``, or a calibration begun on a GPU be finished on a CPU.
RESULT_NEUTRAL_PARAMS = frozenset({"random_state", "n_jobs", "verbose", "device"})

_MAX_DEPTH = 64


class FingerprintError(TypeError):
    """An object whose content cannot be hashed (the message names it)."""


def _is_estimator(obj) -> bool:
    return hasattr(obj, "get_params") and not isinstance(obj, type)


def _name(obj) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


class _Hasher:
    def __init__(self):
        self.h = hashlib.sha256()
        self.seen: set[int] = set()

    def tag(self, text: str):
        data = text.encode()
        self.h.update(len(data).to_bytes(8, "little"))
        self.h.update(data)

    def raw(self, data: bytes):
        self.h.update(len(data).to_bytes(8, "little"))
        self.h.update(data)

    def add(self, obj, depth=0, where="object"):
        if depth > _MAX_DEPTH:
            raise FingerprintError(f"{where} nests more than {_MAX_DEPTH} levels deep.")
        if obj is None or isinstance(obj, bool | str | bytes):
            self.tag(f"{type(obj).__name__}:{obj!r}")
        elif isinstance(obj, numbers.Integral):
            self.tag(f"int:{int(obj)}")
        elif isinstance(obj, numbers.Real):
            # float.hex is exact: 0.745 and 0.7450000000000001 differ, -0.0 and 0.0 differ.
            self.tag(f"float:{float(obj).hex()}")
        elif isinstance(obj, numbers.Complex):
            self.tag(f"complex:{complex(obj).real.hex()},{complex(obj).imag.hex()}")
        elif isinstance(obj, np.ndarray):
            self._array(obj, depth, where)
        elif isinstance(obj, type):
            self.tag(f"type:{_name(obj)}")
        elif isinstance(obj, enum.Enum):
            self.tag(f"enum:{_name(type(obj))}.{obj.name}")
        elif isinstance(obj, PurePath):
            self.tag(f"path:{obj}")
        elif isinstance(obj, np.random.SeedSequence):
            self.tag(f"seed:{obj.entropy}:{tuple(obj.spawn_key)}:{obj.pool_size}")
        elif isinstance(obj, np.random.Generator | np.random.RandomState):
            state = obj.bit_generator.state if hasattr(obj, "bit_generator") else obj.get_state()
            self.tag(f"rng:{type(obj).__name__}")
            self.add(state, depth + 1, where)
        else:
            self._container(obj, depth, where)

    def _array(self, obj, depth, where):
        if obj.dtype.hasobject:
            self.tag(f"objarray:{obj.shape}")
            for item in obj.ravel():
                self.add(item, depth + 1, where)
            return
        self.tag(f"array:{obj.dtype.str}:{obj.shape}")
        self.raw(np.ascontiguousarray(obj).tobytes())

    def _container(self, obj, depth, where):
        key = id(obj)
        if key in self.seen:
            self.tag("cycle")
            return
        self.seen.add(key)
        try:
            self._dispatch(obj, depth + 1, where)
        finally:
            self.seen.discard(key)

    def _dispatch(self, obj, depth, where):
        module = type(obj).__module__
        if isinstance(obj, list | tuple):
            self.tag(f"{type(obj).__name__}:{len(obj)}")
            for item in obj:
                self.add(item, depth, where)
        elif isinstance(obj, Mapping):
            self.tag(f"mapping:{len(obj)}")
            items = sorted((fingerprint(k), k, v) for k, v in obj.items())
            for fp, _, value in items:
                self.tag(fp)
                self.add(value, depth, where)
        elif isinstance(obj, set | frozenset):
            self.tag(f"set:{len(obj)}")
            for fp in sorted(fingerprint(v) for v in obj):
                self.tag(fp)
        elif module.startswith("torch") and hasattr(obj, "detach"):
            self._array(obj.detach().cpu().numpy(), depth, where)
        elif module.startswith("pandas") and hasattr(obj, "to_numpy"):
            import pandas as pd

            self.tag(f"pandas:{type(obj).__name__}")
            self.add(list(getattr(obj, "columns", [getattr(obj, "name", None)])), depth, where)
            self._array(pd.util.hash_pandas_object(obj, index=True).to_numpy(), depth, where)
        elif _is_estimator(obj):
            self.tag(f"estimator:{_name(type(obj))}")
            params = obj.get_params(deep=False)
            self.add(
                {k: v for k, v in params.items() if k not in RESULT_NEUTRAL_PARAMS}, depth, where
            )
        elif isinstance(obj, functools.partial):
            self.tag("partial")
            self.add((obj.func, obj.args, obj.keywords), depth, where)
        elif isinstance(obj, types.MethodType):
            self.tag("method")
            self.add((obj.__self__, obj.__func__), depth, where)
        elif isinstance(obj, types.FunctionType):
            self._function(obj, depth, where)
        elif isinstance(obj, types.CodeType):
            self.tag(f"code:{obj.co_name}")
            self.raw(obj.co_code)
            self.add(obj.co_consts, depth, where)
            self.add(obj.co_names, depth, where)
        elif isinstance(obj, types.BuiltinFunctionType | types.ModuleType):
            self.tag(f"builtin:{_name(obj) if not isinstance(obj, types.ModuleType) else obj}")
        elif dataclasses.is_dataclass(obj):
            self.tag(f"dataclass:{_name(type(obj))}")
            fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
            self.add(fields, depth, where)
        elif hasattr(obj, "__dict__") or hasattr(type(obj), "__slots__"):
            state = dict(getattr(obj, "__dict__", {}))
            for slot in getattr(type(obj), "__slots__", ()):
                if hasattr(obj, slot):
                    state[slot] = getattr(obj, slot)
            self.tag(f"object:{_name(type(obj))}")
            self.add(state, depth, where)
        else:
            raise FingerprintError(
                f"cannot hash the content of {where}'s {type(obj).__name__} object {obj!r:.80}."
            )

    def _function(self, fn, depth, where):
        # Name, code, defaults and closure: two lambdas of one scope share a name, and a
        # closure's captured values are as much its parameters as a class's attributes.
        self.tag(f"function:{_name(fn)}")
        self.add(fn.__code__, depth, where)
        self.add(fn.__defaults__, depth, where)
        self.add(fn.__kwdefaults__, depth, where)
        cells = []
        for cell in fn.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # an empty cell
                cells.append("<empty cell>")
        self.add(cells, depth, where)


def fingerprint(obj, *, where="object") -> str:
    """SHA-256 hex digest of the content of ``obj``.

    Parameters
    ----------
    obj : object
        Numbers, strings, arrays (dtype, shape and bytes), containers, estimators (type and
        ``get_params(deep=False)``, recursively, without :data:`RESULT_NEUTRAL_PARAMS`),
        functions (name, code, defaults, closure), and objects through their attributes.
    where : str
        What ``obj`` is, for the error message.

    Raises
    ------
    FingerprintError
        If some part of ``obj`` has no content that can be hashed.
    """
    hasher = _Hasher()
    hasher.add(obj, where=where)
    return hasher.h.hexdigest()


def param_fingerprints(estimator) -> dict[str, str]:
    """One content hash per parameter of ``get_params(deep=True)``, nested ones included.

    A nested estimator's own entry holds only its type (its parameters have their own keys),
    so a mismatch can be reported by the name of the one parameter that differs, e.g.
    ``hyper__thresholds``. :data:`RESULT_NEUTRAL_PARAMS` are left out at every level.
    """
    params = estimator.get_params(deep=True)
    out = {"<type>": _name(type(estimator))}
    for key in sorted(params):
        if key.rsplit("__", 1)[-1] in RESULT_NEUTRAL_PARAMS:
            continue
        value = params[key]
        if _is_estimator(value):
            out[key] = f"estimator:{_name(type(value))}"
        else:
            out[key] = fingerprint(value, where=f"parameter {key!r}")
    return out
