"""The two seed studies, end to end, as functions the CLI and the docs call.

- :func:`run_sacwola_study`: Kamenik & Szewc's Table I (MI test, anomaly cuts, bump hunt vs S/B);
- :func:`run_nplm_study`: Grosso et al.'s Table 1 (NPLM and HGB, t_NP, t_cc and hyper-t_cc).

Each takes a config (``QUICK`` to check the machinery in about a minute, ``FULL`` for the
documented tables), writes a markdown and CSV table, a JSON of every toy or realisation, and
PNG figures into ``out``.
"""

from .nplm_table import NPLMStudyConfig, run_nplm_study
from .sacwola_table import SACWoLaStudyConfig, run_sacwola_study

__all__ = ["run_sacwola_study", "SACWoLaStudyConfig", "run_nplm_study", "NPLMStudyConfig"]
