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

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils.optional import import_optional
from ..utils.validation import check_positive_int
from ._nplm_inputs import (
    _check_data_reference_labels,
    _check_device,
    _check_kernel_scale,
    _nonfinite_statistic_message,
    _reference_moments,
    check_positive_finite,
    nystrom_centres,
)
from ._tags import BinaryPhysicsClassifierMixin
from .kernel_operator import DEFAULT_MAX_MEMORY
from .kernel_width import candidate_sigma

__all__ = ["NPLMKernelEstimator"]

logger = logging.getLogger(__name__)

_LOSSES = ("falkon", "nplm")
_SOLVERS = ("auto", "falkon", "exact", "converged")
_BACKENDS = ("torch", "falkon")
#: falkon's ``cg_tolerance`` in NPLM-Falkon (``FalkonOptions(cg_tolerance=np.sqrt(1e-7))``).
FALKON_CG_TOLERANCE = math.sqrt(1e-7)


class NPLMKernelEstimator(BinaryPhysicsClassifierMixin, ClassifierMixin, BaseEstimator):
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
        takes fewer CG iterations for smooth kernels but can take more for narrow ones, and
        with the recipe's CG tolerance moves t slightly (measurements in ``docs/nplm.md``).
        ``"auto"`` is ``"n"`` for ``loss="falkon"`` (faithful) and ``"m"`` for
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
        check_positive_finite(self.lam, "lam", hint=" NPLM-Falkon uses lam=1e-6.")
        for name in ("cg_tol", "cg_rtol", "newton_tol"):
            check_positive_finite(getattr(self, name), name)
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
        expected = check_positive_finite(
            expected,
            "expected_n_data",
            "a positive finite number of events (N(R), the data count expected under the "
            "null), or None for the number of data rows",
        )
        self.weight_ = expected / self.n_reference_

        if self.standardize:
            self.feature_mean_, self.feature_scale_ = _reference_moments(X[~is_data])
            with np.errstate(over="ignore"):  # an overflow is refused just below, with advice
                Z = (X - self.feature_mean_) / self.feature_scale_
        else:
            Z = X
        _check_kernel_scale(Z, self.standardize)

        sigmas, scalar_sigma = self._widths(Z[~is_data])
        centre_idx, centre_coords = nystrom_centres(
            self.centers,
            self.n_centers,
            Z,
            self.random_state,
            mean=self.feature_mean_ if self.standardize else None,
            scale=self.feature_scale_ if self.standardize else None,
        )
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
            from ._nplm_torch import fit_with_torch

            results, storage = fit_with_torch(
                torch, device, Z, is_data, centre_idx, centre_coords, sigmas, self
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
        from ._nplm_torch import evaluate_with_torch

        X = validate_data(self, X, dtype=np.float64, reset=False)
        if self.standardize:
            X = (X - self.feature_mean_) / self.feature_scale_
        device = _check_device(torch, self.device)
        out = evaluate_with_torch(
            torch,
            device,
            X,
            self._centres_fit,
            np.atleast_1d(self.sigma_),
            np.atleast_2d(self.alpha_),
        )
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

    def score(self, X, y, sample_weight=None):
        """NPLM's t of the fitted f on the events ``(X, y)``: larger = more anomalous.

        The extended log-likelihood ratio of Grosso et al. (EPJC 85, 1074 (2025), Sec. 2)
        evaluated with the fitted f instead of its maximum,

            t[f] = 2 [ sum_D f(x) - w' sum_R (e^{f(x)} - 1) ],

        with ``w' = N(R) (n'_D / n_D) / n'_R``: the fit's expected data count N(R) times the
        fraction of the fitted data these data rows are, spread over these reference rows
        (weighted counts with ``sample_weight``). A stratified split gives w' = ``weight_``;
        another split's data/reference imbalance is thus not counted as an excess. On the
        training rows, ``score`` is ``statistic_``.

        On held-out events t[f] / (2 N'(R)) estimates E_D[f] - E_R[e^f - 1], a lower bound on
        KL(data || reference) reached only by the true density ratio: ``GridSearchCV`` over
        ``sigma`` or ``lam`` (which maximises ``score``) picks the model that generalises, and
        a width that fits fluctuations scores lower, not higher. Under the null its expectation
        is <= 0 for every f. It is not a p-value and has no known null law: a width chosen on
        the data is tested honestly only by toys that repeat the choice, or by testing every
        width at once (``NPLMTest(..., combine=...)``; ``docs/tuning.md``).

        Parameters
        ----------
        X : array-like of shape (n_events, n_features)
            Held-out data and reference events, pooled (any order).
        y : array-like of shape (n_events,)
            1 for data, 0 for reference; both must be present.
        sample_weight : array-like of shape (n_events,), default=None
            Non-negative event weights.

        Returns
        -------
        float
        """
        from ._nplm_heldout import heldout_statistic

        check_is_fitted(self, "alpha_")
        if not self._scalar_sigma:
            raise ValueError(
                "score needs a single width; this fit has several. Grid-search sigma as a "
                "scalar (param_grid={'sigma': [...]}), or test all widths with NPLMTest."
            )
        return float(heldout_statistic(self, X, y, sample_weight))
