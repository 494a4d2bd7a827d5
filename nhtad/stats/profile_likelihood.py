r"""Profile-likelihood test of a signal-region count against a background with an uncertainty.

``N ~ Poisson(mu + b + theta)`` with a Gaussian constraint ``theta ~ N(0, sigma_b)`` on the
background; ``q0`` is the profile-likelihood ratio of ``mu = 0`` (Cowan, Cranmer, Gross,
Vitells, EPJC 71 (2011) 1554, eqs. 12 and 52).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special

from ..utils.summary import aligned, format_pvalue, significance_sentence
from .pvalues import significance_to_log_pvalue

__all__ = ["ProfileLikelihood", "profile_likelihood_q0"]

#: Counts shown by the summary of an array result (the rest are counted).
_MAX_SHOWN = 5


class ProfileLikelihood(NamedTuple):
    """Result of :func:`profile_likelihood_q0`; floats, or arrays for array input."""

    q0: float | np.ndarray
    significance: float | np.ndarray
    log_pvalue: float | np.ndarray
    signal_yield: float | np.ndarray
    signal_yield_error: float | np.ndarray
    nuisance_conditional: float | np.ndarray

    def __str__(self) -> str:
        return self.summary()

    def summary(self) -> str:
        """The discovery test of the count in words (one block per count for array input).

        ``Z = sqrt(q0)`` is the one-sided Gaussian significance of the half-chi^2 law of
        ``q0`` (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554, eqs. 12 and 52).

        Returns
        -------
        str
            Several lines, for a person to read; ``str(result)`` gives the same text.
        """
        values = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in self))
        size = values[0].size
        shown = min(size, _MAX_SHOWN)
        # Flattened so one block per count reads the same for a scalar and for an array.
        flat = [v.reshape(-1)[:shown] for v in values]
        head = "ProfileLikelihood: discovery test of a count with an uncertain background"
        lines = [head if size == 1 else f"{head} ({size} counts)"]
        for k in range(shown):
            q0, z, log_p, mu, mu_error, theta = (float(v[k]) for v in flat)
            if size > 1:
                lines.append(f"  [{k}]")
            lines += aligned(
                [
                    ("q0", f"{q0:.6g}"),
                    ("p-value", format_pvalue(float(np.exp(log_p)), log_p)),
                    ("significance", significance_sentence(z)),
                    ("p obtained", "asymptotic: the half-chi^2 law of q0, Z = sqrt(q0)"),
                    ("signal yield", f"mu_hat = N - B = {mu:.4g} +- {mu_error:.3g} events"),
                    (
                        "background pull",
                        f"theta_hathat = {theta:.4g} events: how far the fit under mu = 0 "
                        f"moves the background within its uncertainty towards N",
                    ),
                ],
                indent="    " if size > 1 else "  ",
            )
        if shown < size:
            lines.append(f"  ... {size - shown} more")
        return "\n".join(lines)


def profile_likelihood_q0(n_observed, background, background_error) -> ProfileLikelihood:
    r"""Discovery statistic ``q0`` of a counting experiment with a Gaussian-constrained background.

    For ``L(mu, theta) = Pois(N | mu + b + theta) N(theta | 0, sigma_b)`` (Cowan, Cranmer,
    Gross, Vitells, EPJC 71 (2011) 1554) both fits have closed forms:

    * free: ``mu_hat = N - b``, ``theta_hat = 0`` (the Poisson mean equals ``N``);
    * ``mu = 0``: ``d ln L / d theta = 0`` is the quadratic
      ``theta^2 + theta (b + sigma_b^2) + sigma_b^2 (b - N) = 0``, whose root
      ``theta_hathat = 2 sigma_b^2 (N - b) / (b + sigma_b^2 + D)`` with
      ``D = sqrt((b - sigma_b^2)^2 + 4 N sigma_b^2)`` is written without cancellation.

    Then, with ``nu = b + theta_hathat``,

    .. math::

        q_0 = 2 \left[N \ln\frac{N}{\nu} - (N - \nu) + \frac{\hat{\hat\theta}^2}{2\sigma_b^2}
        \right] \text{ for } \hat\mu > 0, \qquad q_0 = 0 \text{ otherwise},

    ``Z = sqrt(q0)`` and ``log p = log Phi(-Z)`` (the one-sided half-chi-square law), finite for
    any ``N``. ``sigma_b = 0`` gives the Poisson ``q0 = 2 [N ln(N/b) - (N - b)]``.

    Parameters
    ----------
    n_observed : float or array-like
        Observed count(s) ``N >= 0``.
    background : float or array-like
        Predicted background ``b > 0``.
    background_error : float or array-like
        Its standard deviation ``sigma_b >= 0``.

    Returns
    -------
    ProfileLikelihood
        ``q0``, ``significance`` (Z), ``log_pvalue``, ``signal_yield`` (``mu_hat = N - b``),
        ``signal_yield_error`` and ``nuisance_conditional`` (``theta_hathat``). The yield error
        ``sqrt(N + sigma_b^2)`` is the inverse curvature of the likelihood at its maximum with
        ``theta`` profiled.
    """
    n, b, sigma = np.broadcast_arrays(
        *(np.asarray(v, dtype=np.float64) for v in (n_observed, background, background_error))
    )
    if not (np.all(np.isfinite(n)) and np.all(n >= 0)):
        raise ValueError(f"n_observed must be finite and >= 0; got {n_observed!r}.")
    if not (np.all(np.isfinite(b)) and np.all(b > 0)):
        raise ValueError(f"background must be finite and > 0; got {background!r}.")
    if not (np.all(np.isfinite(sigma)) and np.all(sigma >= 0)):
        raise ValueError(f"background_error must be finite and >= 0; got {background_error!r}.")
    var = sigma**2
    root = np.sqrt((b - var) ** 2 + 4.0 * n * var)
    denominator = b + var + root  # > 0 because b > 0
    theta = 2.0 * var * (n - b) / denominator
    # Poisson mean under mu = 0, from whichever root formula has no cancellation.
    small_b = b - var < 0
    safe = np.where(small_b, root - (b - var), 1.0)
    nu = np.where(small_b, 2.0 * n * var / safe, 0.5 * ((b - var) + root))
    # theta^2 / (2 sigma^2) without dividing by sigma, so sigma = 0 is exact.
    penalty = 2.0 * var * (n - b) ** 2 / denominator**2
    q0 = 2.0 * (special.kl_div(n, nu) + penalty)
    q0 = np.where(n > b, np.maximum(q0, 0.0), 0.0)
    z = np.sqrt(q0)
    log_p = np.asarray(significance_to_log_pvalue(z))
    values = (q0, z, log_p, n - b, np.sqrt(n + var), theta)
    if q0.ndim == 0:
        values = tuple(float(v) for v in values)
    return ProfileLikelihood(*values)
