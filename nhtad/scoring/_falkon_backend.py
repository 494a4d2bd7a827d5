"""Optional path through the real falkon library (FalkonML/falkon, v0.9), when it imports.

It builds ``LogisticFalkon`` exactly as NPLM-Falkon does (``reference/nplm_falkon.md``
Sec. 4.1; ``golden/README.md`` recipe): ``GaussianKernel(sigma)``,
``WeightedCrossEntropyLoss(kernel, neg_weight=w)``, ``penalty_list=[lam]``,
``iter_list=[1_000_000]``, ``FalkonOptions(cg_tolerance=cg_tol, keops_active="no")`` and the
centres fixed through ``FixedSelector``, with labels Y of shape (N, 1) in float64. falkon is
never required: nhtad's own solver reproduces it (``tests/test_nplm_golden.py``).
"""

from __future__ import annotations

import numpy as np

from ..utils.optional import import_optional
from ..utils.progress import progress

__all__ = ["fit_with_falkon"]

_FALKON_MAX_CG_ITERATIONS = 1_000_000


def fit_with_falkon(Z, is_data, centre_idx, sigmas, estimator, *, verbose=0):
    """Fit every width with falkon's ``LogisticFalkon``; same result layout as the torch path."""
    torch = import_optional("torch", "torch", "NPLMKernelEstimator(backend='falkon')")
    try:
        import falkon
        from falkon.center_selection import FixedSelector
        from falkon.gsc_losses import WeightedCrossEntropyLoss
        from falkon.kernels import GaussianKernel
        from falkon.options import FalkonOptions
    except ImportError as exc:
        raise ImportError(
            "backend='falkon' needs the falkon library (FalkonML/falkon, not on PyPI), which "
            "does not import here. Use the default backend='torch', which reproduces it."
        ) from exc

    X = torch.tensor(Z, dtype=torch.float64)  # a copy: Z may be a read-only memmap
    Y = torch.from_numpy(is_data.astype(np.float64)).reshape(-1, 1)
    if centre_idx is None or np.any(centre_idx < 0):
        raise ValueError(
            "backend='falkon' needs centres that are rows of X (falkon's preconditioner uses "
            "the centres' labels): pass centers as row indices or draw them with random_state."
        )
    idx = torch.from_numpy(np.asarray(centre_idx, dtype=np.int64))
    use_cpu = str(estimator.device).startswith("cpu")
    results = []
    for sigma in progress(sigmas, total=len(sigmas), verbose=verbose, desc="falkon widths"):
        kernel = GaussianKernel(float(sigma))
        selector = FixedSelector(centers=X[idx], y_centers=Y[idx], idx_centers=idx)
        model = falkon.LogisticFalkon(
            kernel=kernel,
            penalty_list=[float(estimator.lam)],
            iter_list=[_FALKON_MAX_CG_ITERATIONS],
            loss=WeightedCrossEntropyLoss(kernel=kernel, neg_weight=estimator.weight_),
            M=int(idx.shape[0]),
            center_selection=selector,
            options=FalkonOptions(
                cg_tolerance=float(estimator.cg_tol),
                keops_active="no",
                use_cpu=use_cpu,
                debug=False,
            ),
        )
        model.fit(X, Y)
        f = model.predict(X).reshape(-1).cpu().numpy()
        results.append(
            {
                "alpha": model.alpha_.reshape(-1).cpu().numpy(),
                "f": f,
                "cg_iterations": [],
                "newton_steps": 1,
                "gradient_norm": float("nan"),
                "newton_decrement": float("nan"),
            }
        )
    return results
