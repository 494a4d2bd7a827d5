"""The smooth-trend model of a binned (score, m_jj) table and its maximum-likelihood fit.

The model of :class:`~nhtad.stats.SmoothTrendIndependenceTest` is the Poisson log-linear model
(Agresti, *Categorical Data Analysis*, 3rd ed., Sec. 9.5, a row-effects model with a polynomial
in the column score)

    log mu_ij = a_i + b_j + sum_{k=1..K} c_ik P_k(u_j),

``u_j`` the y bin's position mapped to [-1, 1] and ``P_k`` Legendre polynomials
(:func:`trend_design`), optionally with one signal-region term ``d_i 1[y_j in SR]`` per score
bin. Profiling the free column effects ``b_j`` turns it into a multinomial logit of the score bin
given the y bin (the same maximum-likelihood ``mu`` and G^2), fitted by Newton's method with a
line search (:func:`fit_trend_model`): ``(d_s - 1) n_terms`` parameters, concave log-likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre
from scipy import linalg, special

from ..utils.threads import single_threaded_blas
from .pvalues import chi2_log_sf, log_pvalue_to_significance

__all__ = [
    "TrendFit",
    "TrendStatistic",
    "fit_trend_model",
    "trend_design",
    "trend_statistic",
    "bootstrap_batch",
]

_MAX_ITER = 100


@dataclass(frozen=True, eq=False)
class TrendFit:
    """Maximum-likelihood fit of the smooth-trend model to a table.

    Attributes
    ----------
    coefficients : ndarray of shape (d_s, n_terms)
        Row ``i``: score bin ``i``'s coefficients of the design's columns (row 0 is the
        reference, all zero).
    expected : ndarray of shape (d_s, d_y)
        Fitted counts ``mu_ij`` (column totals equal the observed ones).
    g2 : float
        Deviance ``2 sum n log(n / mu)``.
    covariance : ndarray of shape (d_s - 1, n_terms, d_s - 1, n_terms)
        Inverse Fisher information of the free coefficients (rows 1..d_s-1).
    n_iter : int
        Newton iterations.
    """

    coefficients: np.ndarray
    expected: np.ndarray
    g2: float
    covariance: np.ndarray
    n_iter: int

    def last_term(self) -> tuple[np.ndarray, np.ndarray]:
        """Every score bin's coefficient of the design's last column, and its standard error.

        With a signal-region design this is the signal-region term ``d_i``; bin 0 is the
        reference (coefficient and error 0).
        """
        errors = np.sqrt(np.diagonal(self.covariance[:, -1, :, -1]))
        return self.coefficients[:, -1], np.concatenate(([0.0], errors))


def trend_design(u, degree: int, signal_region=None) -> np.ndarray:
    """Design matrix of the y bins: Legendre polynomials ``P_0..P_K`` of ``u`` (+ an SR term).

    Parameters
    ----------
    u : array-like of shape (d_y,)
        Bin positions mapped to [-1, 1].
    degree : int
        Polynomial degree K.
    signal_region : array-like of bool of shape (d_y,), optional
        Marks the signal-region bins; adds their indicator as the last column.

    Returns
    -------
    ndarray of shape (d_y, K + 1) or (d_y, K + 2)
    """
    u = np.asarray(u, dtype=np.float64)
    columns = [legendre.legval(u, np.eye(degree + 1)[k]) for k in range(degree + 1)]
    if signal_region is not None:
        columns.append(np.asarray(signal_region, dtype=np.float64))
    return np.column_stack(columns)


def _log_probabilities(theta, design):
    eta = theta @ design.T
    return eta - special.logsumexp(eta, axis=0, keepdims=True)


def fit_trend_model(table, design, *, max_iter: int = _MAX_ITER) -> TrendFit:
    """Fit ``log mu_ij = b_j + theta_i . x_j`` (``theta_0 = 0``) to a table by Newton's method.

    With the column effects ``b_j`` profiled out this is the multinomial logit of the row given
    the column (Agresti, Sec. 8.1 and 9.5); its log-likelihood is concave, so Newton steps with
    step halving converge to the unique maximum when it exists.

    The small linear systems are solved with one BLAS thread (:mod:`nhtad.utils.threads`).

    Parameters
    ----------
    table : array-like of shape (d_s, d_y)
        Non-negative counts, every column and row populated.
    design : array-like of shape (d_y, n_terms)
        Column covariates ``x_j`` (the first column constant), of full column rank.
    max_iter : int, default=100

    Returns
    -------
    TrendFit

    Raises
    ------
    ValueError
        If the design is rank-deficient or the fit does not converge (a table so sparse that
        some coefficient runs off to infinity).
    """
    with single_threaded_blas():
        return _fit_trend_model(table, design, max_iter)


def _fit_trend_model(table, design, max_iter):
    n = np.asarray(table, dtype=np.float64)
    x = np.asarray(design, dtype=np.float64)
    d_s, d_y = n.shape
    n_terms = x.shape[1]
    if x.shape[0] != d_y:
        raise ValueError(f"the design has {x.shape[0]} rows for {d_y} table columns.")
    if np.linalg.matrix_rank(x) < n_terms:
        raise ValueError(
            f"the trend model has {n_terms} terms per score bin but its {d_y} y bins cannot "
            "determine them all: use more y bins (a smaller rel_uncertainty or more events) or "
            "a lower degree."
        )
    columns = n.sum(axis=0)
    rows = n.sum(axis=1)
    if not (rows > 0).all() or not (columns > 0).all():
        raise ValueError(
            f"the table has {int((rows == 0).sum())} empty score bins and "
            f"{int((columns == 0).sum())} empty y bins; the trend model needs every bin populated."
        )
    m = d_s - 1
    theta = np.zeros((d_s, n_terms))
    # Start from independence: row shares as intercepts (x_j's first column is constant 1).
    theta[:, 0] = np.log(rows / rows[0]) / x[0, 0]
    log_p = _log_probabilities(theta, x)
    loglik = float((n * log_p).sum())
    outer = np.einsum("jk,jl->jkl", x, x).reshape(d_y, n_terms * n_terms)
    n_iter, decrement = 0, np.inf
    while True:
        n_iter += 1
        if n_iter > max_iter:
            raise ValueError(
                f"the smooth-trend fit did not converge in {max_iter} Newton iterations (Newton "
                f"decrement {decrement:.3g}): the table is too sparse for the model. Use coarser "
                "bins (a larger rel_uncertainty) or a lower degree."
            )
        p = np.exp(log_p)
        gradient = ((n - p * columns)[1:] @ x).ravel()
        weighted = columns * p[1:]  # (m, d_y)
        # Fisher information sum_j c_j (diag p_j - p_j p_j^T) (x) x_j x_j^T over rows 1..d_s-1.
        off = -np.einsum("aj,bj,jq->abq", weighted, p[1:], outer, optimize=True)
        diag = weighted @ outer
        off[np.arange(m), np.arange(m)] += diag
        info = (
            off.reshape(m, m, n_terms, n_terms)
            .transpose(0, 2, 1, 3)
            .reshape(m * n_terms, m * n_terms)
        )
        try:
            factor = linalg.cho_factor(info)
            step = linalg.cho_solve(factor, gradient)
        except linalg.LinAlgError:
            step = np.linalg.lstsq(info, gradient, rcond=None)[0]
        decrement = float(gradient @ step)
        if decrement < 1e-9:
            break
        step = step.reshape(m, n_terms)
        scale = 1.0
        while True:
            trial = theta.copy()
            trial[1:] += scale * step
            trial_log_p = _log_probabilities(trial, x)
            trial_loglik = float((n * trial_log_p).sum())
            if trial_loglik >= loglik - 1e-12 * abs(loglik) or scale < 1e-10:
                break
            scale *= 0.5
        theta, log_p, loglik = trial, trial_log_p, trial_loglik
    expected = np.exp(log_p) * columns
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(n > 0, n * np.log(n / expected), 0.0)
    g2 = max(2.0 * float(terms.sum()), 0.0)
    try:
        covariance = linalg.cho_solve(linalg.cho_factor(info), np.eye(m * n_terms))
    except linalg.LinAlgError:
        covariance = np.linalg.pinv(info)
    return TrendFit(
        coefficients=theta,
        expected=expected,
        g2=g2,
        covariance=covariance.reshape(m, n_terms, m, n_terms),
        n_iter=n_iter,
    )


def bootstrap_batch(rng, n, expected, design, alternative_design):
    """``n`` statistics of tables drawn from a fitted model and refitted (parametric bootstrap).

    Every column keeps its observed total and is multinomial with the fitted shares; each table
    is refitted with ``design``: the statistic's law under the fitted model, bins held fixed.
    The statistic is G^2, or with ``alternative_design`` the likelihood ratio
    ``G^2(design) - G^2(alternative_design)`` (clipped at 0).
    """
    columns = np.rint(expected.sum(axis=0)).astype(np.int64)
    shares = expected / expected.sum(axis=0, keepdims=True)
    out = np.empty(n)
    for k in range(n):
        table = np.stack([rng.multinomial(c, shares[:, j]) for j, c in enumerate(columns)], axis=1)
        null_fit = fit_trend_model(table, design)
        if alternative_design is None:
            out[k] = null_fit.g2
        else:
            out[k] = max(null_fit.g2 - fit_trend_model(table, alternative_design).g2, 0.0)
    return out


@dataclass(frozen=True, eq=False)
class TrendStatistic:
    """The fits of the trend model to a table and the test statistic they give.

    Attributes
    ----------
    null_fit : TrendFit
        The degree-K trend model (the null).
    sr_fit : TrendFit or None
        With one signal-region term per score bin (``alternative="signal_region"``).
    null_design, sr_design : ndarray or None
        Their designs (:func:`trend_design`).
    statistic : float
        G^2 of the null fit (``"any"``) or ``G^2_K - G^2_{K+SR}`` (``"signal_region"``).
    dof : int
        Degrees of freedom of its chi^2 law.
    trend_z : float
        Z of the trend against none (degree 0): how strongly the score follows m_jj.
    """

    null_fit: TrendFit
    sr_fit: TrendFit | None
    null_design: np.ndarray
    sr_design: np.ndarray | None
    statistic: float
    dof: int
    trend_z: float


def trend_statistic(table, u, degree, in_sr, alternative) -> TrendStatistic:
    """Fit the degree-K trend model (and its signal-region extension) and form the statistic.

    ``alternative="any"``: G^2 of the trend model, chi^2 with ``(d_s - 1)(d_y - 1 - K)`` dof.
    ``"signal_region"``: the likelihood ratio ``G^2_K - G^2_{K+SR}`` of one extra term per
    score bin confined to the signal region bins ``in_sr``, chi^2 with ``d_s - 1`` dof.
    """
    d_s, d_y = table.shape
    design = trend_design(u, degree)
    null_fit = fit_trend_model(table, design)
    # How strongly the data's score follows m_jj: the trend against no trend at all.
    trend_z = 0.0
    if degree > 0:
        flat = fit_trend_model(table, trend_design(u, 0))
        trend_z = log_pvalue_to_significance(
            chi2_log_sf(max(flat.g2 - null_fit.g2, 0.0), (d_s - 1) * degree)
        )
    if alternative == "signal_region":
        sr_design = trend_design(u, degree, in_sr)
        sr_fit = fit_trend_model(table, sr_design)
        statistic, dof = max(null_fit.g2 - sr_fit.g2, 0.0), d_s - 1
    else:
        sr_design = sr_fit = None
        statistic, dof = null_fit.g2, (d_s - 1) * (d_y - 1 - degree)
    return TrendStatistic(null_fit, sr_fit, design, sr_design, statistic, dof, trend_z)
