"""Running toys: one toy (a test fitted on one draw of a generator), a batch, a resumable run.

Toy ``i`` of a run rooted at ``SeedSequence(random_state)`` uses only its ``i``-th child
(:func:`toy_seed`, built from the spawn key, so a user's SeedSequence is never spawned from and
passing it again gives the same toys): one grandchild for the generator, one for the
estimator's ``random_state`` (e.g. NPLM's centres, which are therefore re-drawn every toy).
:func:`run_toy_indices`, the engine of :class:`~nhtad.calibration.ToyCalibrator`, runs many
toys in fixed batches through :func:`nhtad.utils.batches.run_batches`, so the result is the
same for any ``n_jobs`` and any joblib backend; :func:`run_toys` is the calibrator's one-call
form.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from ..utils.batches import fixed_batches, run_batches
from ..utils.random import as_seed_sequence, child_seed
from ..utils.validation import check_fits_in_memory

__all__ = [
    "ToyStatistics",
    "ToyFailedError",
    "run_toys",
    "run_one_toy",
    "run_toy_indices",
    "toy_seed",
]

logger = logging.getLogger(__name__)


class ToyFailedError(RuntimeError):
    """A toy could not be fitted; the message names the toy and how to rerun it alone."""


@dataclass(frozen=True, eq=False)
class ToyStatistics:
    """Statistics of ``n_toys`` toys and the seeds that made them.

    Attributes
    ----------
    statistics : ndarray of shape (n_toys,) or (n_toys, n_statistics)
        ``statistic_`` of each toy's fit (one column per width for a multi-width NPLM fit).
    seeds : list of numpy.random.SeedSequence
        Toy ``i`` is reproduced alone by ``run_one_toy(estimator, generator, seeds[i])``.
    """

    statistics: np.ndarray
    seeds: list


def toy_seed(root: np.random.SeedSequence, i: int) -> np.random.SeedSequence:
    """Seed of toy ``i`` of the run rooted at ``root``: ``root.spawn(n)[i]``, for any ``n``."""
    return child_seed(root, int(i))


def _toy_seeds(seed: np.random.SeedSequence):
    generator_seed, estimator_seed = child_seed(seed, 0), child_seed(seed, 1)
    return generator_seed, int(estimator_seed.generate_state(1, np.uint32)[0])


def _final_step(estimator):
    # A Pipeline's statistic lives on its last step (the test).
    return estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator


def _reseed(estimator, seed: np.random.SeedSequence, estimator_seed: int):
    """Set every ``random_state`` parameter of ``estimator``, nested ones included."""
    params = estimator.get_params(deep=True)
    updates = {}
    if "random_state" in params:
        updates["random_state"] = estimator_seed
    nested = sorted(k for k in params if k.endswith("__random_state"))
    for j, key in enumerate(nested):
        # Distinct streams per step (score training, test resampling), all from the toy's seed.
        updates[key] = int(child_seed(child_seed(seed, 2), j).generate_state(1, np.uint32)[0])
    if updates:
        estimator.set_params(**updates)


def run_one_toy(estimator, generator, seed: np.random.SeedSequence, statistic="statistic_"):
    """Fit a clone of ``estimator`` on ``generator(seed)`` and return its statistic.

    The generator returns a tuple (``fit(*arrays)``) or a dict (``fit(**arrays)``, for
    estimators with keyword-only inputs such as :class:`~nhtad.SACWoLaTest`'s
    ``is_simulation``).

    Every ``random_state`` parameter of the clone (nested ones of a Pipeline or meta-estimator
    too) is set from ``seed``; the statistic is read from the last step of a Pipeline.
    """
    generator_seed, estimator_seed = _toy_seeds(seed)
    arrays = generator(generator_seed)
    est = clone(estimator)
    _reseed(est, seed, estimator_seed)
    fit_on_sample(est, arrays)
    return np.asarray(getattr(_final_step(est), statistic), dtype=np.float64)


def fit_on_sample(estimator, arrays):
    """``estimator.fit(*arrays)`` for a tuple, ``estimator.fit(**arrays)`` for a dict.

    The two forms a toy generator returns (see :func:`run_one_toy`); returns the estimator.
    """
    if isinstance(arrays, Mapping):
        return estimator.fit(**arrays)
    if isinstance(arrays, tuple):
        return estimator.fit(*arrays)
    raise ValueError(
        "the generator must return a tuple of arrays to fit on, or a dict of fit's keyword "
        f"arguments (e.g. X, mjj, is_simulation); got {type(arrays).__name__}."
    )


#: Bytes a toy needs at least in the parent: its index, its statistic, its seed object.
_BYTES_PER_TOY = 100


def toy_indices(toys, n_toys: int) -> np.ndarray:
    """Indices (int64, in the given order) of the part ``toys`` of a run of ``n_toys`` toys.

    ``None`` is every toy; a slice, range or list is checked to lie in ``[0, n_toys)`` without
    repeats. A run whose statistics and seeds cannot fit in memory is refused up front.
    """
    if toys is None or isinstance(toys, slice):
        count = len(range(n_toys)[toys or slice(None)])
        check_fits_in_memory(
            count,
            _BYTES_PER_TOY,
            name="n_toys",
            holds="the toys' statistics and seeds",
            fix="Run fewer toys, or a part of them with fit(toys=range(a, b)) and merge().",
        )
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


def join_toys(idx_a, val_a, idx_b, val_b, what):
    """Toys of two runs, sorted by index, each once; a shared toy must agree bit for bit."""
    idx = np.concatenate([idx_a, idx_b])
    values = np.concatenate([val_a, val_b])
    order = np.argsort(idx, kind="stable")
    idx, values = idx[order], values[order]
    dup = np.flatnonzero(np.diff(idx) == 0)
    if dup.size and not np.array_equal(values[dup], values[dup + 1]):
        raise ValueError(
            f"the two runs share {what} with different statistics; they were not made by the "
            "same test and generator."
        )
    keep = np.ones(idx.size, bool)
    keep[dup + 1] = False
    return idx[keep], values[keep]


def check_finite_toys(indices, values):
    """Refuse toys whose statistic is NaN or inf: a calibration with them would be wrong."""
    bad = [int(i) for i, v in zip(indices, values, strict=True) if not np.all(np.isfinite(v))]
    if bad:
        raise ToyFailedError(
            f"toys {bad[:10]} gave a non-finite statistic; a calibration with them would "
            "be wrong. Check the generator's output and the test on those seeds."
        )


def run_toy_batch(indices, test, generator, root, statistic):
    """Statistics of the toys ``indices`` of the run rooted at ``root`` (one joblib task).

    Raises
    ------
    ToyFailedError
        Naming the first toy that failed and how to rerun it alone.
    """
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


def run_toy_indices(
    test,
    generator,
    indices,
    root,
    *,
    statistic,
    batch_size,
    n_jobs,
    verbose,
    desc,
    checkpoint=None,
    on_interrupt=None,
):
    """Statistics of the toys ``indices`` of the run rooted at ``root``, ordered like them.

    The engine of :class:`~nhtad.calibration.ToyCalibrator`: toys found in ``checkpoint`` (a
    ``(Checkpoint, {index: statistic})`` pair, see
    :func:`~nhtad.calibration.storage.open_checkpoint`) are reused, the others run in fixed
    batches through :func:`~nhtad.utils.batches.run_batches`, each finished batch appended to
    the checkpoint at once. On Ctrl-C or SIGTERM the exception says how many toys finished and
    how to resume, and ``on_interrupt({index: statistic})`` receives them first.

    Returns
    -------
    statistics : ndarray of shape (len(indices),) or (len(indices), n_statistics)
    n_resumed : int
        How many toys came from the checkpoint.
    """
    if not callable(generator):
        raise ValueError(f"generator must be a callable of a random_state; got {generator!r}.")
    ckpt, done = checkpoint if checkpoint is not None else (None, {})
    finished = {int(i): done[int(i)] for i in indices if int(i) in done}
    n_resumed = len(finished)
    todo = np.array([i for i in indices if int(i) not in finished], dtype=np.int64)
    if n_resumed:
        logger.info("resumed %d of %d toys from %s", n_resumed, indices.size, ckpt.path)

    def keep(idx, values):
        check_finite_toys(idx, values)
        if ckpt is not None:
            ckpt.append((i, v.tolist()) for i, v in zip(idx, values, strict=True))
        finished.update(zip(idx.tolist(), values, strict=True))

    try:
        # Unordered: each batch is checkpointed as soon as it finishes.
        run_batches(
            run_toy_batch,
            fixed_batches(todo, batch_size),
            args=(test, generator, root, statistic),
            n_jobs=n_jobs,
            ordered=False,
            on_result=keep,
            verbose=verbose,
            desc=desc,
        )
    except (KeyboardInterrupt, SystemExit) as exc:
        # run_batches has stopped joblib's workers; what finished is kept.
        _report_interrupt(exc, len(finished), indices.size, ckpt)
        if on_interrupt is not None and finished:
            on_interrupt(finished)
        raise
    stats = np.stack([finished[int(i)] for i in indices]).astype(np.float64)
    return stats, n_resumed


def _report_interrupt(exc, n_done, n_total, ckpt):
    if ckpt is not None:
        how = (
            f"they are in the checkpoint {ckpt.path}: call fit() again with the same "
            "checkpoint to run the other toys only"
        )
    else:
        how = (
            "they are kept in null_distribution_ (toy_indices_ says which): save() them, "
            "run the rest with fit(toys=...) and merge(), or pass checkpoint= to resume "
            "automatically next time"
        )
    message = f"interrupted after {n_done} of {n_total} toys; {how}."
    if hasattr(exc, "add_note"):
        # On the exception, so a traceback shows it and the CLI can print it in one line.
        exc.add_note(message)
        logger.info(message)
    else:  # Python 3.10
        logger.warning(message)


def run_toys(
    estimator,
    generator,
    n_toys: int,
    *,
    statistic: str = "statistic_",
    batch_size: int = 10,
    n_jobs=None,
    random_state=None,
    verbose=0,
) -> ToyStatistics:
    """Fit ``estimator`` on ``n_toys`` toys from ``generator`` and collect their statistics.

    The one-call form of ``ToyCalibrator(estimator, generator, n_toys, ...).fit()``
    (:class:`~nhtad.calibration.ToyCalibrator`), which it runs: the same toys, seeds and
    numbers. Use the calibrator itself for checkpoints, split runs, saving and p-values.

    Parameters
    ----------
    estimator : estimator
        Cloned per toy; ``fit(*generator(seed))`` must set the attribute ``statistic``. Its
        ``random_state`` (if any) is set per toy.
    generator : callable
        ``generator(random_state) -> tuple of arrays`` (or a dict of keyword arguments), e.g.
        :class:`~nhtad.calibration.ReferenceResampler`.
    n_toys : int
    statistic : str, default ``"statistic_"``
        Fitted attribute to collect.
    batch_size : int, default=10
        Toys per joblib task (amortises dispatch; does not change the result).
    n_jobs : int or None
        joblib workers.
    random_state : None, int, Generator, RandomState or SeedSequence
        Root of the toy seeds; a Generator or RandomState is drawn from once, as in
        scikit-learn.
    verbose : int
        Progress bar over batches when > 0.

    Returns
    -------
    ToyStatistics

    Raises
    ------
    ToyFailedError
        If a toy fails or gives a non-finite statistic (the message names the toy).
    """
    from .calibrator import ToyCalibrator  # the calibrator runs its toys with this module

    calibrator = ToyCalibrator(
        estimator,
        generator,
        n_toys,
        statistic=statistic,
        n_jobs=n_jobs,
        batch_size=batch_size,
        # Resolved here: the calibrator refuses a Generator (it could not merge split runs).
        random_state=as_seed_sequence(random_state),
        verbose=verbose,
    ).fit()
    return ToyStatistics(statistics=calibrator.null_distribution_, seeds=calibrator.seeds_)
