"""How :class:`~nhtad.stats.BumpHuntTest` reads its region and its ``fit`` arguments.

Both accept, for one release with a ``FutureWarning``, the forms used before every nhtad test
took ``fit(s, y)`` and a :class:`~nhtad.datasets.SignalRegion`: ``fit(mjj)``,
``fit(mjj, s, efficiency=eps2)`` and ``BumpHuntTest(window=..., signal_region=...)``.
"""

from __future__ import annotations

import warnings

from .dijet_fit import real_pair

__all__ = ["fit_arguments", "window_and_signal_region"]


def fit_arguments(test, s, y, legacy):
    """``(s, mjj, efficiency)`` from the call, the former ``fit(mjj, s, efficiency=)`` too."""
    unknown = set(legacy) - {"efficiency"}
    if unknown:
        raise TypeError(f"fit() got unexpected keyword arguments {sorted(unknown)}.")
    if "efficiency" in legacy:
        # fit(mjj, s, efficiency=eps2): m_jj first, the efficiency at fit time.
        warnings.warn(
            "BumpHuntTest.fit(mjj, s, efficiency=eps2) is deprecated: use "
            "BumpHuntTest(efficiency=eps2).fit(s, mjj), the order of every nhtad test.",
            FutureWarning,
            stacklevel=3,
        )
        return y, s, legacy["efficiency"]
    if y is None:
        warnings.warn(
            "BumpHuntTest.fit(mjj) is deprecated: use fit(None, mjj) (scores first, "
            "m_jj second, as every nhtad test).",
            FutureWarning,
            stacklevel=3,
        )
        return None, s, test.efficiency
    return s, y, test.efficiency


def window_and_signal_region(test):
    """``(window, (low, high))`` of the test's ``region``, or of the former two parameters."""
    from ..datasets.regions import SignalRegion

    legacy = {k: v for k, v in (("window", test.window), ("signal_region", test.signal_region))}
    given = {k: v for k, v in legacy.items() if not (isinstance(v, str) and v == "deprecated")}
    if given:
        if test.region is not None:
            raise ValueError(
                f"give either region or the deprecated {' and '.join(given)}, not both."
            )
        warnings.warn(
            "BumpHuntTest(window=..., signal_region=...) is deprecated: pass "
            "region=SignalRegion(low, high, window=(lo, hi)).",
            FutureWarning,
            stacklevel=4,
        )
        default = SignalRegion()
        window = real_pair(given.get("window", default.window), "window")
        low, high = real_pair(
            given.get("signal_region", (default.low, default.high)), "signal_region"
        )
        return window, (low, high)
    region = SignalRegion() if test.region is None else test.region
    if not isinstance(region, SignalRegion):
        raise ValueError(
            f"region must be a nhtad.datasets.SignalRegion; got {region!r}. Build one with "
            "SignalRegion(low, high, window=(lo, hi)) in GeV."
        )
    return region.window, (region.low, region.high)
