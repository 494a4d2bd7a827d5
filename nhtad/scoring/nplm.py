"""NPLM with a FALKON-style kernel model (Grosso, Sengupta, Golling, Harris, EPJC 85, 1074 (2025)).

The New Physics Learning Machine fits the log density ratio f(x) = log[n(x | data) / n(x | R)]
between the data and a reference sample of the background, and tests the background-only
hypothesis with t = -2 min_f L[f], L = sum_R w (e^f - 1) - sum_D f (D'Agnolo & Wulzer). The
kernel version (NPLM-Falkon, Letizia et al., EPJC 82, 879 (2022)) restricts f to Gaussian kernels
on M Nyström centres. ``reference/nplm_falkon.md`` describes the recipe this estimator follows.
"""

from __future__ import annotations

import logging
import math
import numbers

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils.optional import import_optional
from ..utils.progress import progress
from ..utils.random import as_seed_sequence
from ..utils.validation import check_positive_int
from .kernel_operator import DEFAULT_MAX_MEMORY
from .kernel_width import candidate_sigma

__all__ = ["NPLMKernelEstimator"]

logger = logging.getLogger(__name__)

_LOSSES = ("falkon", "nplm")
_SOLVERS = ("auto", "falkon", "exact", "converged")
_BACKENDS = ("torch", "falkon")
#: falkon's ``cg_tolerance`` in NPLM-Falkon (``FalkonOptions(cg_tolerance=np.sqrt(1e-7))``).
FALKON_CG_TOLERANCE = math.sqrt(1e-7)


class NPLMKernelEstimator(ClassifierMixin, BaseEstimator):
    """NPLM test statistic and learned log density ratio with a Nyström Gaussian-kernel model.

    ``fit(X, y)`` takes the pooled sample with ``y = 1`` for data and ``y = 0`` for the
    reference (background) sample, learns f(x) on M centres and sets ``statistic_``:

        t = 2 [ sum_R w (1 - e^{f(x)}) + sum_D f(x) ] = -2 L[f]

    on the training rows, with ``w = expected_n_data / N_ref`` (Grosso et al., Sec. 2;
    NPLM-FLK ``compute_t``). The default is the NPLM-Falkon recipe exactly (falkon's
    ``LogisticFalkon`` with ``WeightedCrossEntropyLoss``, one Newton step from f = 0, its
    preconditioner and CG stopping rule, float64), so published null distributions of t apply.

    Parameters
    ----------
    sigma : float, sequence of float or None, default=None
        Gaussian width(s), k(x, c) = exp(-||x - c||^2 / (2 sigma^2)). A sequence fits every
        width on the same sample and centres, and ``statistic_`` is then one t per width.
        ``None`` takes the ``sigma_percentile`` of pairwise distances of the reference rows.
    sigma_percentile : float or sequence of float, default=90
        Used when ``sigma`` is None (see :func:`~nhtad.scoring.candidate_sigma`).
    sigma_decimals : int or None, default=1
        Rounding of the percentile width, as the recipe does.
    n_centers : int or "sqrt", default="sqrt"
        Number M of Nyström centres drawn from the pooled rows. ``"sqrt"`` is
        ``int(sqrt(N))`` (kernel-nplm's default); NPLM-Falkon studies use fixed M (e.g. 853,
        1000, 2000, 10000).
    lam : float, default=1e-6
        Ridge penalty (falkon's ``penalty``) in J = (1/N) sum l + (lam/2) alpha^T K_MM alpha.
    centers : array-like or None, default=None
        Fixed centres: an integer array of row indices of ``X``, or an (M, n_features) array of
        coordinates. Coordinates that are rows of ``X`` take those rows' labels for falkon's
        preconditioner; others get the average curvature. Overrides ``n_centers`` and the
        random draw.
    loss : {"falkon", "nplm"}, default="falkon"
        ``"falkon"``: falkon's weighted cross-entropy, the loss NPLM-Falkon trains with.
        ``"nplm"``: the NPLM loss L itself.
    solver : {"auto", "falkon", "exact", "converged"}, default="auto"
        ``"falkon"``: one Newton step from f = 0 with falkon's CG stopping rule (the recipe).
        ``"exact"``: the same step solved to convergence. ``"converged"``: damped Newton to
        the minimum. ``"auto"`` is ``"falkon"`` for ``loss="falkon"`` and ``"converged"``
        for ``loss="nplm"``. The converged NPLM loss gives t about 20% larger than the recipe,
        with a different null distribution: calibrate it on its own toys.
    cg_tol : float, default=sqrt(1e-7)
        Absolute tolerance on the preconditioned CG residual (falkon's ``cg_tolerance``), used
        by ``solver="falkon"``.
    cg_rtol : float, default=1e-7
        Relative CG tolerance for the ``"exact"`` and ``"converged"`` solvers.
    max_cg_iter : int, default=1000
        CG iteration cap per Newton step.
    newton_tol : float, default=1e-6
        ``"converged"`` stops once a Newton step would lower L by less than this.
    max_newton_steps : int, default=30
    preconditioner_scale : {"auto", "n", "m"}, default="auto"
        Scale of the Nyström preconditioner: falkon's 1/N (``"n"``) or 1/M (``"m"``), which
        takes fewer CG iterations for smooth kernels (measured 20 -> 9 at sigma = 4.3, d = 5,
        M = 500) but can take more for narrow ones, and with the recipe's CG tolerance moves t
        by ~1e-4. ``"auto"`` is ``"n"`` for ``loss="falkon"`` (faithful) and ``"m"`` for
        ``loss="nplm"``.
    expected_n_data : float or None, default=None
        N(R), the expected number of data events under the null; ``w = expected_n_data /
        N_ref``. ``None`` uses the observed number of data rows. With Poisson-fluctuated toys,
        pass the mean so that w stays fixed.
    standardize : bool, default=False
        Standardise features with the reference rows' mean and standard deviation first (the
        recipe's step 1); the widths then refer to standardised units.
    max_memory : int, default=8 GiB
        Bytes the stored kernel matrices may take. When ``8 N M`` bytes (twice that for several
        widths) exceed it, kernel tiles are recomputed on every pass and never stored whole.
    backend : {"torch", "falkon"}, default="torch"
        ``"falkon"`` runs the recipe through the real falkon library when it is installed.
    device : str, default="cpu"
        torch device, e.g. ``"cuda"``.
    random_state : None, int, RandomState, Generator or SeedSequence, default=None
        Draws the centres as ``numpy.random.default_rng(random_state).choice(N, M,
        replace=False)``, exactly falkon's uniform centre selection for an int seed.
    verbose : int, default=0
        Progress bar over the widths when > 0.

    Attributes
    ----------
    statistic_ : float or ndarray of shape (n_sigmas,)
        The NPLM test statistic t (one per width when ``sigma`` is a sequence).
    sigma_ : float or ndarray of shape (n_sigmas,)
        The width(s) used.
    centers_ : ndarray of shape (M, n_features)
        Centre coordinates, in input units.
    center_indices_ : ndarray of shape (M,) or None
        Rows of the training ``X`` the centres are, when they are rows.
    alpha_ : ndarray of shape (M,) or (n_sigmas, M)
        Kernel coefficients, ``f(x) = k(x, centers_) @ alpha_`` (in standardised units if
        ``standardize``).
    weight_ : float
        w = expected_n_data / N_ref.
    data_term_, reference_term_ : float or ndarray
        The two parts of t: ``2 sum_D f`` and ``2 w sum_R (1 - e^f)``.
    reference_sum_exp_ : float or ndarray
        ``w sum_R e^f``, the data count the fitted density ratio predicts (close to N_D).
    cg_iterations_ : list
        CG iterations per Newton step (a list per width when ``sigma`` is a sequence).
    newton_steps_, gradient_norm_, newton_decrement_ : int/float or ndarray
        Convergence diagnostics (see :class:`~nhtad.scoring.nystrom.NystromSolution`).
    kernel_storage_ : {"stored", "recomputed"}
        Whether K_NM was kept in memory.
    n_data_, n_reference_ : int
    classes_ : ndarray of [0, 1]
    n_features_in_ : int

    References
    ----------
    Grosso, Sengupta, Golling, Harris, EPJC 85, 1074 (2025); Letizia, Losapio, Rando, Grosso,
    Wulzer, Pierini, Zanetti, Rosasco, EPJC 82, 879 (2022);
    D'Agnolo & Wulzer, PRD 99, 015014 (2019).
    """

    def __init__(
        self,
        sigma=None,
        sigma_percentile=90,
        sigma_decimals=1,
        n_centers="sqrt",
        lam=1e-6,
        centers=None,
        loss="falkon",
        solver="auto",
        cg_tol=FALKON_CG_TOLERANCE,
        cg_rtol=1e-7,
        max_cg_iter=1000,
        newton_tol=1e-6,
        max_newton_steps=30,
        preconditioner_scale="auto",
        expected_n_data=None,
        standardize=False,
        max_memory=DEFAULT_MAX_MEMORY,
        backend="torch",
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.sigma = sigma
        self.sigma_percentile = sigma_percentile
        self.sigma_decimals = sigma_decimals
        self.n_centers = n_centers
        self.lam = lam
        self.centers = centers
        self.loss = loss
        self.solver = solver
        self.cg_tol = cg_tol
        self.cg_rtol = cg_rtol
        self.max_cg_iter = max_cg_iter
        self.newton_tol = newton_tol
        self.max_newton_steps = max_newton_steps
        self.preconditioner_scale = preconditioner_scale
        self.expected_n_data = expected_n_data
        self.standardize = standardize
        self.max_memory = max_memory
        self.backend = backend
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        # A smooth kernel with sqrt(N) centres is a density-ratio estimate, not a tuned
        # classifier of sklearn's toy blobs.
        tags.classifier_tags.poor_score = True
        return tags

    # -- parameters -------------------------------------------------------------------------
    def _resolved_solver(self):
        if self.solver == "auto":
            return "falkon" if self.loss == "falkon" else "converged"
        return self.solver

    def _resolved_scale(self):
        if self.preconditioner_scale == "auto":
            return "n" if self.loss == "falkon" else "m"
        return self.preconditioner_scale

    def _check_params(self):
        for name, value, allowed in (
            ("loss", self.loss, _LOSSES),
            ("solver", self.solver, _SOLVERS),
            ("backend", self.backend, _BACKENDS),
            ("preconditioner_scale", self.preconditioner_scale, ("auto", "n", "m")),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}; got {value!r}.")
        for name in ("lam", "cg_tol", "cg_rtol", "newton_tol"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not value > 0 or not math.isfinite(value):
                raise ValueError(
                    f"{name} must be a positive finite number; got {value!r}. "
                    + ("NPLM-Falkon uses lam=1e-6." if name == "lam" else "")
                )
        check_positive_int(self.max_cg_iter, "max_cg_iter")
        check_positive_int(self.max_newton_steps, "max_newton_steps")
        check_positive_int(self.max_memory, "max_memory", minimum=0)
        if self.backend == "falkon" and (
            self.loss != "falkon" or self._resolved_solver() != "falkon"
        ):
            raise ValueError(
                "backend='falkon' runs falkon's own recipe only: use loss='falkon' and "
                "solver='auto' or 'falkon'."
            )

    # -- fit --------------------------------------------------------------------------------
    def fit(self, X, y):
        """Fit f on the pooled sample and compute the NPLM test statistic.

        Parameters
        ----------
        X : array-like of shape (n_events, n_features)
            Data and reference events, pooled (any order).
        y : array-like of shape (n_events,)
            1 for data events, 0 for reference events.

        Returns
        -------
        self
        """
        self._check_params()
        torch = import_optional("torch", "torch", "NPLMKernelEstimator")
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        is_data = _check_data_reference_labels(y)
        self.classes_ = np.array([0, 1])
        n_events = X.shape[0]
        self.n_data_ = int(is_data.sum())
        self.n_reference_ = n_events - self.n_data_
        expected = self.n_data_ if self.expected_n_data is None else self.expected_n_data
        # bool is an int to Python: True would silently mean one expected event.
        if (
            isinstance(expected, bool)
            or not isinstance(expected, numbers.Real)
            or not math.isfinite(expected)
            or not expected > 0
        ):
            raise ValueError(
                f"expected_n_data must be a positive finite number of events (N(R), the data "
                f"count expected under the null), or None for the number of data rows; got "
                f"{expected!r}."
            )
        self.weight_ = float(expected) / self.n_reference_

        if self.standardize:
            self.feature_mean_, self.feature_scale_ = _reference_moments(X[~is_data])
            with np.errstate(over="ignore"):  # an overflow is refused just below, with advice
                Z = (X - self.feature_mean_) / self.feature_scale_
        else:
            Z = X
        _check_kernel_scale(Z, self.standardize)

        sigmas, scalar_sigma = self._widths(Z[~is_data])
        centre_idx, centre_coords = self._centres(Z, n_events)
        self.center_indices_ = centre_idx
        self.centers_ = (
            centre_coords * self.feature_scale_ + self.feature_mean_
            if self.standardize
            else centre_coords
        )
        self._centres_fit = centre_coords  # in the units the kernel sees

        device = _check_device(torch, self.device)
        if self.backend == "falkon":
            from ._falkon_backend import fit_with_falkon

            results = fit_with_falkon(Z, is_data, centre_idx, sigmas, self, verbose=self.verbose)
            storage = "falkon"
        else:
            results, storage = self._fit_torch(
                torch, device, Z, is_data, centre_idx, centre_coords, sigmas
            )
        self.kernel_storage_ = storage
        self._set_results(results, is_data, sigmas, scalar_sigma)
        return self

    def _widths(self, reference):
        if self.sigma is None:
            widths = candidate_sigma(reference, self.sigma_percentile, decimals=self.sigma_decimals)
        else:
            widths = self.sigma
        arr = np.asarray(widths, dtype=np.float64)
        if arr.ndim > 1 or arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(
                f"sigma must be a positive number or a non-empty 1-D sequence of positive "
                f"numbers (Gaussian kernel widths); got {widths!r}."
            )
        return np.atleast_1d(arr), arr.ndim == 0

    def _centres(self, Z, n_events):
        if self.centers is not None:
            centres = np.asarray(self.centers)
            if centres.ndim == 1 and centres.dtype.kind in "iu":
                if centres.size == 0 or centres.min() < 0 or centres.max() >= n_events:
                    raise ValueError(
                        f"centers given as row indices must lie in [0, {n_events}); got "
                        f"min {centres.min() if centres.size else None}, max "
                        f"{centres.max() if centres.size else None}."
                    )
                if np.unique(centres).size != centres.size:
                    raise ValueError("centers given as row indices must not repeat rows.")
                return centres.astype(np.int64), Z[centres]
            coords = np.asarray(self.centers, dtype=np.float64)
            if coords.ndim != 2 or coords.shape[1] != Z.shape[1] or coords.shape[0] == 0:
                raise ValueError(
                    f"centers must be an integer index array or an (M, {Z.shape[1]}) array of "
                    f"coordinates; got shape {coords.shape}."
                )
            if not np.all(np.isfinite(coords)):
                raise ValueError("centers contain NaN or inf; pass finite coordinates.")
            if self.standardize:
                coords = (coords - self.feature_mean_) / self.feature_scale_
            return _find_rows(Z, coords), coords
        if isinstance(self.n_centers, str):
            if self.n_centers != "sqrt":
                raise ValueError(
                    f"n_centers must be a positive int or 'sqrt'; got {self.n_centers!r}."
                )
            m = max(1, int(math.sqrt(n_events)))
        else:
            m = check_positive_int(self.n_centers, "n_centers")
        if m > n_events:
            raise ValueError(
                f"n_centers={m} is more than the {n_events} events to draw centres from: lower "
                "n_centers (or use 'sqrt') or fit on more events."
            )
        rng = np.random.default_rng(as_seed_sequence(self.random_state))
        idx = rng.choice(n_events, m, replace=False)
        return idx, Z[idx]

    def _fit_torch(self, torch, device, Z, is_data, centre_idx, centre_coords, sigmas):
        from .kernel_operator import NystromKernel, SquaredDistances
        from .nplm_losses import LOSSES
        from .nystrom import solve_nystrom

        n_events, m = Z.shape[0], centre_coords.shape[0]
        # torch.tensor copies: the input may be a read-only memmap, which torch cannot wrap.
        X_t = torch.tensor(Z, dtype=torch.float64, device=device)
        C_t = torch.tensor(centre_coords, dtype=torch.float64, device=device)
        y_t = torch.as_tensor(is_data, dtype=torch.float64, device=device)
        omega_t = torch.where(y_t > 0.5, 1.0, self.weight_).to(torch.float64)
        if centre_idx is not None and np.all(centre_idx >= 0):
            c_y = y_t[torch.as_tensor(centre_idx, device=device)]
            c_omega = omega_t[torch.as_tensor(centre_idx, device=device)]
        else:
            # Centres that are not training rows have no label: give them the curvature the
            # pooled rows have on average, (N_D + w N_R) / N times the loss's own factor.
            known = centre_idx if centre_idx is not None else np.full(m, -1)
            c_y = torch.full((m,), float(is_data.mean()), dtype=torch.float64, device=device)
            c_omega = torch.full(
                (m,),
                (self.n_data_ + self.weight_ * self.n_reference_) / n_events,
                dtype=torch.float64,
                device=device,
            )
            rows = np.flatnonzero(known >= 0)
            if rows.size:
                sel = torch.as_tensor(known[rows], device=device)
                c_y[torch.as_tensor(rows, device=device)] = y_t[sel]
                c_omega[torch.as_tensor(rows, device=device)] = omega_t[sel]

        kernel_bytes = 8 * n_events * m
        several = sigmas.size > 1
        store_kernel = kernel_bytes <= self.max_memory
        store_distances = several and 2 * kernel_bytes <= self.max_memory
        distances = SquaredDistances(X_t, C_t, store=store_distances)
        buffer = None
        loss = LOSSES[self.loss]
        solver = self._resolved_solver()
        results = []
        for sigma in progress(sigmas, total=sigmas.size, verbose=self.verbose, desc="NPLM widths"):
            kernel = NystromKernel(distances, float(sigma), store=store_kernel, buffer=buffer)
            buffer = kernel.matrix
            solution = solve_nystrom(
                kernel,
                C_t,
                y_t,
                omega_t,
                c_y,
                c_omega,
                lam=float(self.lam),
                loss=loss,
                procedure=solver,
                cg_tol=float(self.cg_tol),
                cg_rtol=float(self.cg_rtol),
                max_cg_iter=int(self.max_cg_iter),
                max_newton_steps=int(self.max_newton_steps),
                newton_tol=float(self.newton_tol),
                preconditioner_scale=self._resolved_scale(),
                reference_weight=self.weight_,
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

    def _set_results(self, results, is_data, sigmas, scalar_sigma):
        w = self.weight_
        data_term, ref_term, ref_exp = [], [], []
        for res in results:
            f = res["f"]
            data_term.append(2.0 * float(np.sum(f[is_data])))
            f_ref = f[~is_data]
            ref_term.append(-2.0 * w * float(np.sum(np.expm1(f_ref))))
            ref_exp.append(w * float(np.sum(np.exp(f_ref))))
        with np.errstate(over="ignore", invalid="ignore"):
            t = np.asarray(data_term) + np.asarray(ref_term)
        if not np.all(np.isfinite(t)):
            bad = next(res["f"] for res, t_j in zip(results, t) if not np.isfinite(t_j))
            raise FloatingPointError(_nonfinite_statistic_message(bad, is_data, w))

        def shaped(values, dtype=float):
            arr = np.asarray(values, dtype=dtype)
            return arr[0].item() if scalar_sigma else arr

        self.sigma_ = shaped(sigmas)
        self.statistic_ = shaped(t)
        self.data_term_ = shaped(data_term)
        self.reference_term_ = shaped(ref_term)
        self.reference_sum_exp_ = shaped(ref_exp)
        self.newton_steps_ = shaped([r["newton_steps"] for r in results], int)
        self.gradient_norm_ = shaped([r["gradient_norm"] for r in results])
        self.newton_decrement_ = shaped([r["newton_decrement"] for r in results])
        cg = [r["cg_iterations"] for r in results]
        self.cg_iterations_ = cg[0] if scalar_sigma else cg
        alphas = np.stack([r["alpha"] for r in results])
        self.alpha_ = alphas[0] if scalar_sigma else alphas
        self._scalar_sigma = scalar_sigma

    # -- scores -----------------------------------------------------------------------------
    def decision_function(self, X):
        """The learned log density ratio f(x) = log[n_data(x) / (w n_ref(x))].

        Returns
        -------
        ndarray of shape (n_events,), or (n_events, n_sigmas) for several widths
        """
        check_is_fitted(self, "alpha_")
        torch = import_optional("torch", "torch", "NPLMKernelEstimator")
        from .kernel_operator import NystromKernel, SquaredDistances

        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.standardize:
            X = (X - self.feature_mean_) / self.feature_scale_
        device = _check_device(torch, self.device)
        X_t = torch.tensor(X, dtype=torch.float64, device=device)
        C_t = torch.tensor(self._centres_fit, dtype=torch.float64, device=device)
        distances = SquaredDistances(X_t, C_t, store=False)
        sigmas = np.atleast_1d(self.sigma_)
        alphas = np.atleast_2d(self.alpha_)
        out = np.empty((X.shape[0], sigmas.size))
        for j, sigma in enumerate(sigmas):
            kernel = NystromKernel(distances, float(sigma), store=False)
            alpha = torch.as_tensor(alphas[j], dtype=torch.float64, device=device)
            out[:, j] = kernel.matvec(alpha).cpu().numpy()
        return out[:, 0] if self._scalar_sigma else out

    def predict_proba(self, X):
        """P(data | x) in the training mixture: sigmoid(f(x) + log w).

        With N_D data and N_R reference rows, f estimates log[N_D p_D / (w N_R p_R)], so the
        posterior of the data class is N_D p_D / (N_D p_D + N_R p_R) = sigmoid(f + log w).
        """
        check_is_fitted(self, "alpha_")
        f = self.decision_function(X)
        if f.ndim != 1:
            raise ValueError(
                "predict_proba needs a single width; this estimator was fitted with several "
                "sigma values. Use decision_function, or refit with one sigma."
            )
        p = expit(f + math.log(self.weight_))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """1 (data) where P(data | x) > 1/2, else 0 (reference)."""
        check_is_fitted(self, "alpha_")
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]


def _check_data_reference_labels(y) -> np.ndarray:
    kind = type_of_target(y)
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"Unknown label type: {kind}. y must be 1 for data events and 0 for reference events."
        )
    if kind == "multiclass":
        raise ValueError(
            "Only binary classification is supported. The type of the target is multiclass: "
            "y must be 1 for data events and 0 for reference events."
        )
    y = np.asarray(y)
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise ValueError(
            f"y must be 1 (data) or 0 (reference) for every event; got other values "
            f"{np.unique(y[bad])[:5].tolist()}. "
            "Build it as np.r_[np.ones(n_data), np.zeros(n_ref)]."
        )
    is_data = y == 1
    if is_data.all():
        raise ValueError(
            "Only one class is present in y: there are no reference events (y == 0). NPLM "
            "compares data with a reference sample of the background; add it with y = 0."
        )
    if not is_data.any():
        raise ValueError(
            "Only one class is present in y: there are no data events (y == 1). Add the data "
            "to test with y = 1."
        )
    return is_data


def _reference_moments(ref):
    """Mean and standard deviation (zero replaced by 1) of the reference rows' features."""
    with np.errstate(over="ignore", invalid="ignore"):
        mean, scale = ref.mean(axis=0), ref.std(axis=0)
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
        # Sums and squares of features near 1e154 and beyond overflow float64. The moments of
        # the features divided by their largest magnitude cannot, and scale back without
        # overflow (|mean| and sd of values in [-1, 1] are at most 1). Only then, so that the
        # moments of ordinary features keep their last bits.
        unit = np.max(np.abs(ref), axis=0)
        unit = np.where(unit > 0, unit, 1.0)
        in_units = ref / unit
        mean, scale = in_units.mean(axis=0) * unit, in_units.std(axis=0) * unit
    return mean, np.where(scale > 0, scale, 1.0)


def _check_kernel_scale(Z, standardized: bool) -> None:
    """Refuse features whose squared distances overflow float64 (the kernel would be NaN).

    Such features used to reach the Cholesky factorisation of K_MM as NaN, whose failure was
    reported as "increase lam", advice that cannot help.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        # The kernel expands ||x - c||^2 = ||x||^2 + ||c||^2 - 2 x.c: up to 4 max ||x||^2.
        largest_sq = 4.0 * float(np.max(np.einsum("ij,ij->i", Z, Z)))
    if math.isfinite(largest_sq):
        return
    largest = float(np.max(np.abs(Z)))
    if standardized:
        raise ValueError(
            f"after standardisation with the reference rows' mean and standard deviation, "
            f"some events lie {largest:.3g} standard deviations away: their squared distances "
            f"in the Gaussian kernel overflow float64 (largest 1.8e308), so the kernel is "
            f"undefined. Such events are far outside the reference: check them for corrupt "
            f"values. Raising lam or changing sigma cannot fix this."
        )
    raise ValueError(
        f"the features reach |x| = {largest:.3g}: their squared distances in the Gaussian "
        f"kernel overflow float64 (largest 1.8e308, reached from |x| near 1e154), so the kernel is "
        f"undefined. Put the features on a scale of order 1: standardize=True, or divide them "
        f"by their typical size. Raising lam or changing sigma cannot fix this."
    )


def _nonfinite_statistic_message(f, is_data, weight) -> str:
    """Why t = 2 sum_D f - 2 w sum_R (e^f - 1) is not finite, and what to do about it."""
    f = np.asarray(f, dtype=np.float64)
    if not np.all(np.isfinite(f)):
        n_bad = int(np.count_nonzero(~np.isfinite(f)))
        return (
            f"the NPLM statistic is not finite: the fitted log-ratio f is NaN or inf on {n_bad} "
            f"of {f.size} events, so the Newton solve diverged. Standardise the features "
            f"(standardize=True), raise lam or widen sigma."
        )
    f_ref = f[~np.asarray(is_data)]
    # exp overflows float64 above log(1.8e308) = 709.8.
    if f_ref.size and f_ref.max() > 709.0:
        return (
            f"the NPLM statistic is not finite: the fitted log-ratio f reaches "
            f"{f_ref.max():.3g} on reference events, where exp(f) overflows (above ~709). The "
            f"fit ran away: the kernel isolates single events with too little penalty. Raise "
            f"lam, widen sigma, or use the one-step recipe (loss='falkon', solver='auto')."
        )
    return (
        f"the NPLM statistic is not finite: w * sum_R exp(f) overflows with f at most "
        f"{f.max():.3g} but the reference weight w = expected_n_data / N_ref = {weight:.3g}. "
        f"Check expected_n_data: it is the number of data events expected under the null."
    )


def _check_device(torch, device):
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available in this torch build; "
            "use device='cpu'."
        )
    return dev


def _find_rows(Z, coords):
    """Index of each centre among the rows of Z (-1 where it is not a row), without a loop."""
    both = np.ascontiguousarray(np.vstack([Z, coords]))
    rows = both.view(np.dtype((np.void, both.dtype.itemsize * both.shape[1]))).ravel()
    _, inverse = np.unique(rows, return_inverse=True)
    inverse = inverse.ravel()
    first = np.full(inverse.max() + 1, -1, dtype=np.int64)
    n = Z.shape[0]
    # Assign in reverse so that the first occurrence in Z wins.
    first[inverse[:n][::-1]] = np.arange(n)[::-1]
    return first[inverse[n:]]
