"""The no-three-way-interaction model of a 2 x d_s x d_y table: fit, G^2 and its resampled nulls.

The null of :class:`~nhtad.stats.HomogeneousAssociationTest` is the log-linear model
([gs][gy][sy]; Agresti, *Categorical Data Analysis*, 3rd ed., Sec. 9.2-9.4; Bishop, Fienberg &
Holland, *Discrete Multivariate Analysis*, Ch. 3)

    log mu_gij = lambda + a_gi + b_gj + c_ij,

for sample ``g`` (data, simulation), score bin ``i`` and mass bin ``j``. Its maximum-likelihood
fit has no closed form and is found by iterative proportional fitting
(:func:`fit_no_three_way`); :func:`g_squared` is the likelihood-ratio statistic and
:func:`g_squared_bias` the small-count bias that decides whether its chi-square law holds.
"""

from __future__ import annotations

import logging

import numpy as np

from ._williams import williams_leading_term

__all__ = [
    "fit_no_three_way",
    "g_squared",
    "g_squared_bias",
    "bootstrap_batch",
    "relabel_batch",
    "IPF_MAX_ITER",
]

logger = logging.getLogger(__name__)

# Iterative proportional fitting stops when every fitted two-way margin matches the observed one
# to this relative precision. G^2 is stationary at the maximum-likelihood fit, so its error is
# of second order in this tolerance.
_IPF_TOL = 1e-10
#: Most IPF cycles of a fit.
IPF_MAX_ITER = 10_000


def _scale(observed, fitted):
    # Margin ratio with 0/0 -> 0: a zero fitted margin only holds cells that are zero already.
    return np.divide(observed, fitted, out=np.zeros_like(fitted), where=fitted > 0)


def _margin_error(mu, gs, gy):
    # Relative mismatch of the (g, s) and (g, y) margins; the (s, y) margin is exact after the
    # last step of a cycle. max(observed, 1) keeps near-empty margins on an absolute scale.
    err_s = np.abs(mu.sum(axis=-1) - gs) / np.maximum(gs, 1.0)
    err_y = np.abs(mu.sum(axis=-2) - gy) / np.maximum(gy, 1.0)
    return np.maximum(err_s.max(axis=(-2, -1)), err_y.max(axis=(-2, -1)))


def fit_no_three_way(tables, *, tol=_IPF_TOL, max_iter=IPF_MAX_ITER):
    """Maximum-likelihood fit of the no-three-way-interaction model by iterative proportional
    fitting.

    The model ``log mu_gij = lambda + a_gi + b_gj + c_ij`` ([gs][gy][sy]) has as sufficient
    statistics the three two-way margins of the table, so its maximum-likelihood fit (Poisson or
    multinomial sampling alike) is the table of that form whose two-way margins equal the
    observed ones (Birch's theorem). Iterative proportional fitting (Deming & Stephan 1940;
    Bishop, Fienberg & Holland Sec. 3.5) scales a start table of the model's form to each
    observed margin in turn; every step stays in the model and increases the likelihood.

    Parameters
    ----------
    tables : array-like of shape (..., K, d_s, d_y)
        Counts; leading axes are a batch of tables, ``K`` the samples (2: data, simulation).
    tol : float, default=1e-10
        Largest relative mismatch ``|fitted - observed| / max(observed, 1)`` allowed in any
        two-way margin at convergence.
    max_iter : int, default=10000
        Most IPF cycles (one cycle scales to all three margins).

    Returns
    -------
    expected : ndarray of the shape of ``tables``
        Fitted expected counts.
    n_iter : ndarray of int of shape (...)
        Cycles each table needed (``max_iter`` where it did not converge).
    converged : ndarray of bool of shape (...)
        Whether each table met ``tol``. Where the maximum-likelihood estimate lies on the
        boundary (some fitted counts tend to 0 without a zero margin forcing them), IPF converges
        only sublinearly; the likelihood still increases at every cycle, so an unconverged G^2
        is an upper bound of its limit.
    """
    n = np.asarray(tables, dtype=np.float64)
    if n.ndim < 3:
        raise ValueError(f"tables must have shape (..., K, d_s, d_y); got shape {n.shape}.")
    batch_shape = n.shape[:-3]
    n = n.reshape(-1, *n.shape[-3:])
    gs, gy, sy = n.sum(axis=-1), n.sum(axis=-2), n.sum(axis=-3)
    # The (s, y) step applied to a flat start: already of the model's form.
    mu = np.repeat((sy / n.shape[1])[:, None], n.shape[1], axis=1)
    n_iter = np.full(n.shape[0], max_iter, dtype=np.int64)
    converged = np.zeros(n.shape[0], dtype=bool)
    active = np.arange(n.shape[0])
    for it in range(1, max_iter + 1):
        m, a_gs, a_gy = mu[active], gs[active], gy[active]
        m *= _scale(a_gs, m.sum(axis=-1))[..., None]
        m *= _scale(a_gy, m.sum(axis=-2))[..., None, :]
        m *= _scale(sy[active], m.sum(axis=-3))[:, None]
        mu[active] = m
        done = _margin_error(m, a_gs, a_gy) <= tol
        n_iter[active[done]] = it
        converged[active[done]] = True
        active = active[~done]
        if active.size == 0:
            break
    return (
        mu.reshape(*batch_shape, *mu.shape[1:]),
        n_iter.reshape(batch_shape),
        converged.reshape(batch_shape),
    )


def g_squared(tables, expected):
    """Likelihood-ratio statistic ``G^2 = 2 sum n log(n / mu)`` of tables and their fits.

    Computed as the Poisson deviance ``2 sum [n log(n/mu) - n + mu]``, whose terms are all
    >= 0 (no cancellation between cells); it equals ``G^2`` because the fit reproduces every
    sample's total. Empty cells contribute ``mu`` (``0 log 0 = 0``).

    Parameters
    ----------
    tables, expected : array-like of shape (..., K, d_s, d_y)

    Returns
    -------
    float or ndarray of shape (...)
    """
    n = np.asarray(tables, dtype=np.float64)
    mu = np.asarray(expected, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > 0, n * np.log(n / mu), 0.0) - n + mu
    g2 = 2.0 * np.maximum(terms, 0.0).sum(axis=(-3, -2, -1))
    return float(g2) if g2.ndim == 0 else g2


def g_squared_bias(expected, dof):
    """Estimated small-count bias of ``G^2`` in units of its null standard deviation.

    Williams (Biometrika 63 (1976) 33) expanded the mean of the likelihood-ratio statistic:
    ``E[G^2] = dof + (1/6) sum 1/mu + ...``, the dots being terms of the fitted margins, of
    opposite sign and an order smaller. The leading term over the null standard deviation
    ``sqrt(2 dof)`` of the chi-square law,

    .. math:: b = \\frac{\\sum_{gij} 1/\\hat\\mu_{gij}}{6 \\sqrt{2\\,\\mathrm{dof}}},

    measures how far sparse cells push ``G^2`` above the law: unlike a minimum count or a
    fraction of cells below 5 it accounts for the number of cells, which matters because the
    bias adds up over cells while the null spread grows only like ``sqrt(dof)``. Omitting the
    margin terms, of opposite sign, makes ``b`` lean towards overestimating. A zero expected count
    (an empty margin or (s, y) cell, where the dof of the chi-square law would be wrong) gives
    ``inf``.

    The threshold :data:`MAX_G2_BIAS` and the Type-I measurements behind it are in
    docs/statistics.md.

    Parameters
    ----------
    expected : array-like of shape (K, d_s, d_y)
        Fitted expected counts.
    dof : int
        Degrees of freedom of the chi-square law.

    Returns
    -------
    float
    """
    return williams_leading_term(expected, dof)[1]


def _g_squared_of(tables):
    # Null statistics of a batch of resampled tables. A toy whose fit has not converged keeps
    # a G^2 above its limit (IPF raises the likelihood every cycle): conservative.
    expected, _, converged = fit_no_three_way(tables)
    if not converged.all():
        logger.debug(
            "%d of %d resampled tables did not converge in IPF", (~converged).sum(), converged.size
        )
    return g_squared(tables, expected)


def bootstrap_batch(rng, n, probabilities, totals, shape):
    """``n`` null G^2 of a parametric bootstrap from the fitted [gs][gy][sy] model.

    Every sample keeps its size and is multinomial with its fitted cell probabilities: the
    toys obey the test's own null, which lets the marginals differ.
    """
    toys = rng.multinomial(totals, probabilities, size=(n, totals.size))
    return _g_squared_of(toys.reshape(n, *shape))


def relabel_batch(rng, n, pooled, n_data, shape):
    """``n`` G^2 of tables whose pooled events are randomly relabelled as data or simulation.

    The data table is then multivariate hypergeometric given the pooled cell counts (as in the
    relabelled null of the mutual-information test): valid only when the two samples are
    exchangeable.
    """
    data = rng.multivariate_hypergeometric(pooled, n_data, size=n, method="marginals")
    toys = np.stack([data, pooled - data], axis=1)
    return _g_squared_of(toys.reshape(n, *shape))
