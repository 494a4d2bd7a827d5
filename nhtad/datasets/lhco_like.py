"""A seeded, vectorised generator of LHC-Olympics-like dijet events (nhtad's default data).

It imitates the LHC Olympics 2020 R&D sample (Kasieczka et al., Rep. Prog. Phys. 84 (2021)
124201) at the level of the high-level features the seed analyses use, with the one property
that matters most for weakly supervised resonance searches built in on purpose: the jet masses
of QCD background rise with m_jj. A classifier trained to tell signal region from sidebands
(plain CWoLa) learns that rise and fakes a signal; SA-CWoLa's simulation term removes it.

Model (all masses in GeV, sqrt(s) = 13 TeV)
-------------------------------------------
Background
    m_jj from the dijet function ``(1 - x)^p1 / x^(p2 + p3 ln x)``, ``x = m_jj / 13 TeV``, times an
    error-function trigger turn-on (leading-jet pT > 1.2 TeV); about a quarter of the events
    fall in the 3.1-3.9 TeV window, as in the R&D sample. Each jet's mass is log-normal with a
    median ``m0 exp(slope L + curvature L^2)``, ``L = ln(m_jj / 3.5 TeV)``: with the default
    slope 0.3 and no curvature (``m0 (m_jj / 3.5 TeV)^0.3``) the mean heavier-jet mass rises by
    ~7% across the window; a curvature makes the rise non-linear in m_jj, as a change of the
    jet-mass scale with the jets' pT would. tau21 of each jet is Beta distributed (mean 0.68),
    independent of the masses and of m_jj, so the only feature-m_jj correlations are through
    the jet masses and through the jets' angular distance: the pT threshold bounds their
    rapidity gap, ``|delta eta| <= 2 arccosh(m_jj / 2.4 TeV)``, so dR_jj grows with m_jj.
Simulation
    The same physics with shapes mismodelled as a second generator would: both jet masses
    scaled by ``1 + 0.03 mismodelling``, their log-normal width by ``1 + 0.03 mismodelling``, the
    tau21 means shifted by ``+0.02 mismodelling`` and the dijet slope p1 by ``+0.3 mismodelling``.
    Each of the four components can be given its own strength (``mismodelling`` as a mapping),
    e.g. a simulation whose m_jj spectrum alone differs from the data's.
Resonant signal (LHCO R&D)
    W'(3.5 TeV) -> X(500) Y(100), X, Y -> qq: m_jj with a Gaussian core and a 25% low-side
    radiation tail; jet masses 500 and 100 GeV with a relative resolution and a tail to lower
    mass (radiation out of the jet); two-prong tau21 (Beta); central rapidity gap. Two profiles
    (``signal_profile``): ``"easy"`` (4% m_jj core, 5% and 8% jet-mass resolution, 10% mass
    tail, tau21 mean 0.35), which a cut separates from the background almost completely; and
    ``"realistic"`` (5% core, 8% and 12% resolution, 15% tail, tau21 mean 0.42, and in 35% of
    the jets an uncontained decay: a lighter jet with QCD-like tau21), whose supervised
    separation matches the LHC Olympics' (docs/datasets.md).
Non-resonant signal
    The same two-prong jets with m_jj flat over the generated range, like the 2HDM
    benchmark.

Injection: ``round(S/B * B_window)`` signal events fall in the window (``region.window``), the
signal's tails outside it come along, and the truth label is returned beside the events.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
from scipy import special

from ..utils.random import as_seed_sequence
from ..utils.validation import check_positive_int
from .events import events_bunch, make_event_table
from .inject import combine_shuffled, n_signal_for, prefix_reaching
from .regions import SignalRegion

__all__ = ["make_lhco_like", "SQRT_S", "MISMODELLING_COMPONENTS", "SIGNAL_PROFILES"]

SQRT_S = 13_000.0
_PT_MIN = 1_200.0  # leading-jet trigger threshold of the R&D sample

# Background m_jj: dijet function parameters and trigger turn-on (position, width).
_DIJET_P = (10.0, 5.0, 0.0)
_TURN_ON = (2_650.0, 210.0)
_GRID_SIZE = 8_192

# Background jets: log-normal mass (median at 3.5 TeV, log width), Beta tau21 (mean, concentration).
_QCD_MASS_MEDIAN = 60.0
_QCD_MASS_LOG_WIDTH = 0.70
_QCD_TAU21 = (0.68, 9.0)

# Resonant signal W'(3500) -> X(500) Y(100).
_W_MASS = 3_500.0
_W_TAIL = (0.25, 0.08)  # fraction, mean fractional loss
_SIGNAL_DETA_WIDTH = 0.9


class _SignalProfile(NamedTuple):
    """How the signal's jets look: resolutions, tails and substructure."""

    mjj_core_width: float  # relative Gaussian width of the m_jj peak
    jet_masses: tuple  # ((m_X, relative resolution), (m_Y, relative resolution))
    jet_mass_tail: float  # fraction of jets with a mass lowered by radiation out of the jet
    tau21: tuple  # (mean, concentration) of the two-prong jets' Beta law
    uncontained: float  # fraction of jets whose decay is not contained in the jet


#: ``easy``: the generator's first signal, separable by a cut (supervised AUC near 1);
#: ``realistic``: jet-mass resolution, radiation and uncontained decays as in the LHC Olympics
#: R&D sample, tuned to its supervised metrics (docs/datasets.md).
SIGNAL_PROFILES = {
    "easy": _SignalProfile(0.04, ((500.0, 0.05), (100.0, 0.08)), 0.10, (0.35, 8.0), 0.0),
    "realistic": _SignalProfile(0.05, ((500.0, 0.08), (100.0, 0.12)), 0.15, (0.42, 7.0), 0.35),
}

# Simulation mismodelling per unit strength.
_SIM_MASS_SCALE = 0.03
_SIM_MASS_WIDTH = 0.03
_SIM_TAU21_SHIFT = 0.02
_SIM_P1_SHIFT = 0.3
#: Components of the simulation's mismodelling, each scaled by its strength.
MISMODELLING_COMPONENTS = ("mass_scale", "mass_width", "tau21", "mjj_spectrum")


def _beta(rng, mean, concentration, size):
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, size)


def _max_rapidity_gap(mjj):
    # Two jets above the pT threshold with invariant mass mjj have cosh(deta/2) <= mjj / (2 pT_min).
    return 2.0 * np.arccosh(np.maximum(mjj / (2.0 * _PT_MIN), 1.0 + 1e-3))


def _dr_jj(rng, delta_eta):
    # The two leading jets are nearly back to back in phi; the rapidity gap dominates dR.
    delta_phi = np.pi - np.abs(rng.normal(0.0, 0.15, delta_eta.size))
    return np.hypot(delta_eta, delta_phi)


def _mass_ordered(mass_a, mass_b, tau_a, tau_b):
    swap = mass_b > mass_a
    return (
        np.where(swap, mass_b, mass_a),
        np.where(swap, mass_a, mass_b),
        np.where(swap, tau_b, tau_a),
        np.where(swap, tau_a, tau_b),
    )


def _mjj_cdf(mjj_range, p1_shift):
    """The background m_jj law's unnormalised CDF on a fine grid over ``mjj_range``."""
    grid = np.linspace(mjj_range[0], mjj_range[1], _GRID_SIZE)
    x = grid / SQRT_S
    p1, p2, p3 = _DIJET_P
    log_f = (p1 + p1_shift) * np.log1p(-x) - (p2 + p3 * np.log(x)) * np.log(x)
    turn_on = 0.5 * special.erfc(-(grid - _TURN_ON[0]) / _TURN_ON[1])
    density = np.exp(log_f - log_f.max()) * turn_on
    cdf = np.concatenate(([0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))))
    return grid, cdf


def _background_mjj(rng, n, mjj_range, p1_shift, keep=None):
    # Inverse-CDF sampling on a fine grid: exact up to the grid's linear interpolation and
    # vectorised over events. With ``keep``, the law truncated to it (the same interpolated
    # CDF, so the kept events follow exactly the law of the full sample's events in ``keep``).
    grid, cdf = _mjj_cdf(mjj_range, p1_shift)
    if keep is None:
        return np.interp(rng.random(n) * cdf[-1], cdf, grid)
    lo, hi = np.interp(keep, grid, cdf)
    return np.interp(lo + rng.random(n) * (hi - lo), cdf, grid)


def _kept_counts(rng, n, mjj_range, p1_shift, keep, region):
    """Background events of a full sample of ``n`` that fall in ``keep`` and in the window.

    Drawn jointly (multinomially) as a full sample's would be, so that the kept events and the
    window count that sets the injected signal have the full sample's joint law.
    """
    grid, cdf = _mjj_cdf(mjj_range, p1_shift)

    def fraction(lo, hi):
        a, b = np.interp([max(lo, grid[0]), min(hi, grid[-1])], grid, cdf)
        return max(0.0, (b - a) / cdf[-1])

    (klo, khi), (wlo, whi) = keep, region.window
    both = fraction(max(klo, wlo), min(khi, whi)) if max(klo, wlo) < min(khi, whi) else 0.0
    only_keep = fraction(klo, khi) - both
    only_window = fraction(wlo, whi) - both
    p = np.clip([both, only_keep, only_window], 0.0, None)
    counts = rng.multinomial(n, [*p, max(0.0, 1.0 - p.sum())])
    return int(counts[0] + counts[1]), int(counts[0] + counts[2])


def _background(rng, n, mjj_range, slope, curvature, strength, keep=None):
    mjj = _background_mjj(rng, n, mjj_range, _SIM_P1_SHIFT * strength["mjj_spectrum"], keep)
    log_ratio = np.log(mjj / _W_MASS)
    median = (
        _QCD_MASS_MEDIAN
        * np.exp(slope * log_ratio + curvature * log_ratio**2)
        * (1.0 + _SIM_MASS_SCALE * strength["mass_scale"])
    )
    width = _QCD_MASS_LOG_WIDTH * (1.0 + _SIM_MASS_WIDTH * strength["mass_width"])
    mass_a = median * np.exp(width * rng.standard_normal(n))
    mass_b = median * np.exp(width * rng.standard_normal(n))
    tau_mean = _QCD_TAU21[0] + _SIM_TAU21_SHIFT * strength["tau21"]
    tau_a = _beta(rng, tau_mean, _QCD_TAU21[1], n)
    tau_b = _beta(rng, tau_mean, _QCD_TAU21[1], n)
    mj1, mj2, tau1, tau2 = _mass_ordered(mass_a, mass_b, tau_a, tau_b)
    # Steeply falling pT spectra push the rapidity gap towards its kinematic limit.
    delta_eta = _max_rapidity_gap(mjj) * rng.random(n) ** 0.7
    return make_event_table(
        mjj=mjj, mj1=mj1, mj2=mj2, tau21_1=tau1, tau21_2=tau2, dR_jj=_dr_jj(rng, delta_eta)
    )


def _signal_mjj(rng, n, kind, mjj_range, profile, mass):
    if kind == "nonresonant":
        return rng.uniform(mjj_range[0], mjj_range[1], n)
    mjj = mass * (1.0 + profile.mjj_core_width * rng.standard_normal(n))
    tail = rng.random(n) < _W_TAIL[0]
    mjj[tail] *= np.exp(-rng.exponential(_W_TAIL[1], int(tail.sum())))
    return mjj


def _signal_jet_mass(rng, n, mass, resolution, profile):
    m = mass * (1.0 + resolution * rng.standard_normal(n))
    tail = rng.random(n) < profile.jet_mass_tail
    m[tail] *= rng.uniform(0.3, 1.0, int(tail.sum()))
    return np.abs(m)


def _uncontained(rng, mass, tau, profile):
    # A decay whose second prong falls outside the jet: a lighter, one-prong-like jet, with
    # QCD's substructure. Drawn after everything else (and not at all when the fraction is 0),
    # so that the easy profile's random stream, and its events, are those of earlier releases.
    out = rng.random(mass.size) < profile.uncontained
    mass[out] *= rng.uniform(0.1, 0.8, int(out.sum()))
    tau[out] = _beta(rng, *_QCD_TAU21, int(out.sum()))


def _signal(rng, n, kind, mjj_range, profile, mass=_W_MASS):
    mjj = _signal_mjj(rng, n, kind, mjj_range, profile, mass)
    (m_x, r_x), (m_y, r_y) = profile.jet_masses
    mass_a = _signal_jet_mass(rng, n, m_x, r_x, profile)
    mass_b = _signal_jet_mass(rng, n, m_y, r_y, profile)
    tau_a = _beta(rng, *profile.tau21, n)
    tau_b = _beta(rng, *profile.tau21, n)
    if profile.uncontained > 0:
        _uncontained(rng, mass_a, tau_a, profile)
        _uncontained(rng, mass_b, tau_b, profile)
    mj1, mj2, tau1, tau2 = _mass_ordered(mass_a, mass_b, tau_a, tau_b)
    # A heavy resonance decays centrally; keep the gap within the trigger's kinematic limit.
    max_gap = _max_rapidity_gap(mjj)
    delta_eta = np.abs(rng.normal(0.0, _SIGNAL_DETA_WIDTH, n))
    beyond = delta_eta > max_gap
    delta_eta[beyond] = max_gap[beyond] * rng.random(int(beyond.sum()))
    return make_event_table(
        mjj=mjj, mj1=mj1, mj2=mj2, tau21_1=tau1, tau21_2=tau2, dR_jj=_dr_jj(rng, delta_eta)
    )


def _signal_with_window_count(rng, n_window, kind, mjj_range, region, profile, mass=_W_MASS):
    # Draw signal in batches until n_window events fall in the window; keep everything drawn up
    # to that event, so the tails outside the window come along in their natural proportion.
    batches, found, drawn = [], 0, 0
    while found < n_window:
        if drawn > 1_000 * n_window + 1_000_000:
            raise ValueError(
                f"the {kind} signal hardly reaches the window {region.window} GeV ({found} of "
                f"{drawn} drawn events fell in it); choose a window around the signal."
            )
        # Batches at least double what was drawn, so a sparse window costs few iterations.
        batch = _signal(
            rng, max(2 * (n_window - found), 256, drawn), kind, mjj_range, profile, mass
        )
        drawn += batch.size
        in_window = region.in_window(batch["mjj"])
        length = prefix_reaching(in_window, n_window - found)
        if length is not None:
            batches.append(batch[:length])
            found = n_window
        else:
            batches.append(batch)
            found += int(in_window.sum())
    if not batches:
        return _signal(rng, 0, kind, mjj_range, profile, mass)
    return np.concatenate(batches)


def _mismodelling_strengths(mismodelling, simulation) -> dict:
    if isinstance(mismodelling, Mapping):
        unknown = sorted(set(mismodelling) - set(MISMODELLING_COMPONENTS))
        if unknown:
            raise ValueError(
                f"unknown mismodelling components {unknown}; the components are "
                f"{MISMODELLING_COMPONENTS} (missing ones are 0)."
            )
        strength = {name: mismodelling.get(name, 0.0) for name in MISMODELLING_COMPONENTS}
    else:
        strength = dict.fromkeys(MISMODELLING_COMPONENTS, mismodelling)
    for name, value in strength.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(
                f"mismodelling strengths must be finite numbers; got {name}={value!r}."
            )
    # Data-like background is never mismodelled: the strengths apply to the simulation only.
    return {name: float(value) if simulation else 0.0 for name, value in strength.items()}


def _finite_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)


def _check_keep(keep, mjj_range):
    try:
        lo, hi = (float(v) for v in keep)
    except (TypeError, ValueError):
        raise ValueError(f"keep must be a (low, high) m_jj range in GeV; got {keep!r}.") from None
    if not (mjj_range[0] <= lo < hi <= mjj_range[1]):
        raise ValueError(
            f"keep must be an m_jj range inside mjj_range {mjj_range} with low < high; got "
            f"{keep!r}."
        )
    return lo, hi


def make_lhco_like(
    n_background=1_000_000,
    signal_to_background=0.0,
    *,
    signal="resonant",
    signal_profile="realistic",
    signal_mass=3_500.0,
    simulation=False,
    mismodelling=1.0,
    mass_mjj_slope=0.3,
    mass_mjj_curvature=0.0,
    region=None,
    mjj_range=(1_500.0, 7_000.0),
    keep=None,
    random_state=None,
    as_frame=False,
):
    """Generate LHC-Olympics-like dijet events (see the module docstring for the model).

    Parameters
    ----------
    n_background : int, default=1_000_000
        Background events over the whole ``mjj_range`` (about 25% fall in the default window).
    signal_to_background : float, default=0.0
        Injected S/B counted in ``region.window``: ``round(S/B * B_window)`` signal events lie in
        the window, plus the signal's tails outside it.
    signal : {"resonant", "nonresonant"}, default="resonant"
        The LHCO W'(3.5 TeV) -> X(500 GeV) Y(100 GeV) or the same jets with flat m_jj.
    signal_profile : {"realistic", "easy"}, default="realistic"
        How the signal's jets look (:data:`SIGNAL_PROFILES`): ``"realistic"``, jet-mass
        resolution, radiation and a third of the jets with an uncontained decay, so that a
        supervised classifier reaches the LHC Olympics' AUC and significance improvement
        (docs/datasets.md); ``"easy"``, the first releases' signal (sharp jet masses, clean
        two-prong substructure), separable from the background by a cut.
    signal_mass : float, default=3500
        Resonance mass in GeV (the W' of the LHC Olympics R&D sample at 3.5 TeV); its width
        and tail scale with it. Count the injection in a ``region`` whose window holds the
        resonance: with the default window (3.1-3.9 TeV) a resonance far from 3.5 TeV hardly
        reaches it, and the generator says so.
    simulation : bool, default=False
        Generate the mismodelled "simulation" background instead of data-like background.
    mismodelling : float or mapping, default=1.0
        Strength of the simulation's mismodelling (0 = simulation identical in law to data);
        used only when ``simulation=True``. A mapping gives each of
        :data:`MISMODELLING_COMPONENTS` its own strength (missing ones are 0), e.g.
        ``{"mjj_spectrum": 1.0}`` for a simulation that differs only in its m_jj spectrum.
    mass_mjj_slope : float, default=0.3
        Exponent of the background jet-mass median's rise with m_jj (0 = no correlation).
        Generate the simulation with another value than the data to mismodel the correlation.
    mass_mjj_curvature : float, default=0.0
        Coefficient ``c`` of ``L^2`` in the log of the jet-mass median, ``L = ln(m_jj / 3.5
        TeV)``: a dependence on m_jj that is not a power law (``c = 20`` raises the median by
        a third at 3.1 TeV and a quarter at 3.9 TeV relative to 3.5 TeV).
    region : SignalRegion, optional
        Window for counting S/B; default ``SignalRegion()`` (3.1-3.9 TeV).
    mjj_range : tuple of float, default=(1500, 7000)
        Generated m_jj range in GeV.
    keep : tuple of float or None, default=None
        Return only the events with ``keep[0] <= m_jj < keep[1]`` (e.g. the signal region),
        generating no others: the kept background count, the window count that sets the
        injection and the kept events have the joint law of the same cut applied to a full
        sample of ``n_background`` events, at a fraction of its cost. Toys that use one region
        only are this cheaper (:class:`~nhtad.calibration.LHCOToys`). The random stream differs
        from the full sample's: the same seed gives other events than with ``keep=None``.
    random_state : None, int, RandomState, Generator or SeedSequence
        Seed; the same value gives the same events.
    as_frame : bool, default=False
        Return ``events`` as a pandas DataFrame.

    Returns
    -------
    Bunch
        ``events`` (structured array with :data:`~nhtad.datasets.EVENT_COLUMNS`, rows shuffled),
        ``truth`` (1 = signal), ``n_background``, ``n_signal``, ``n_background_window``,
        ``n_signal_window``, ``signal_to_background`` (realised in the window), ``simulation``.

    Examples
    --------
    >>> sample = make_lhco_like(100_000, signal_to_background=0.01, random_state=0)
    >>> sample.n_signal_window == round(0.01 * sample.n_background_window)
    True
    """
    n_background = check_positive_int(n_background, "n_background", minimum=0)
    if signal not in ("resonant", "nonresonant"):
        raise ValueError(f"signal must be 'resonant' or 'nonresonant'; got {signal!r}.")
    if not isinstance(signal_profile, str) or signal_profile not in SIGNAL_PROFILES:
        raise ValueError(
            f"signal_profile must be one of {sorted(SIGNAL_PROFILES)}; got {signal_profile!r}."
        )
    lo, hi = (float(v) for v in mjj_range)
    mass = float(signal_mass) if _finite_number(signal_mass) else float("nan")
    if not (lo < mass < hi):
        raise ValueError(
            f"signal_mass must be a number inside mjj_range {mjj_range} GeV; got {signal_mass!r}."
        )
    if not (0.0 < lo < hi < SQRT_S):
        raise ValueError(f"mjj_range must satisfy 0 < low < high < 13000 GeV; got {mjj_range}.")
    strength = _mismodelling_strengths(mismodelling, simulation)
    if not np.isfinite(mass_mjj_slope) or not np.isfinite(mass_mjj_curvature):
        raise ValueError("mass_mjj_slope and mass_mjj_curvature must be finite numbers.")
    region = SignalRegion() if region is None else region
    rng = np.random.default_rng(as_seed_sequence(random_state))

    if keep is None:
        background = _background(
            rng, n_background, (lo, hi), float(mass_mjj_slope), float(mass_mjj_curvature), strength
        )
        n_bkg_window = int(region.in_window(background["mjj"]).sum()) if n_background else 0
    else:
        keep = _check_keep(keep, (lo, hi))
        p1_shift = _SIM_P1_SHIFT * strength["mjj_spectrum"]
        n_kept, n_bkg_window = _kept_counts(rng, n_background, (lo, hi), p1_shift, keep, region)
        background = _background(
            rng, n_kept, (lo, hi), float(mass_mjj_slope), float(mass_mjj_curvature), strength, keep
        )
    n_sig_window = n_signal_for(signal_to_background, n_bkg_window)
    sig = _signal_with_window_count(
        rng, n_sig_window, signal, (lo, hi), region, SIGNAL_PROFILES[signal_profile], mass
    )
    if keep is not None:
        sig = sig[(sig["mjj"] >= keep[0]) & (sig["mjj"] < keep[1])]
    events, truth = combine_shuffled(background, sig, rng)
    return events_bunch(
        events,
        truth,
        as_frame=as_frame,
        n_background=n_background,
        n_signal=int(sig.size),
        n_background_window=n_bkg_window,
        n_signal_window=n_sig_window,
        signal_to_background=n_sig_window / n_bkg_window if n_bkg_window else float("nan"),
        simulation=bool(simulation),
        signal=signal,
    )
