"""NPLM's t of a fitted model on events it was not trained on (``NPLMKernelEstimator.score``).

Grosso, Sengupta, Golling, Harris, EPJC 85, 1074 (2025), Sec. 2: the extended log-likelihood
ratio of the data against the reference for a log density ratio f is

    t[f] = 2 [ sum_D f(x) - sum_R w (e^{f(x)} - 1) ],

and the test statistic is its maximum over the model, t = -2 min L. Evaluated with an f learned
on other events, t[f] is a held-out goodness of the learned ratio: per expected event it
estimates E_D[f] - E_R[e^f - 1] <= KL(p_D || p_R), with equality only at the true ratio
(Nguyen, Wainwright & Jordan, IEEE Trans. Inf. Theory 56 (2010) 5847), so it is larger, in
expectation, for the width (or penalty) whose f is closer to the truth. Under the null
(p_D = p_R) its expectation is <= 0 for every f: what a width overfits is paid for, not
rewarded, unlike the training t.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from ..utils.validation import check_sample_weight

__all__ = ["heldout_statistic", "heldout_reference_weight"]


def heldout_reference_weight(weight, n_data_fit, n_reference_fit, data_count, reference_count):
    """w' for held-out events: the expected held-out data count over the held-out reference.

    The fit's w = N(R) / N_ref spreads the expected data count N(R) over the reference. The
    held-out data rows are a fraction ``data_count / n_data_fit`` of the fitted data, chosen by
    the splitter, so their expected count under the null is N(R) times that fraction:

        w' = N(R) (n'_D / n_D) / n'_R.

    For a stratified split (n'_D / n_D = n'_R / n_R) this is w itself. For any other split it
    removes the data/reference imbalance the splitter made, which would otherwise enter t as a
    fake excess or deficit of events; what stays is the fitted sample's own N_D / N(R) (1 when
    ``expected_n_data`` is None).
    """
    expected_per_data_row = weight * n_reference_fit / n_data_fit
    return expected_per_data_row * data_count / reference_count


def heldout_statistic(estimator, X, y, sample_weight=None) -> np.ndarray:
    """t[f] of the fitted ``estimator`` on ``(X, y)`` (``y = 1`` data, ``0`` reference).

    Returns
    -------
    ndarray of shape () or (n_sigmas,)
        One t per width of the fit. On the training rows themselves it is ``statistic_``.
    """
    from ._nplm_inputs import _check_data_reference_labels

    check_is_fitted(estimator, "alpha_")
    # Checked here for the feature count and the labels; f is computed from the caller's X,
    # so that a DataFrame keeps the feature names decision_function checks.
    _, y = validate_data(estimator, X, y, dtype=np.float64, reset=False)
    try:
        is_data = _check_data_reference_labels(y)
    except ValueError as err:
        raise ValueError(
            f"{err} The held-out t needs data and reference rows in every test fold: split with "
            "StratifiedKFold(shuffle=True, random_state=...), or generate shuffled toys "
            "(LHCOToys(..., shuffle=True))."
        ) from None
    weights = (
        np.ones(len(y)) if sample_weight is None else check_sample_weight(sample_weight, len(y))
    )
    data_count, reference_count = weights[is_data].sum(), weights[~is_data].sum()
    if not (data_count > 0 and reference_count > 0):
        raise ValueError(
            "sample_weight gives zero total weight to the data or to the reference rows; the "
            "held-out t needs both. Give positive weights to some rows of each."
        )
    w = heldout_reference_weight(
        estimator.weight_,
        estimator.n_data_,
        estimator.n_reference_,
        data_count,
        reference_count,
    )
    f = estimator.decision_function(X)
    f = f.reshape(f.shape[0], -1)
    with np.errstate(over="ignore", invalid="ignore"):
        data_term = weights[is_data] @ f[is_data]
        reference_term = w * (weights[~is_data] @ np.expm1(f[~is_data]))
        t = 2.0 * (data_term - reference_term)
    if not np.all(np.isfinite(t)):
        raise FloatingPointError(
            "the held-out t is not finite: the fitted f overflows exp on held-out reference "
            "events (a width far too narrow for the held-out sample). Drop that width from "
            "the grid, or use more centres or a larger lam."
        )
    return t[0] if getattr(estimator, "_scalar_sigma", True) else t
