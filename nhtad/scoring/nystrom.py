"""FALKON-style Nyström kernel solver: preconditioned conjugate gradient inside Newton steps.

The model is f(x) = sum_j alpha_j k(x, c_j) on M centres, fitted by minimising

    J(alpha) = (1/N) sum_i l(y_i, f_i) + (lam / 2) alpha^T K_MM alpha

over all N pooled rows (falkon's scaling). Following falkon's ``LogisticFalkon`` (v0.9.0,
``reference/nplm_falkon.md`` Secs. 4.3 and 10):

- coordinates beta = T alpha, with T the upper Cholesky factor of K_MM + 1e-13 M I;
- gradient g = T^{-T} (1/N) K_MN l'(f) + lam beta and Hessian
  H = T^{-T} (1/N) K_MN diag(l''(f)) K_NM T^{-1} + lam I;
- preconditioner A, upper Cholesky factor of c T diag(W_c) T^T + lam I, the Nyström
  approximation of H with W_c the curvature at the centres and c = 1/N (falkon) or 1/M;
- CG on (A^{-T} H A^{-1}) z = A^{-T} g from z = 0, then beta <- beta - s A^{-1} z.

Three procedures are offered:

- ``"falkon"``: one undamped Newton step from f = 0 with falkon's CG stopping rule (absolute
  ``||r||^2 < cg_tol^2`` on the preconditioned residual, residual recomputed every 10th
  iteration, 1e-15 guards). NPLM-Falkon runs exactly this, so its published null
  distributions apply; the CG truncation moves t at the 1e-4 level, which is why it is replicated.
- ``"exact"``: the same single Newton step, with CG solved to a relative residual ``cg_rtol``.
- ``"converged"``: Newton steps with CG solved to ``cg_rtol`` and a backtracking line search on
  J (damped Newton; both losses are convex), stopped on the Newton decrement.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field

import torch
from sklearn.exceptions import ConvergenceWarning

from .kernel_operator import NystromKernel, gaussian_kernel

__all__ = ["NystromSolution", "conjugate_gradient", "solve_nystrom", "upper_cholesky"]

logger = logging.getLogger(__name__)

# falkon's float64 defaults: pc_epsilon_64 (jitter per centre) and cg_epsilon_64.
JITTER = 1e-13
CG_EPSILON = 1e-15
CG_REFRESH_EVERY = 10
# Damped Newton needs no CG solve tighter than this: near the solution the right-hand side is
# tiny, CG's rounding floor relative to it rises, and the Newton decrement, the only use of the
# last solve, is already accurate to 1e-5.
_FORCING_FLOOR = 1e-5
_STALL_ITERATIONS = 50


@dataclass
class NystromSolution:
    """What one Nyström fit returns.

    Attributes
    ----------
    alpha : torch.Tensor of shape (M,)
        Kernel coefficients: f(x) = k(x, C) @ alpha.
    f : torch.Tensor of shape (N,)
        In-sample values of f on the training rows, in their order.
    cg_iterations : list of int
        CG iterations of each Newton step.
    newton_steps : int
        Newton steps taken (updates applied).
    gradient_norm : float
        ||g|| in beta coordinates at the returned solution (``nan`` after a single Newton
        step, where computing it would cost an extra kernel pass nothing uses).
    newton_decrement : float
        ``N * g^T H^{-1} g / 2`` at the returned solution: the decrease of the summed loss
        still available (in units of the NPLM ``L``; t can still move by twice this).
    converged : bool
        Whether the stopping rule was met (always True for the one-step recipe).
    """

    alpha: torch.Tensor
    f: torch.Tensor
    cg_iterations: list = field(default_factory=list)
    newton_steps: int = 0
    gradient_norm: float = float("nan")
    newton_decrement: float = float("nan")
    converged: bool = True


def upper_cholesky(matrix, what: str):
    """Upper Cholesky factor U with U^T U = matrix, or a ValueError that says what to change."""
    if not bool(torch.isfinite(matrix).all()):
        # Not a conditioning problem, so "increase lam" would be the wrong advice.
        raise ValueError(
            f"the {what} holds NaN or inf: a kernel value or a weight overflowed before the "
            "factorisation (features or centres on a scale near 1e153, or a huge reference "
            "weight w = expected_n_data / N_ref). Put the features on a scale of order 1 "
            "(standardize=True) and check expected_n_data; raising lam cannot fix this."
        )
    lower, info = torch.linalg.cholesky_ex(matrix)
    if int(info) != 0:
        raise ValueError(
            f"the {what} is not positive definite (Cholesky failed at column {int(info)}). "
            "Increase lam, reduce the kernel width sigma, or use fewer centres."
        )
    return lower.mT


def conjugate_gradient(
    operator,
    rhs,
    *,
    tol=None,
    rtol=None,
    max_iter: int,
    refresh_every: int = CG_REFRESH_EVERY,
    eps: float = CG_EPSILON,
    stall_iter: int | None = None,
):
    """Conjugate gradient from x = 0, as falkon's ``ConjugateGradient`` runs it.

    Stops right after the iteration in which ``||r||^2 < tol^2`` (absolute, falkon's rule) or
    ``||r|| < rtol ||rhs||``. The residual is recomputed as ``rhs - operator(x)`` every
    ``refresh_every`` iterations so rounding cannot drift it away from the true residual.
    With ``stall_iter``, it also gives up when the residual norm has not halved in that many
    iterations (the float64 rounding floor; falkon has no such rule, so the replica passes None).

    Returns
    -------
    x : torch.Tensor
    n_iter : int
        Iterations run, the last one included (falkon's count).
    converged : bool
    """
    if tol is not None:
        threshold = float(tol) ** 2
    else:
        threshold = (float(rtol) * float(torch.linalg.vector_norm(rhs))) ** 2
    x = torch.zeros_like(rhs)
    r = rhs.clone()
    if float(r @ r) < threshold:
        return x, 0, True
    p = r.clone()
    rs_old = r @ r
    best, since_best = float(rs_old), 0
    for it in range(max_iter):
        Ap = operator(p)
        step = rs_old / (p @ Ap + eps)
        x.add_(step * p)
        if (it + 1) % refresh_every == 0:
            r = rhs - operator(x)
        else:
            r.sub_(step * Ap)
        rs_new = r @ r
        if float(rs_new) < threshold:
            return x, it + 1, True
        if float(rs_new) < 0.25 * best:
            best, since_best = float(rs_new), 0
        else:
            since_best += 1
            if stall_iter is not None and since_best >= stall_iter:
                return x, it + 1, False
        p = r + (rs_new / (rs_old + eps)) * p
        rs_old = rs_new
    return x, max_iter, False


class _Triangular:
    """Solves with an upper-triangular factor U: U^{-1} v and U^{-T} v for vectors."""

    def __init__(self, upper):
        self.upper = upper

    def solve(self, v):
        return torch.linalg.solve_triangular(self.upper, v[:, None], upper=True)[:, 0]

    def solve_t(self, v):
        return torch.linalg.solve_triangular(self.upper.mT, v[:, None], upper=False)[:, 0]


def solve_nystrom(
    kernel: NystromKernel,
    centres,
    y,
    omega,
    centre_y,
    centre_omega,
    *,
    lam: float,
    loss,
    procedure: str = "falkon",
    cg_tol: float = math.sqrt(1e-7),
    cg_rtol: float = 1e-7,
    max_cg_iter: int = 1000,
    max_newton_steps: int = 30,
    newton_tol: float = 1e-6,
    preconditioner_scale: str = "n",
    reference_weight: float = 1.0,
) -> NystromSolution:
    """Fit the Nyström model by Newton-CG (``procedure`` "falkon", "exact" or "converged").

    Parameters
    ----------
    kernel : NystromKernel
        K_NM for the training rows and centres.
    centres : torch.Tensor of shape (M, d)
    y, omega : torch.Tensor of shape (N,)
        Labels (1 data, 0 reference) and row weights (1 data, w reference).
    centre_y, centre_omega : torch.Tensor of shape (M,)
        Labels and weights of the centres' own rows (falkon's ``y_centers``).
    lam : float
        Ridge penalty (falkon's ``penalty``).
    loss : WeightedCrossEntropy or NPLMLoss
    procedure : {"falkon", "exact", "converged"}
        See the module docstring.
    cg_tol : float
        Absolute CG tolerance of the ``"falkon"`` procedure (NPLM-Falkon: sqrt(1e-7)).
    cg_rtol : float
        Relative CG tolerance of the ``"exact"`` procedure. The ``"converged"`` procedure
        solves each Newton system to ``max(cg_rtol, 1e-5, min(0.1, sqrt(||g|| / ||g_0||)))``
        (inexact Newton: early steps need no accurate solve). Float64 CG on these systems
        stalls near 1e-8 relative, so much smaller values only cost iterations.
    max_cg_iter, max_newton_steps : int
        Iteration caps. falkon's recipe caps CG at 1e6 iterations (in effect, never).
    newton_tol : float
        ``"converged"`` stops when the Newton decrement ``N g^T H^{-1} g / 2`` (the summed loss
        a full Newton step would still gain) is below this, so t is then converged to about
        ``2 * newton_tol`` absolute. Below ~1e-8 the sums over N rows hit rounding.
    preconditioner_scale : {"n", "m"}
        c = 1/N as falkon's code, or 1/M as the Nyström approximation suggests (fewer CG
        iterations, different CG truncation).
    reference_weight : float
        w, used by the NPLM loss's centre curvature.
    """
    n_points = kernel.n_points
    n_centres = centres.shape[0]
    dtype, device = centres.dtype, centres.device
    eye = torch.eye(n_centres, dtype=dtype, device=device)

    k_mm = gaussian_kernel(centres, centres, kernel.sigma)
    T = _Triangular(upper_cholesky(k_mm + JITTER * n_centres * eye, "centre kernel matrix K_MM"))
    scale = 1.0 / n_points if preconditioner_scale == "n" else 1.0 / n_centres
    reference_fraction = float((y < 0.5).sum()) / n_points
    one_step = procedure in ("falkon", "exact")
    falkon_cg = procedure == "falkon"

    beta = torch.zeros(n_centres, dtype=dtype, device=device)
    f = torch.zeros(n_points, dtype=dtype, device=device)
    solution = NystromSolution(alpha=beta, f=f)
    first_gradient_norm = None
    for step in range(max_newton_steps + 1):
        grad_rows, hess_rows = loss.derivatives(f, y, omega)
        g = T.solve_t(kernel.rmatvec(grad_rows) / n_points) + lam * beta
        gradient_norm = float(torch.linalg.vector_norm(g))
        if first_gradient_norm is None:
            first_gradient_norm = gradient_norm
        if not one_step:
            solution.gradient_norm = gradient_norm
        if step == max_newton_steps:
            solution.converged = False
            break
        # f at the centres is T^T beta, up to the jitter (falkon's choice too).
        f_centres = T.upper.mT @ beta
        curvature = loss.centre_curvature(
            f_centres,
            centre_y,
            centre_omega,
            reference_weight=reference_weight,
            reference_fraction=reference_fraction,
        )
        A = _Triangular(
            upper_cholesky(
                scale * (T.upper * curvature[None, :]) @ T.upper.mT + lam * eye,
                "Newton preconditioner",
            )
        )

        def operator(v, A=A, hess_rows=hess_rows):
            va = A.solve(v)
            h = kernel.hessvec(T.solve(va), hess_rows) / n_points
            return A.solve_t(T.solve_t(h) + lam * va)

        if falkon_cg or one_step:
            rtol = cg_rtol
        else:
            forcing = math.sqrt(gradient_norm / first_gradient_norm) if first_gradient_norm else 0.0
            rtol = max(cg_rtol, _FORCING_FLOOR, min(0.1, forcing))
        z, n_iter, cg_ok = conjugate_gradient(
            operator,
            A.solve_t(g),
            tol=cg_tol if falkon_cg else None,
            rtol=None if falkon_cg else rtol,
            max_iter=max_cg_iter,
            stall_iter=None if one_step else _STALL_ITERATIONS,
        )
        solution.cg_iterations.append(n_iter)
        # A stalled solve inside damped Newton is harmless: the line search and the decrement
        # test decide what happens next.
        if not cg_ok and one_step:
            warnings.warn(
                f"CG stopped at max_cg_iter={max_cg_iter} before reaching its tolerance in "
                f"Newton step {step + 1}; raise max_cg_iter or lam.",
                ConvergenceWarning,
                stacklevel=3,
            )
        direction = -A.solve(z)
        decrement = 0.5 * n_points * float(-(g @ direction))
        solution.newton_decrement = decrement
        if one_step:
            beta = beta + direction
            solution.newton_steps = 1
            break
        if decrement < newton_tol:
            break
        f_step = kernel.matvec(T.solve(direction))
        s = _backtracking(loss, f, f_step, y, omega, beta, direction, g, lam)
        if s == 0.0:
            warnings.warn(
                "the Newton line search found no decrease (rounding floor reached); "
                f"stopping with Newton decrement {decrement:.3g}.",
                ConvergenceWarning,
                stacklevel=3,
            )
            solution.converged = False
            break
        beta = beta + s * direction
        f = f + s * f_step
        solution.newton_steps += 1
        logger.debug(
            "Newton step %d: step %.3g, decrement %.3g, CG %d", step + 1, s, decrement, n_iter
        )

    alpha = T.solve(beta)
    solution.alpha = alpha
    # falkon predicts with K_NM alpha after the fit; recomputing (rather than reusing the
    # iterate f) keeps in-sample and out-of-sample f the same function.
    solution.f = kernel.matvec(alpha)
    return solution


def _objective(loss, f, y, omega, beta, lam):
    n = f.shape[0]
    return float(loss.value(f, y, omega).sum()) / n + 0.5 * lam * float(beta @ beta)


def _backtracking(loss, f, f_step, y, omega, beta, direction, g, lam, *, c=1e-4, shrink=0.5):
    """Armijo backtracking on J along the Newton direction; every trial costs no kernel pass."""
    j0 = _objective(loss, f, y, omega, beta, lam)
    slope = float(g @ direction)
    s = 1.0
    for _ in range(40):
        j = _objective(loss, f + s * f_step, y, omega, beta + s * direction, lam)
        if math.isfinite(j) and j <= j0 + c * s * slope:
            return s
        s *= shrink
    return 0.0
