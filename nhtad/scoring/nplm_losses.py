"""The two losses an NPLM kernel model can be trained with, as torch functions of f.

Rows carry a label ``y`` (1 = data, 0 = reference) and a weight ``omega`` (1 for data, ``w``
for reference rows, with ``w = N(R) / N_R`` the expected data count over the reference size).

- :class:`WeightedCrossEntropy` is falkon's ``WeightedCrossEntropyLoss(neg_weight=w)``, which
  the NPLM-Falkon code trains with: l = omega [y log(1 + e^-f) + (1 - y) log(1 + e^f)].
  Its population minimiser is f = log(n_D / (w n_R)), the log density ratio.
- :class:`NPLMLoss` is the NPLM loss itself, L = sum_R w (e^f - 1) - sum_D f
  (D'Agnolo & Wulzer; Grosso et al., EPJC 85, 1074 (2025), eq. for t = -2 min L).

Both give per-row values, first and second derivatives in f (``reference/nplm_falkon.md``,
Sec. 10), and the curvature the Nyström preconditioner assumes at the centres.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["WeightedCrossEntropy", "NPLMLoss", "LOSSES"]


class WeightedCrossEntropy:
    """Weighted binary cross-entropy on logits (falkon's loss in the NPLM-Falkon recipe)."""

    name = "falkon"

    @staticmethod
    def value(f, y, omega):
        return omega * (y * F.softplus(-f) + (1.0 - y) * F.softplus(f))

    @staticmethod
    def derivatives(f, y, omega):
        s = torch.sigmoid(f)
        grad = omega * (s - y)
        hess = omega * s * (1.0 - s)
        return grad, hess

    @staticmethod
    def centre_curvature(
        f_centres, y_centres, omega_centres, *, reference_weight, reference_fraction
    ):
        # falkon evaluates the curvature at each centre with the centre's own label; keeping it
        # is what makes the CG iterates, and hence t, match falkon's.
        s = torch.sigmoid(f_centres)
        return omega_centres * s * (1.0 - s)


class NPLMLoss:
    """The NPLM loss, data: -f, reference: w (e^f - 1)."""

    name = "nplm"

    @staticmethod
    def value(f, y, omega):
        return omega * (-y * f + (1.0 - y) * torch.expm1(f))

    @staticmethod
    def derivatives(f, y, omega):
        e = torch.exp(f)
        grad = omega * (-y + (1.0 - y) * e)
        hess = omega * (1.0 - y) * e
        return grad, hess

    @staticmethod
    def centre_curvature(
        f_centres, y_centres, omega_centres, *, reference_weight, reference_fraction
    ):
        # Only reference rows curve this loss, so a data centre's own curvature is 0 and a
        # preconditioner built from labels would ignore the data centres' directions. The
        # curvature field the Hessian averages is (fraction of reference rows) * w e^f at any
        # point, which is what every centre is given here.
        return (reference_fraction * reference_weight) * torch.exp(f_centres)


LOSSES = {WeightedCrossEntropy.name: WeightedCrossEntropy, NPLMLoss.name: NPLMLoss}
