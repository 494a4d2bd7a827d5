"""ToyCalibrator: the null distribution of any test or pipeline, from toys, GridSearch-style.

A test whose statistic has no trustworthy asymptotic law (a hyper-test over thresholds, a
cut-and-count on a score trained on the same data, NPLM's t) is calibrated by rerunning the
*whole* chain on signal-free toys: ``ToyCalibrator(test, generator, n_toys).fit()`` clones
``test``, fits it on ``generator(seed)`` for every toy and keeps the statistics in
``null_distribution_``. The observed statistic's p-value is then the empirical
``(1 + #{t_null >= t_obs}) / (1 + n)`` (``pvalue``), never below ``1 / (n + 1)``
(:class:`~nhtad.stats.ToyFloorWarning`); ``pvalue(t, extrapolate="chi2")`` goes beyond.

Seeds: toy ``i`` uses the ``i``-th child of ``SeedSequence(random_state)`` (what
``SeedSequence.spawn`` gives), built from its spawn key alone, so

- the result does not depend on ``n_jobs``, on ``batch_size`` or on the joblib backend
  (``joblib.parallel_config(backend="dask")`` moves the toys to a Dask cluster unchanged);
- a run split into pieces (``fit(toys=range(0, 500))`` and ``fit(toys=range(500, 1000))``, on
  two machines, or after an interruption) and joined with :meth:`ToyCalibrator.merge` equals one
  run of the 1000 toys; :meth:`ToyCalibrator.save` / :meth:`ToyCalibrator.load` keep partial
  runs on disk.

The toys run through :func:`nhtad.utils.batches.run_batches`, the recipe of scikit-learn's
``permutation_test_score`` (seeds drawn in the parent, small tasks, small returns); the run's
identity and its file format live in :mod:`nhtad.calibration.identity` and
:mod:`nhtad.calibration.storage`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..stats.pvalues import log_pvalue_to_significance
from ..utils.random import as_seed_sequence
from ..utils.validation import check_positive_int
from .identity import refuse_different, require_identified, root_seed, run_identity
from .power import power_at_significance
from .storage import open_checkpoint, read_calibration, write_calibration
from .toy_pvalues import toy_log_pvalue
from .toys import ToyFailedError, join_toys, run_toy_indices, toy_indices, toy_seed

__all__ = ["ToyCalibrator", "ToyFailedError"]

logger = logging.getLogger(__name__)


class ToyCalibrator(BaseEstimator):
    """Null distribution of a test's statistic from toys that rerun the whole test.

    Parameters
    ----------
    test : estimator
        A test (:class:`~nhtad.stats.BaseTest`), an NPLM estimator, or a Pipeline ending in one:
        anything whose ``fit(*arrays)`` sets the attribute named by ``statistic`` (looked up on
        the last step of a Pipeline). Cloned for every toy; every ``random_state`` parameter in
        it (nested ones included) is set from the toy's seed, so score training is re-seeded
        per toy.
    generator : callable
        ``generator(random_state) -> tuple of arrays`` for ``clone(test).fit(*arrays)``, or a
        dict for ``clone(test).fit(**arrays)``; e.g.
        :class:`~nhtad.calibration.SimulationSplitToys` (for :class:`~nhtad.SACWoLaTest`),
        :class:`~nhtad.calibration.ReferenceResampler` or :class:`~nhtad.calibration.LHCOToys`.
        It must be picklable for process-based joblib backends (a class instance or a
        module-level function, not a lambda).
    n_toys : int, default=1000
        Number of toys of the full run; ``fit(toys=...)`` runs a part of it.
    statistic : str, default ``"statistic_"``
        Fitted attribute to collect (a float, or an array such as NPLM's t per width).
    n_jobs : int or None
        joblib workers; the backend is whatever ``joblib.parallel_config`` says.
    batch_size : int, default=10
        Toys per joblib task (amortises dispatch; never changes the result).
    random_state : None, int or SeedSequence
        Root of the toy seeds. Give an int to split a run and merge the parts.
    checkpoint : str, Path or None, default=None
        File to which finished toys are appended as they finish (JSON lines, fsync'ed; see
        :mod:`nhtad.utils.checkpoint`). A later :meth:`fit` with the same checkpoint reuses
        them and runs only the rest, with a null distribution bit for bit that of an
        uninterrupted run; a checkpoint of another test, generator, statistic or root seed is
        refused. Needs a reproducible ``random_state`` (an int or a SeedSequence).
    generator_id : str or None, default=None
        Name that identifies the generator in merges, saved files and checkpoints, in place of
        the hash of its content (type, attributes, or a function's code, defaults and
        closure). Give one when the generator's content cannot be hashed, or to accept an
        edit that does not change its toys; change it whenever the toys change.
    verbose : int, default=0
        Progress bar over batches when > 0.

    Attributes
    ----------
    null_distribution_ : ndarray of shape (n_run,) or (n_run, n_statistics)
        Statistic of each toy run, ordered by toy index.
    toy_indices_ : ndarray of shape (n_run,)
        Which toys of the full run these are.
    n_resumed_ : int
        How many of them were read from ``checkpoint`` instead of being run.
    identity_ : dict
        Hashes of the test's parameters (deep, without ``random_state``, ``n_jobs`` and
        ``verbose``, which never change a toy), of the generator, the statistic and the root
        seed: what :meth:`merge`, :meth:`load` and a checkpoint compare.
    seeds_ : list of numpy.random.SeedSequence
        Toy ``i``'s seed; ``run_one_toy(test, generator, seeds_[k])`` reproduces row ``k``.
    entropy_ : int
        Entropy of the root seed (with ``spawn_key_``), which identifies the run for merging.
    spawn_key_ : tuple
    alternative_distribution_ : ndarray
        Set by :meth:`fit_alternative`: the statistic on signal toys, with
        ``alternative_toy_indices_``, ``alternative_seeds_`` and ``alternative_identity_``.

    Notes
    -----
    A Ctrl-C or SIGTERM during :meth:`fit` keeps what finished: the finished toys are in the
    checkpoint when there is one, and are set as ``null_distribution_`` / ``toy_indices_``
    either way (then :meth:`save` them, run the rest with ``fit(toys=...)`` and
    :meth:`merge`); joblib's workers are stopped. SIGTERM raises ``SystemExit(143)`` during
    the run when the program has no SIGTERM handler of its own.

    Examples
    --------
    >>> import numpy as np
    >>> from nhtad.calibration import ToyCalibrator
    >>> from nhtad.stats import AnomalyCutTest, TemplateCutAndCountTest
    >>> def null(seed):
    ...     rng = np.random.default_rng(seed)
    ...     return rng.normal(size=3000), np.r_[np.ones(1000), np.zeros(2000)]
    >>> cal = ToyCalibrator(TemplateCutAndCountTest(), null, n_toys=50,
    ...                     random_state=0).fit()
    >>> cal.null_distribution_.shape
    (50,)
    """

    def __init__(
        self,
        test,
        generator,
        n_toys=1000,
        *,
        statistic="statistic_",
        n_jobs=None,
        batch_size=10,
        random_state=None,
        checkpoint=None,
        generator_id=None,
        verbose=0,
    ):
        self.test = test
        self.generator = generator
        self.n_toys = n_toys
        self.statistic = statistic
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.random_state = random_state
        self.checkpoint = checkpoint
        self.generator_id = generator_id
        self.verbose = verbose

    # ------------------------------------------------------------------------------- running
    def _root(self) -> np.random.SeedSequence:
        if isinstance(self.random_state, np.random.Generator | np.random.RandomState):
            raise ValueError(
                "ToyCalibrator needs random_state as None, an int or a SeedSequence: a Generator "
                "would be consumed, and split runs could not be merged."
            )
        return as_seed_sequence(self.random_state)

    def _make_identity(self, generator, root, generator_id) -> dict:
        return run_identity(self.test, generator, generator_id, self.statistic, root)

    def _run(self, generator, indices, root, desc, *, checkpoint=None, on_interrupt=None):
        """Statistics of the toys ``indices`` (ordered like them) and how many were resumed."""
        return run_toy_indices(
            self.test,
            generator,
            indices,
            root,
            statistic=self.statistic,
            batch_size=self.batch_size,
            n_jobs=self.n_jobs,
            verbose=self.verbose,
            desc=desc,
            checkpoint=checkpoint,
            on_interrupt=on_interrupt,
        )

    def _keep(self, finished, root, identity, n_resumed):
        idx = np.array(sorted(finished), dtype=np.int64)
        self.null_distribution_ = np.stack([finished[int(i)] for i in idx]).astype(np.float64)
        self._set_run(idx, root, identity, n_resumed)

    def _set_run(self, indices, root, identity, n_resumed):
        self.toy_indices_ = indices
        self.n_resumed_ = int(n_resumed)
        self.identity_ = identity
        self.entropy_ = root.entropy
        self.spawn_key_ = tuple(root.spawn_key)
        self.seeds_ = [toy_seed(root, int(i)) for i in indices]

    def fit(self, toys=None):
        """Run the null toys (all ``n_toys``, or the part ``toys`` of them).

        Toys already in ``checkpoint`` are read back instead of run.

        Parameters
        ----------
        toys : None, slice, range or sequence of int
            Indices of the toys to run, for split runs joined later with :meth:`merge`.

        Returns
        -------
        self
        """
        n_toys = check_positive_int(self.n_toys, "n_toys")
        root = self._root()
        indices = toy_indices(toys, n_toys)
        identity = self._make_identity(self.generator, root, self.generator_id)
        checkpoint = open_checkpoint(self.checkpoint, identity, self.random_state)

        def keep(finished):
            self._keep(finished, root, identity, 0)

        stats, n_resumed = self._run(
            self.generator,
            indices,
            root,
            "null toys",
            checkpoint=checkpoint,
            on_interrupt=keep,
        )
        self.null_distribution_ = stats
        self._set_run(indices, root, identity, n_resumed)
        logger.info("ran %d null toys (indices %d..%d)", indices.size, indices[0], indices[-1])
        return self

    def fit_alternative(
        self, generator, n_toys=None, *, random_state=None, checkpoint=None, generator_id=None
    ):
        """Run signal toys with the same test; sets ``alternative_distribution_``.

        Parameters
        ----------
        generator : callable
            Signal-toy generator, e.g. ``ReferenceResampler(..., signal=..., n_signal=...)``.
        n_toys : int or None
            Defaults to the number of null toys run.
        random_state : None, int or SeedSequence
            Root of the signal toys' seeds; it must differ from the null run's.
        checkpoint : str, Path or None
            Checkpoint of the signal toys (a file other than the null run's).
        generator_id : str or None
            Name of the signal generator (see the class parameter).
        """
        check_is_fitted(self, "null_distribution_")
        n = check_positive_int(
            self.null_distribution_.shape[0] if n_toys is None else n_toys, "n_toys"
        )
        root = as_seed_sequence(random_state)
        if root.entropy == self.entropy_ and tuple(root.spawn_key) == self.spawn_key_:
            raise ValueError(
                "the signal toys would reuse the null toys' seeds: pass a different random_state."
            )
        identity = self._make_identity(generator, root, generator_id)
        opened = open_checkpoint(checkpoint, identity, random_state)
        indices = np.arange(n)
        values, _ = self._run(generator, indices, root, "signal toys", checkpoint=opened)
        self._set_alternative(values, indices, identity)
        return self

    # ------------------------------------------------------------------------------ p-values
    def _null_columns(self, t_obs):
        check_is_fitted(self, "null_distribution_")
        null = self.null_distribution_.reshape(self.null_distribution_.shape[0], -1)
        t = np.asarray(t_obs, dtype=np.float64)
        if t.size != null.shape[1]:
            raise ValueError(
                f"t_obs has {t.size} value(s) but the toys have {null.shape[1]} statistic(s)."
            )
        if not np.all(np.isfinite(t)):
            raise ValueError(f"t_obs must be finite; got {t_obs!r}.")
        return null, t.reshape(-1)

    def log_pvalue(self, t_obs, **kwargs):
        """Log of :meth:`pvalue` (same arguments)."""
        null, t = self._null_columns(t_obs)
        out = toy_log_pvalue(null, t, **kwargs)
        return float(out[0]) if np.ndim(t_obs) == 0 else out

    def pvalue(self, t_obs, **kwargs):
        """p-value of an observed statistic from the null toys, or from a law fitted to them.

        The empirical ``p = (1 + #{t_null >= t_obs}) / (1 + n)`` by default, never below
        ``1 / (n + 1)``: a value beyond every toy warns with
        :class:`~nhtad.stats.ToyFloorWarning`, which quotes the chi-square extrapolation where
        one fits the toys. One p-value per column when the toys have several statistics.

        Parameters
        ----------
        t_obs : float or array-like of shape (n_statistics,)
        ties : {"conservative", "randomized"}, default="conservative"
            ``"conservative"`` counts ties as at least as extreme (exactly valid,
            super-uniform); ``"randomized"`` ranks the observed value uniformly at random among
            the toys it ties with (exactly uniform under the null, for discrete statistics).
            See :func:`nhtad.stats.empirical_pvalue`.
        random_state : None, int or SeedSequence
            Draws the uniforms of ``ties="randomized"``.
        extrapolate : {None, "chi2"}, default=None
            ``"chi2"``: the p-value under the chi-square fitted to the toys, each column on its
            own (:func:`nhtad.stats.chi2_extrapolation`, the NPLM recipe of arXiv:2204.02317),
            beyond the toys included; ``ties`` and ``random_state`` play no part.
        min_ks_pvalue : float, default=0.05
            ``extrapolate="chi2"`` refuses (``ValueError``) a fit whose KS p-value is lower.

        Returns
        -------
        float or ndarray
        """
        return np.exp(self.log_pvalue(t_obs, **kwargs))

    def significance(self, t_obs, **kwargs):
        """One-sided Gaussian Z of :meth:`pvalue` (same arguments).

        From the toys alone at most ``Phi^{-1}(1 - 1/(n + 1))``; ``extrapolate="chi2"`` is uncapped.
        """
        return log_pvalue_to_significance(self.log_pvalue(t_obs, **kwargs))

    def power(self, significance=(2.0, 3.0)):
        """Power of the toy-calibrated test at Gaussian significance Z (signal toys needed)."""
        check_is_fitted(self, "alternative_distribution_")
        if self.null_distribution_.ndim != 1:
            raise ValueError("power needs a single statistic per toy; combine the columns first.")
        return power_at_significance(
            self.null_distribution_, self.alternative_distribution_, significance
        )

    # ----------------------------------------------------------------------- merge, save, load
    def merge(self, other: ToyCalibrator) -> ToyCalibrator:
        """Union of two partial runs of the same calibration, as one run of their toys.

        Both must have the same :attr:`identity_` (test parameters, generator, statistic and
        root seed, compared by content hash); a toy present in both must have the same
        statistic in both. Signal toys (``alternative_distribution_``) are kept: from either
        run, or joined when both have them from the same signal generator and seed.
        ``n_toys`` of the result is the larger of the two.
        """
        check_is_fitted(self, "null_distribution_")
        check_is_fitted(other, "null_distribution_")
        mine, theirs = self._identity_of(self), self._identity_of(other)
        require_identified(mine, "merge these runs")
        require_identified(theirs, "merge these runs")
        refuse_different(mine, theirs, "these runs are not parts of the same calibration")
        merged = self._empty_like()
        merged.n_toys = max(int(self.n_toys), int(other.n_toys))
        idx, values = join_toys(
            self.toy_indices_,
            self.null_distribution_,
            other.toy_indices_,
            other.null_distribution_,
            "toys",
        )
        merged.null_distribution_ = values
        root = np.random.SeedSequence(self.entropy_, spawn_key=self.spawn_key_)
        merged._set_run(idx, root, mine, 0)
        alternatives = [c for c in (self, other) if hasattr(c, "alternative_distribution_")]
        if len(alternatives) == 2:
            a, b = alternatives
            refuse_different(
                a.alternative_identity_,
                b.alternative_identity_,
                "the two runs' signal toys come from different signal runs",
            )
            alt_idx, alt = join_toys(
                a.alternative_toy_indices_,
                a.alternative_distribution_,
                b.alternative_toy_indices_,
                b.alternative_distribution_,
                "signal toys",
            )
            merged._set_alternative(alt, alt_idx, a.alternative_identity_)
        elif alternatives:
            a = alternatives[0]
            merged._set_alternative(
                a.alternative_distribution_, a.alternative_toy_indices_, a.alternative_identity_
            )
        return merged

    @staticmethod
    def _identity_of(cal) -> dict:
        if not hasattr(cal, "identity_"):
            raise ValueError(f"{cal!r} has no identity_; it was not fitted by this nhtad.")
        return cal.identity_

    def _set_alternative(self, values, indices, identity):
        self.alternative_distribution_ = values
        self.alternative_toy_indices_ = np.asarray(indices, dtype=np.int64)
        self.alternative_identity_ = identity
        root = root_seed(identity)
        self.alternative_seeds_ = [toy_seed(root, int(i)) for i in self.alternative_toy_indices_]

    def _empty_like(self) -> ToyCalibrator:
        return type(self)(**self.get_params(deep=False))

    def save(self, path, *, overwrite=False) -> Path:
        """Write the toys' statistics and the run's identity to ``path`` (``.npz``).

        The file is written to a temporary name and renamed into place when complete, so an
        interrupted save leaves any earlier file untouched; an existing ``path`` is refused
        unless ``overwrite=True``. Signal toys are saved with their identity.
        """
        check_is_fitted(self, "null_distribution_")
        require_identified(self._identity_of(self), "save this run")
        return write_calibration(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path, test, generator, **params) -> ToyCalibrator:
        """Read a run written by :meth:`save`, checking that it was made by this test and generator.

        Parameters
        ----------
        path : str or Path
        test, generator
            The test and the generator that made the run: their content must hash as the
            saved identity (pass ``generator_id=`` in ``params`` if the run was made with one).
        **params
            Other :class:`ToyCalibrator` parameters (``n_jobs``, ``checkpoint``...); a
            ``statistic`` other than the saved one is refused.

        Raises
        ------
        ValueError
            If the file is not a readable calibration (damaged, truncated, of another format),
            or was made by another test, generator or statistic.
        """
        path = Path(path)
        saved = read_calibration(path)
        meta = saved.meta
        root = root_seed(meta["identity"])
        random_state = meta.get("random_state", root)
        # A statistic given here must be the saved one (the identity check below names it).
        params.setdefault("statistic", meta["identity"]["statistic"])
        cal = cls(test, generator, meta["n_toys"], random_state=random_state, **params)
        identity = cal._make_identity(generator, root, cal.generator_id)
        require_identified(identity, f"check that {path} belongs to this test and generator")
        refuse_different(identity, meta["identity"], f"{path} was made with another run")
        cal.null_distribution_ = saved.null
        cal._set_run(saved.toy_indices, root, identity, 0)
        if saved.alternative is not None:
            cal._set_alternative(
                saved.alternative, saved.alternative_toy_indices, meta["alternative_identity"]
            )
        return cal
