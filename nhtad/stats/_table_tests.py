"""What the tests of the binned (score, resonant variable) table share.

:class:`~nhtad.stats.MutualInformationIndependenceTest`,
:class:`~nhtad.stats.SmoothTrendIndependenceTest` and
:class:`~nhtad.stats.HomogeneousAssociationTest` test the same object, the ``d_s x d_y`` table
of :mod:`.contingency`. They take the same settings (``rel_uncertainty``, ``y_bins``, ``method``,
``n_resamples``, ``n_jobs``, ``random_state``, ``verbose``), check them and their inputs in the
same order with the same messages, may take the score of a simulated background sample, bin
data and simulation together where they compare the two, and draw resampled nulls in seeded
batches (:func:`~nhtad.stats.resampling.resample_null`). :class:`BinnedTableTest` writes each of
these once.
"""

from __future__ import annotations

import math

from ..utils.validation import check_open_unit_interval, check_paired_vectors
from .base import BaseTest
from .resampling import check_null_method, resample_null

__all__ = ["BinnedTableTest", "pooled_min_count", "SIMULATION_ONE_OF_TWO"]

#: The error for a simulation given half-way (its scores without its m_jj, or the reverse).
SIMULATION_ONE_OF_TWO = "pass both s_simulation and y_simulation, or neither."


def pooled_min_count(per_sample: int, n_data: int, n_simulation: int) -> int:
    """Fewest pooled events a marginal bin must hold for the smaller sample to get ``per_sample``.

    Data and simulation binned together in equal-count bins of the pooled sample: a bin holding
    ``m`` pooled events holds about ``m min(n_d, n_s) / (n_d + n_s)`` of the smaller sample, so
    the target relative uncertainty ``1/sqrt(per_sample)`` holds for both samples with
    ``m = ceil(per_sample (n_d + n_s) / min(n_d, n_s))``.
    """
    return math.ceil(per_sample * (n_data + n_simulation) / min(n_data, n_simulation))


class BinnedTableTest(BaseTest):
    """Base of the tests of the binned ``(s, y)`` table.

    Subclasses store ``rel_uncertainty``, ``method``, ``n_resamples``, ``n_jobs``,
    ``random_state`` and ``verbose`` and name their null methods in ``_METHODS``.
    """

    _METHODS: tuple[str, ...] = ()

    def _check_rel_and_method(self) -> float:
        """Validate ``rel_uncertainty`` and ``method`` (with ``n_resamples``); return the former."""
        rel = check_open_unit_interval(self.rel_uncertainty, "rel_uncertainty")
        check_null_method(self.method, self._METHODS, self.n_resamples)
        return rel

    @staticmethod
    def _check_inputs(s, y, s_simulation, y_simulation, *, simulation="optional", why=None):
        """Validate the data ``(s, y)`` and the simulation's ``(s_simulation, y_simulation)``.

        Parameters
        ----------
        s, y, s_simulation, y_simulation : array-like or None
            As ``fit`` takes them.
        simulation : {"optional", "required", "forbidden"}
            Whether this test, with these settings, needs the simulation or refuses it.
        why : str, optional
            The error message when a required simulation is missing or a refused one is given.

        Returns
        -------
        s, y : ndarray
        simulation : tuple of ndarray or None
            ``(s_simulation, y_simulation)``, None without a simulation.
        """
        s, y = check_paired_vectors(s, y)
        given = (s_simulation is not None, y_simulation is not None)
        if (simulation == "required" and not all(given)) or (
            simulation == "forbidden" and any(given)
        ):
            raise ValueError(why)
        if given[0] != given[1]:
            raise ValueError(SIMULATION_ONE_OF_TWO)
        if not any(given):
            return s, y, None
        pair = check_paired_vectors(
            s_simulation, y_simulation, s_name="s_simulation", y_name="y_simulation"
        )
        return s, y, pair

    def _resample_null(self, batch, args, *, batch_size, desc):
        """``n_resamples`` null statistics from ``batch(rng, n, *args)``, seeded by the test."""
        return resample_null(
            batch,
            self.n_resamples,
            args=args,
            batch_size=batch_size,
            random_state=self.random_state,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=desc,
        )

    def _set_table(self, binned, table, dof) -> None:
        """The fitted attributes of the binned table that every one of these tests sets."""
        self.n_bins_ = binned.shape
        self.dof_ = int(dof)
        self.s_edges_ = binned.s_edges
        self.y_edges_ = binned.y_edges
        self.contingency_ = table
