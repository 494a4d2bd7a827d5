"""The Blum-Kiefer-Rosenblatt law: the asymptotic null of rank independence statistics.

Under independence of two continuous variables, rank statistics built on the copula functional
``Delta = int int (C(u, v) - u v)^2 du dv`` converge to multiples of

    B = sum_{j, k >= 1} Z_jk^2 / (pi^4 j^2 k^2),   Z_jk iid N(0, 1),

(Blum, Kiefer & Rosenblatt, Ann. Math. Statist. 32 (1961) 485; Hoeffding, Ann. Math. Statist. 19
(1948) 546), with ``E B = 1/36`` and ``Var B = 2/8100``. Hoeffding's D and the distance covariance
of ranks are two such statistics (see :mod:`.hoeffding` and :mod:`.distance_correlation`).

The survival function is computed by numerical Laplace inversion along a vertical line through
the saddle point of the cumulant generating function ``K(s) = -1/2 sum log(1 - 2 s w_jk)``:
``P(B >= b) = (1/pi) int_0^inf Re[exp(K(theta + i u) - (theta + i u) b) / (theta + i u)] du`` for
``theta > 0``. Factoring out ``exp(K(theta) - theta b)`` keeps the result in log space. Beyond
``b = 0.2`` (``p < 3e-5``) the two-term tail expansion of the dominant term,
``P ~ C P(Z^2 >= pi^4 b) (1 + m / (2 b))``, takes over: it agrees with the inversion to better
than 1e-3 in ``log p`` there and becomes exact as ``b`` grows, so Z stays finite and accurate for
any finite ``b``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import integrate, optimize, special

__all__ = ["BKR_MEAN", "BKR_VARIANCE", "bkr_log_sf"]

BKR_MEAN = 1.0 / 36.0
BKR_VARIANCE = 2.0 / 8100.0
_W11 = 1.0 / math.pi**4
_S_MAX = 0.5 / _W11  # K(s) is finite for s < 1 / (2 max w)
# Weights w_jk with j, k <= _J enter exactly; the remaining ones are replaced by a Gaussian of
# the same mean and variance. The first neglected cumulant changes log P by at most
# (4/3) s^3 sum_rest w^3 < 1e-9 for every s the inversion uses.
_J = 40
# From here on (p < 3e-5) the two-term tail expansion is used; it agrees with the inversion to
# better than 1e-3 in log p there (tests), and the inversion's cost grows with b.
_ASYMPTOTIC_FROM = 0.2


@lru_cache(maxsize=1)
def _weights():
    j = np.arange(1, _J + 1, dtype=float)
    w = (1.0 / np.outer(j, j) ** 2 / math.pi**4).ravel()
    # Exact sums over all (j, k): sum w^m = zeta(2m)^2 / pi^(4m).
    totals = [special.zeta(2 * m) ** 2 / math.pi ** (4 * m) for m in (1, 2)]
    rest = [totals[m - 1] - np.sum(w**m) for m in (1, 2)]
    return w, rest


def _cgf(s):
    # K(s) for complex or real s (scalar): explicit terms plus the Gaussian remainder, whose
    # cumulant generating function is entire, so the inversion contour never meets a branch cut.
    w, (r1, r2) = _weights()
    return -0.5 * np.sum(np.log1p(-2.0 * s * w)) + s * r1 + s**2 * r2


def _cgf_prime(s):
    w, (r1, r2) = _weights()
    return float(np.sum(w / (1.0 - 2.0 * s * w)) + r1 + 2.0 * s * r2)


def _saddle_point(b):
    lo, hi = -1e7, _S_MAX * (1.0 - 1e-13)
    if _cgf_prime(lo) >= b:
        return lo
    if _cgf_prime(hi) <= b:
        return hi
    return optimize.brentq(lambda s: _cgf_prime(s) - b, lo, hi, xtol=1e-14, rtol=1e-14)


def _tilted_integral(theta, b):
    # (1/pi) int_0^inf Re[exp(K(s) - K(theta) - i u b) / s] du, s = theta + i u, on geometric
    # intervals: the integrand's width is ~ (S_MAX - theta) in the tail and ~ 1/sd(B) in the bulk.
    k_theta = _cgf(theta)

    def integrand(u):
        s = theta + 1j * u
        return (np.exp(_cgf(s) - k_theta - 1j * u * b) / s).real

    # |integrand| <= |exp(K(s) - K(theta))| / u: every factor |1 - 2 s w| grows with u, so the
    # geometric pieces end once a piece and the bound are negligible.
    scale = min(abs(theta), _S_MAX - theta, 1.0 / math.sqrt(BKR_VARIANCE))
    total, lo, hi = 0.0, 0.0, scale
    while True:
        # Later pieces only need to be accurate relative to the integral so far.
        piece, _err = integrate.quad(
            integrand, lo, hi, limit=200, epsabs=1e-13 * abs(total), epsrel=1e-10
        )
        total += piece
        bound = abs(np.exp(_cgf(theta + 1j * hi) - k_theta)) * (hi - lo) / hi
        if hi > 20.0 * scale and max(abs(piece), bound) <= 1e-13 * abs(total):
            break
        if hi > 1e7:  # pragma: no cover - the bound falls far faster for every theta used
            raise RuntimeError(f"inversion of the BKR law did not converge at b = {b}")
        lo, hi = hi, 2.0 * hi
    return total / math.pi


@lru_cache(maxsize=1)
def _tail_constants():
    # B = w11 Z^2 + R with R independent: P(B >= b) = E[P(w11 Z^2 >= b - R)]. Expanding in R/b,
    # P(B >= b) = C P(w11 Z^2 >= b) (1 + m / (2 b) + O(b^-2)), with C = E exp(R / (2 w11)) and
    # m = E[R exp(R / (2 w11))] / C, the mean of R tilted to the dominant term's edge. Both
    # factor over j with prod_k (1 - a^2/k^2) = sin(pi a)/(pi a) and
    # sum_k 1/(k^2 - a^2) = (1 - pi a cot(pi a)) / (2 a^2), a = 1/j; the j = 1 row, which
    # excludes (1, 1), gives 1/2 and 3/4.
    j = np.arange(2, 2_000_001, dtype=float)
    tail = (math.pi**2 / 6.0) / j[-1]  # both summands ~ pi^2 / (6 j^2) beyond the last j
    log_c = -0.5 * (math.log(0.5) + np.sum(np.log(np.sinc(1.0 / j))) - tail)
    a = math.pi / j
    m = _W11 * (0.75 + np.sum(0.5 * (1.0 - a / np.tan(a))) + tail)
    return float(log_c), float(m)


def _log_sf_asymptotic(b):
    log_c, m = _tail_constants()
    return (
        log_c + math.log1p(m / (2.0 * b)) + math.log(2.0) + special.log_ndtr(-math.sqrt(b / _W11))
    )


def bkr_log_sf(b: float) -> float:
    """``log P(B >= b)`` for the Blum-Kiefer-Rosenblatt variable ``B`` (module docstring).

    Parameters
    ----------
    b : float
        Observed value of ``B``.

    Returns
    -------
    float
        Natural log of the survival probability; finite for any finite ``b``.
    """
    b = float(b)
    if math.isnan(b):
        raise ValueError("bkr_log_sf got NaN.")
    if b <= 0.0:
        return 0.0
    if b >= _ASYMPTOTIC_FROM:
        return _log_sf_asymptotic(b)
    theta = _saddle_point(b)
    sd_scale = 5.0
    if theta > 0.0:
        theta = max(theta, sd_scale)
        value = _tilted_integral(theta, b)
        log_p = _cgf(theta).real - theta * b + math.log(value)
        return min(log_p, 0.0)
    # Lower side: the same inversion with theta < 0 gives minus the CDF. The Chernoff bound
    # P(B <= b) <= exp(K(theta) - theta b) settles the far lower tail, where log sf is -cdf.
    log_chernoff = _cgf(theta).real - theta * b
    if log_chernoff < -40.0:
        return -math.exp(log_chernoff) if log_chernoff > -745.0 else 0.0
    theta = min(theta, -sd_scale)
    log_cdf = _cgf(theta).real - theta * b + math.log(-_tilted_integral(theta, b))
    return math.log1p(-math.exp(min(log_cdf, 0.0))) if log_cdf < 0 else -math.inf
