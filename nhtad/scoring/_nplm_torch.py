"""NPLM's kernel model in torch: the fit of every width, and f(x) on new events.

The default path of :class:`~nhtad.scoring.NPLMKernelEstimator` (``backend="torch"``), next to
the real falkon library's (:mod:`._falkon_backend`). The kernel operator is
:mod:`.kernel_operator`, the Newton/CG solver :mod:`.nystrom` and the losses :mod:`.nplm_losses`.
"""

from __future__ import annotations

import logging

import numpy as np

from ..utils.progress import progress
from .kernel_operator import NystromKernel, SquaredDistances

__all__ = ["fit_with_torch", "evaluate_with_torch"]

logger = logging.getLogger(__name__)


def _centre_labels(torch, device, y_t, omega_t, centre_idx, n_centres, estimator, is_data):
    """Labels and loss weights of the centres, for the Nyström preconditioner."""
    if centre_idx is not None and np.all(centre_idx >= 0):
        idx = torch.as_tensor(centre_idx, device=device)
        return y_t[idx], omega_t[idx]
    # Centres that are not training rows have no label: give them the curvature the pooled
    # rows have on average, (N_D + w N_R) / N times the loss's own factor.
    known = centre_idx if centre_idx is not None else np.full(n_centres, -1)
    c_y = torch.full((n_centres,), float(is_data.mean()), dtype=torch.float64, device=device)
    c_omega = torch.full(
        (n_centres,),
        (estimator.n_data_ + estimator.weight_ * estimator.n_reference_) / is_data.size,
        dtype=torch.float64,
        device=device,
    )
    rows = np.flatnonzero(known >= 0)
    if rows.size:
        sel = torch.as_tensor(known[rows], device=device)
        c_y[torch.as_tensor(rows, device=device)] = y_t[sel]
        c_omega[torch.as_tensor(rows, device=device)] = omega_t[sel]
    return c_y, c_omega


def fit_with_torch(torch, device, Z, is_data, centre_idx, centre_coords, sigmas, estimator):
    """Fit every width with nhtad's Nyström solver (:func:`~nhtad.scoring.nystrom.solve_nystrom`).

    Parameters
    ----------
    torch : module
    device : torch.device
    Z : ndarray of shape (N, n_features)
        Pooled rows in the units the kernel sees.
    is_data : ndarray of bool of shape (N,)
    centre_idx : ndarray of int or None
        Rows of ``Z`` the centres are (-1 where not a row).
    centre_coords : ndarray of shape (M, n_features)
    sigmas : ndarray of shape (n_sigmas,)
    estimator : NPLMKernelEstimator
        Its settings (``lam``, ``loss``, CG and Newton tolerances, ``max_memory``, ...) and
        ``weight_``, ``n_data_``, ``n_reference_``.

    Returns
    -------
    results : list of dict
        Per width: ``alpha``, ``f`` (on the rows of ``Z``), ``cg_iterations``, ``newton_steps``,
        ``gradient_norm``, ``newton_decrement`` (the layout of the falkon path).
    storage : {"stored", "recomputed"}
        Whether K_NM was kept in memory.
    """
    from .nplm_losses import LOSSES
    from .nystrom import solve_nystrom

    n_events, m = Z.shape[0], centre_coords.shape[0]
    # torch.tensor copies: the input may be a read-only memmap, which torch cannot wrap.
    X_t = torch.tensor(Z, dtype=torch.float64, device=device)
    C_t = torch.tensor(centre_coords, dtype=torch.float64, device=device)
    y_t = torch.as_tensor(is_data, dtype=torch.float64, device=device)
    omega_t = torch.where(y_t > 0.5, 1.0, estimator.weight_).to(torch.float64)
    c_y, c_omega = _centre_labels(torch, device, y_t, omega_t, centre_idx, m, estimator, is_data)

    kernel_bytes = 8 * n_events * m
    several = sigmas.size > 1
    store_kernel = kernel_bytes <= estimator.max_memory
    store_distances = several and 2 * kernel_bytes <= estimator.max_memory
    distances = SquaredDistances(X_t, C_t, store=store_distances)
    buffer = None
    loss = LOSSES[estimator.loss]
    solver = estimator._resolved_solver()
    results = []
    for sigma in progress(sigmas, total=sigmas.size, verbose=estimator.verbose, desc="NPLM widths"):
        kernel = NystromKernel(distances, float(sigma), store=store_kernel, buffer=buffer)
        buffer = kernel.matrix
        solution = solve_nystrom(
            kernel,
            C_t,
            y_t,
            omega_t,
            c_y,
            c_omega,
            lam=float(estimator.lam),
            loss=loss,
            procedure=solver,
            cg_tol=float(estimator.cg_tol),
            cg_rtol=float(estimator.cg_rtol),
            max_cg_iter=int(estimator.max_cg_iter),
            max_newton_steps=int(estimator.max_newton_steps),
            newton_tol=float(estimator.newton_tol),
            preconditioner_scale=estimator._resolved_scale(),
            reference_weight=estimator.weight_,
        )
        results.append(
            {
                "alpha": solution.alpha.cpu().numpy(),
                "f": solution.f.cpu().numpy(),
                "cg_iterations": list(solution.cg_iterations),
                "newton_steps": solution.newton_steps,
                "gradient_norm": solution.gradient_norm,
                "newton_decrement": solution.newton_decrement,
            }
        )
        logger.info(
            "NPLM sigma=%g: CG iterations %s, Newton steps %d",
            sigma,
            solution.cg_iterations,
            solution.newton_steps,
        )
    return results, "stored" if store_kernel else "recomputed"


def evaluate_with_torch(torch, device, X, centres, sigmas, alphas) -> np.ndarray:
    """``f(x) = k(x, centres) @ alpha`` for every width, without storing the kernel.

    Returns
    -------
    ndarray of shape (n_events, n_sigmas)
    """
    X_t = torch.tensor(X, dtype=torch.float64, device=device)
    C_t = torch.tensor(centres, dtype=torch.float64, device=device)
    distances = SquaredDistances(X_t, C_t, store=False)
    out = np.empty((X.shape[0], sigmas.size))
    for j, sigma in enumerate(sigmas):
        kernel = NystromKernel(distances, float(sigma), store=False)
        alpha = torch.as_tensor(alphas[j], dtype=torch.float64, device=device)
        out[:, j] = kernel.matvec(alpha).cpu().numpy()
    return out
