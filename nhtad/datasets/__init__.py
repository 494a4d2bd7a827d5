"""Where events come from.

- :func:`make_lhco_like`: seeded LHC-Olympics-like dijet generator, the default data;
- :func:`load_lhco`: the official LHC Olympics 2020 high-level feature files;
- :class:`SignalRegion`: signal region / sideband labels, window masks, region-aware binning;
- :func:`inject_signal`: signal injection at a chosen S/B in the window, truth kept aside;
- :func:`sacwola_features`, :func:`nplm_features`: the feature sets of the two seed analyses.
"""

from .events import EVENT_COLUMNS, EVENT_DTYPE, make_event_table
from .features import NPLM_FEATURES, SACWOLA_FEATURES, nplm_features, sacwola_features
from .inject import inject_signal
from .lhco import load_lhco
from .lhco_like import make_lhco_like
from .regions import SignalRegion

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_DTYPE",
    "make_event_table",
    "make_lhco_like",
    "load_lhco",
    "SignalRegion",
    "inject_signal",
    "sacwola_features",
    "nplm_features",
    "SACWOLA_FEATURES",
    "NPLM_FEATURES",
]
