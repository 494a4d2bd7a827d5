"""Where events come from.

- :func:`make_lhco_like`: seeded LHC-Olympics-like dijet generator, the default data;
- :func:`load_lhco`: the official LHC Olympics 2020 high-level feature files;
- :func:`write_lhco`: an event table written in that format (generated events as files);
- :class:`SignalRegion`: signal region / sideband labels, window masks, region-aware binning;
- :func:`inject_signal`: signal injection at a chosen S/B in the window, truth kept aside;
- :class:`EventPool`: samples of a fixed set of events (an LHCO file) drawn as the generator
  draws them, so studies and toys run on real files unchanged;
- :func:`sacwola_features`, :func:`nplm_features`: the feature sets of the two seed analyses.
"""

from .event_pool import EventPool
from .events import EVENT_COLUMNS, EVENT_DTYPE, make_event_table
from .features import NPLM_FEATURES, SACWOLA_FEATURES, nplm_features, sacwola_features
from .inject import inject_signal
from .lhco import load_lhco
from .lhco_like import make_lhco_like
from .lhco_writer import write_lhco
from .regions import SignalRegion

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_DTYPE",
    "make_event_table",
    "make_lhco_like",
    "load_lhco",
    "write_lhco",
    "SignalRegion",
    "inject_signal",
    "EventPool",
    "sacwola_features",
    "nplm_features",
    "SACWOLA_FEATURES",
    "NPLM_FEATURES",
]
