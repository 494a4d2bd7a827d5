"""Calibration of tests with toys: running toys, power at a significance, median significance.

- :class:`ToyCalibrator`: the null distribution of a whole test or pipeline from toys
  (GridSearch-like; joblib; split runs merge; save/load), empirical p-values, power;
- :func:`run_toys`: the calibrator in one call, returning the toys' statistics and seeds;
- :class:`ReferenceResampler`: NPLM-style null (and signal) toys drawn from a background pool;
- :class:`LHCOToys`: toys from the embedded LHCO-like generator (template, regions or m_jj);
- :class:`SimulationSplitToys`: whole-chain toys of :class:`~nhtad.SACWoLaTest` from its
  simulation (pseudo-data and pseudo-simulation split at random, retrained every toy);
- :func:`power_at_significance`: fraction of alternative toys beyond the null quantile of a
  Gaussian significance Z, with a Clopper-Pearson interval;
- :func:`clopper_pearson`: the exact binomial confidence interval;
- :func:`median_significance`: Z of the median alternative toy, with an order-statistic interval.
"""

from .calibrator import ToyCalibrator, ToyFailedError
from .generators import LHCOToys, ReferenceResampler, SimulationSplitToys
from .power import (
    ClopperPearsonInterval,
    MedianSignificance,
    PowerAtSignificance,
    clopper_pearson,
    median_significance,
    power_at_significance,
)
from .toys import ToyStatistics, run_one_toy, run_toys, toy_seed

__all__ = [
    "ToyCalibrator",
    "ToyFailedError",
    "LHCOToys",
    "SimulationSplitToys",
    "toy_seed",
    "run_toys",
    "run_one_toy",
    "ToyStatistics",
    "ReferenceResampler",
    "power_at_significance",
    "PowerAtSignificance",
    "clopper_pearson",
    "ClopperPearsonInterval",
    "median_significance",
    "MedianSignificance",
]
