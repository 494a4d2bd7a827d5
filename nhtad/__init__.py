"""nhtad: null-hypothesis tests for anomaly detection.

Learn an anomaly score without signal labels and get a calibrated p-value for
"the data is background only". Subpackages:

- :mod:`nhtad.datasets`: the LHCO-like generator, the LHC Olympics reader, signal regions;
- :mod:`nhtad.stats`: tests of the null (mutual information, distance correlation,
  Hoeffding's D, cut-and-count, bump hunt, hyper-test) sharing one
  :class:`~nhtad.stats.TestResult`;
- :mod:`nhtad.scoring`: anomaly scores (SA-CWoLa, the HGB ensemble, NPLM);
- :mod:`nhtad.calibration`: toys, toy-calibrated p-values, power;
- :mod:`nhtad.plotting`: the figures of the two methods' papers (matplotlib);
- :mod:`nhtad.studies`: the two seed studies end to end.

Subpackages are imported on first use so that ``import nhtad`` stays cheap.
"""

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "datasets",
    "stats",
    "scoring",
    "calibration",
    "plotting",
    "studies",
    "utils",
)

#: Top-level estimators and the module that defines each (imported on first use).
_ESTIMATORS = {"SACWoLaTest": "sacwola_test", "NPLMTest": "scoring.nplm_test"}

__all__ = ["__version__", *_SUBPACKAGES, *_ESTIMATORS]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _ESTIMATORS:
        return getattr(importlib.import_module(f"{__name__}.{_ESTIMATORS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
