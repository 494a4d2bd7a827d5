"""Imports of optional dependencies with an error that names the extra to install."""

from __future__ import annotations

import importlib

__all__ = ["import_optional"]


def import_optional(module: str, extra: str, purpose: str):
    """Import ``module`` or raise an ImportError naming the nhtad extra that provides it.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"pandas"``.
    extra : str
        The nhtad extra that installs it, e.g. ``"lhco"``.
    purpose : str
        What the module is needed for, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{purpose} needs the optional dependency '{module}', which is not installed. "
            f'Install it with: pip install "nhtad[{extra}]"'
        ) from exc
