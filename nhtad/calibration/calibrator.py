"""ToyCalibrator: the null distribution of any test or pipeline, from toys, GridSearch-style.

A test whose statistic has no trustworthy asymptotic law (a hyper-test over thresholds, a
cut-and-count on a score trained on the same data, NPLM's t) is calibrated by rerunning the
*whole* chain on signal-free toys: ``ToyCalibrator(test, generator, n_toys).fit()`` clones
``test``, fits it on ``generator(seed)`` for every toy and keeps the statistics in
``null_distribution_``. The observed statistic's p-value is then the empirical
``(1 + #{t_null >= t_obs}) / (1 + n)`` (``pvalue``).

Seeds: toy ``i`` uses the ``i``-th child of ``SeedSequence(random_state)`` (what
``SeedSequence.spawn`` gives), built from its spawn key alone, so

- the result does not depend on ``n_jobs``, on ``batch_size`` or on the joblib backend
  (``joblib.parallel_config(backend="dask")`` moves the toys to a Dask cluster unchanged);
- a run split into pieces (``fit(toys=range(0, 500))`` and ``fit(toys=range(500, 1000))``, on
  two machines, or after an interruption) and joined with :meth:`ToyCalibrator.merge` equals one
  run of the 1000 toys; :meth:`ToyCalibrator.save` / :meth:`ToyCalibrator.load` keep partial
  runs on disk.

Conventions follow ``reference/ecosystem.md`` (Sec. 6: toys at scale) and scikit-learn's
``permutation_test_score`` (seeds drawn in the parent, small tasks, small returns).
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted

from ..stats.pvalues import log_pvalue_to_significance
from ..utils.atomic import atomic_output
from ..utils.progress import progress
from ..utils.random import as_seed_sequence
from ..utils.validation import check_positive_int
from .power import power_at_significance
from .toys import run_one_toy, toy_seed

__all__ = ["ToyCalibrator", "ToyFailedError"]

logger = logging.getLogger(__name__)

_FORMAT_VERSION = 1


class ToyFailedError(RuntimeError):
    """A toy could not be fitted; the message names the toy and how to rerun it alone."""


def _run_batch(test, generator, root, indices, statistic):
    out = []
    for i in indices:
        try:
            out.append(run_one_toy(test, generator, toy_seed(root, i), statistic))
        except Exception as err:
            # Any failure, re-raised with the toy's identity so that it can be reproduced alone.
            message = str(err).rstrip(". ")
            raise ToyFailedError(
                f"toy {i} failed: {type(err).__name__}: {message}. Rerun it alone with "
                f"run_one_toy(test, generator, toy_seed(SeedSequence(random_state), {i})) to "
                "debug; a generator must return finite arrays the test accepts."
            ) from err
    return out


def _as_index_array(toys, n_toys: int) -> np.ndarray:
    if toys is None:
        return np.arange(n_toys)
    if isinstance(toys, slice):
        idx = np.arange(n_toys)[toys]
    else:
        idx = np.asarray(list(toys) if not isinstance(toys, np.ndarray) else toys)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(
            f"toys must be a non-empty slice, range or list of toy indices; got {toys!r}."
        )
    if idx.min() < 0 or idx.max() >= n_toys:
        raise ValueError(
            f"toy indices must lie in [0, n_toys={n_toys}); got {idx.min()}..{idx.max()}. "
            "Raise n_toys to run more toys."
        )
    if np.unique(idx).size != idx.size:
        raise ValueError("toy indices must not repeat.")
    return idx.astype(np.int64)


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
    verbose : int, default=0
        Progress bar over batches when > 0.

    Attributes
    ----------
    null_distribution_ : ndarray of shape (n_run,) or (n_run, n_statistics)
        Statistic of each toy run, ordered by toy index.
    toy_indices_ : ndarray of shape (n_run,)
        Which toys of the full run these are.
    seeds_ : list of numpy.random.SeedSequence
        Toy ``i``'s seed; ``run_one_toy(test, generator, seeds_[k])`` reproduces row ``k``.
    entropy_ : int
        Entropy of the root seed (with ``spawn_key_``), which identifies the run for merging.
    spawn_key_ : tuple
    alternative_distribution_ : ndarray
        Set by :meth:`fit_alternative`: the statistic on signal toys.

    Examples
    --------
    >>> import numpy as np
    >>> from nhtad.calibration import ToyCalibrator
    >>> from nhtad.stats import CutAndCountTest
    >>> def null(seed):
    ...     rng = np.random.default_rng(seed)
    ...     return rng.normal(size=3000), np.r_[np.ones(1000), np.zeros(2000)]
    >>> cal = ToyCalibrator(CutAndCountTest(mode="template"), null, n_toys=50,
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
        verbose=0,
    ):
        self.test = test
        self.generator = generator
        self.n_toys = n_toys
        self.statistic = statistic
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------------------- running
    def _root(self) -> np.random.SeedSequence:
        if isinstance(self.random_state, np.random.Generator | np.random.RandomState):
            raise ValueError(
                "ToyCalibrator needs random_state as None, an int or a SeedSequence: a Generator "
                "would be consumed, and split runs could not be merged."
            )
        return as_seed_sequence(self.random_state)

    def _run(self, generator, indices, root, desc):
        if not callable(generator):
            raise ValueError(f"generator must be a callable of a random_state; got {generator!r}.")
        if not isinstance(self.statistic, str):
            raise ValueError(f"statistic must be an attribute name; got {self.statistic!r}.")
        batch = check_positive_int(self.batch_size, "batch_size")
        batches = [indices[k : k + batch] for k in range(0, indices.size, batch)]
        tasks = (
            delayed(_run_batch)(self.test, generator, root, b, self.statistic) for b in batches
        )
        results = Parallel(n_jobs=self.n_jobs, return_as="generator")(tasks)
        values = [
            v
            for part in progress(results, total=len(batches), verbose=self.verbose, desc=desc)
            for v in part
        ]
        stats = np.stack(values).astype(np.float64)
        if not np.all(np.isfinite(stats)):
            bad = indices[~np.isfinite(stats.reshape(len(indices), -1)).all(1)]
            raise ToyFailedError(
                f"toys {bad[:10].tolist()} gave a non-finite statistic; a calibration with "
                "them would be wrong. Check the generator's output and the test on those seeds."
            )
        return stats

    def fit(self, toys=None):
        """Run the null toys (all ``n_toys``, or the part ``toys`` of them).

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
        indices = _as_index_array(toys, n_toys)
        self.null_distribution_ = self._run(self.generator, indices, root, "null toys")
        self.toy_indices_ = indices
        self.entropy_ = root.entropy
        self.spawn_key_ = tuple(root.spawn_key)
        self.seeds_ = [toy_seed(root, int(i)) for i in indices]
        logger.info("ran %d null toys (indices %d..%d)", indices.size, indices[0], indices[-1])
        return self

    def fit_alternative(self, generator, n_toys=None, *, random_state=None):
        """Run signal toys with the same test; sets ``alternative_distribution_``.

        Parameters
        ----------
        generator : callable
            Signal-toy generator, e.g. ``ReferenceResampler(..., signal=..., n_signal=...)``.
        n_toys : int or None
            Defaults to the number of null toys run.
        random_state : None, int or SeedSequence
            Root of the signal toys' seeds; it must differ from the null run's.
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
        self.alternative_distribution_ = self._run(generator, np.arange(n), root, "signal toys")
        self.alternative_seeds_ = [toy_seed(root, i) for i in range(n)]
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

    def log_pvalue(self, t_obs, *, ties="conservative", random_state=None):
        """Log of :meth:`pvalue` (same arguments)."""
        null, t = self._null_columns(t_obs)
        n = null.shape[0]
        # Relative tolerance as in nhtad.stats.empirical_pvalue: equal up to rounding is a tie.
        tol = np.maximum(np.finfo(float).eps, np.abs(t) * 1e-12)
        above = (null > t + tol).sum(0)
        equal = (np.abs(null - t) <= tol).sum(0)
        if ties == "conservative":
            count = above + equal + 1.0
        elif ties == "randomized":
            # The observed value is placed uniformly among the null values it ties with: the
            # p-value is then exactly uniform under the null even for a discrete statistic
            # (a cut-and-count that is 0 whenever the data fall short of the background).
            # 1 - U lies in (0, 1]: the count, and so log p, is never zero.
            u = 1.0 - np.random.default_rng(as_seed_sequence(random_state)).uniform(size=t.size)
            count = above + u * (equal + 1.0)
        else:
            raise ValueError(f"ties must be 'conservative' or 'randomized'; got {ties!r}.")
        out = np.log(count) - math.log(n + 1.0)
        return float(out[0]) if np.ndim(t_obs) == 0 else out

    def pvalue(self, t_obs, *, ties="conservative", random_state=None):
        """Empirical p-value of an observed statistic against the null toys.

        ``p = (1 + #{t_null >= t_obs}) / (1 + n)`` (``ties="conservative"``: exactly valid,
        super-uniform), or with the observed value ranked uniformly at random among the toys it
        ties with (``ties="randomized"``: exactly uniform under the null, for discrete
        statistics). One p-value per column when the toys have several statistics.
        """
        return np.exp(self.log_pvalue(t_obs, ties=ties, random_state=random_state))

    def significance(self, t_obs, **kwargs):
        """One-sided Gaussian Z of :meth:`pvalue`; at most ``Phi^{-1}(1 - 1/(n + 1))``."""
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
    def _identity(self):
        return {
            "entropy": str(self.entropy_),
            "spawn_key": list(self.spawn_key_),
            "n_toys": int(self.n_toys),
            "statistic": self.statistic,
            "test": repr(self.test),
        }

    def merge(self, other: ToyCalibrator) -> ToyCalibrator:
        """Union of two partial runs of the same calibration, as one run of their toys.

        Both must come from the same root seed, ``n_toys``, statistic and test (compared by
        ``repr``). A toy present in both must have the same statistic in both.
        """
        check_is_fitted(self, "null_distribution_")
        check_is_fitted(other, "null_distribution_")
        mine, theirs = self._identity(), other._identity()
        differ = [key for key in mine if mine[key] != theirs[key]]
        if differ:
            raise ValueError(
                f"these runs are not parts of the same calibration: {', '.join(differ)} differ. "
                "Split runs need the same test, n_toys, statistic and an int random_state."
            )
        idx = np.concatenate([self.toy_indices_, other.toy_indices_])
        values = np.concatenate([self.null_distribution_, other.null_distribution_])
        order = np.argsort(idx, kind="stable")
        idx, values = idx[order], values[order]
        dup = np.flatnonzero(np.diff(idx) == 0)
        if dup.size and not np.array_equal(values[dup], values[dup + 1], equal_nan=False):
            raise ValueError(
                "the two runs share toys with different statistics; they were not made by the "
                "same test and generator."
            )
        keep = np.ones(idx.size, bool)
        keep[dup + 1] = False
        merged = self._empty_like()
        merged.null_distribution_ = values[keep]
        merged.toy_indices_ = idx[keep]
        merged.entropy_, merged.spawn_key_ = self.entropy_, self.spawn_key_
        root = np.random.SeedSequence(self.entropy_, spawn_key=self.spawn_key_)
        merged.seeds_ = [toy_seed(root, int(i)) for i in merged.toy_indices_]
        return merged

    def _empty_like(self) -> ToyCalibrator:
        return type(self)(**self.get_params(deep=False))

    def save(self, path, *, overwrite=False) -> Path:
        """Write the toys' statistics and the run's identity to ``path`` (``.npz``).

        The file is written to a temporary name and renamed into place when complete, so an
        interrupted save leaves any earlier file untouched; an existing ``path`` is refused
        unless ``overwrite=True``.
        """
        check_is_fitted(self, "null_distribution_")
        path = Path(path)
        meta = self._identity() | {"format": _FORMAT_VERSION}
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            meta["random_state"] = int(rs)
        arrays = {
            "null_distribution": self.null_distribution_,
            "toy_indices": self.toy_indices_,
            "meta": np.array(json.dumps(meta)),
        }
        if hasattr(self, "alternative_distribution_"):
            arrays["alternative_distribution"] = self.alternative_distribution_
        with atomic_output(path, overwrite=overwrite) as fh:
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path, test, generator, **params) -> ToyCalibrator:
        """Read a run written by :meth:`save`; ``test`` must have the saved ``repr``."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            null, idx = z["null_distribution"], z["toy_indices"]
            alt = z["alternative_distribution"] if "alternative_distribution" in z else None
        if meta.get("format") != _FORMAT_VERSION:
            raise ValueError(f"{path} is not a ToyCalibrator file of format {_FORMAT_VERSION}.")
        if repr(test) != meta["test"]:
            raise ValueError(
                f"{path} was made with the test {meta['test']}, not {test!r}; pass the same test."
            )
        root = np.random.SeedSequence(int(meta["entropy"]), spawn_key=tuple(meta["spawn_key"]))
        random_state = meta.get("random_state", root)
        cal = cls(
            test,
            generator,
            meta["n_toys"],
            statistic=meta["statistic"],
            random_state=random_state,
            **params,
        )
        cal.null_distribution_, cal.toy_indices_ = null, idx
        cal.entropy_, cal.spawn_key_ = root.entropy, tuple(root.spawn_key)
        cal.seeds_ = [toy_seed(root, int(i)) for i in idx]
        if alt is not None:
            cal.alternative_distribution_ = alt
        return cal
