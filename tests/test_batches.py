"""The one seeded batch runner (nhtad.utils.batches) and the toy runners built on it."""

import numpy as np
import pytest
from sklearn.utils.parallel import Parallel

from nhtad.calibration import ToyCalibrator, run_toys
from nhtad.stats import TemplateCutAndCountTest
from nhtad.utils import batches as batches_module
from nhtad.utils.batches import fixed_batches, run_batches
from nhtad.utils.random import spawn_children


def _draw(batch, scale):
    # A seeded task: a batch is (seed, size), as resample_null builds them.
    seed, size = batch
    return np.random.default_rng(seed).normal(size=size) * scale


def _tagged(batch):
    return [int(i) * 10 for i in batch]


class GaussianTemplateToys:
    def __call__(self, random_state):
        rng = np.random.default_rng(random_state)
        return rng.normal(size=600), np.r_[np.ones(200), np.zeros(400)]


def test_fixed_batches_depend_on_the_items_and_size_only():
    assert fixed_batches(range(7), 3) == [range(0, 3), range(3, 6), range(6, 7)]
    assert [b.tolist() for b in fixed_batches(np.arange(4), 2)] == [[0, 1], [2, 3]]
    assert fixed_batches([], 5) == []
    with pytest.raises(ValueError, match="batch_size"):
        fixed_batches(range(3), 0)


@pytest.mark.parametrize("ordered", [True, False])
def test_results_come_back_in_batch_order_for_any_n_jobs(ordered):
    seeds = spawn_children(np.random.SeedSequence(3), 5)
    work = list(zip(seeds, [4, 4, 4, 4, 1]))
    one = run_batches(_draw, work, args=(2.0,), ordered=ordered)
    two = run_batches(_draw, work, args=(2.0,), n_jobs=2, ordered=ordered)
    for a, b, (seed, size) in zip(one, two, work):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, np.random.default_rng(seed).normal(size=size) * 2.0)


def test_on_result_sees_every_batch_with_its_result():
    seen = []
    batches = fixed_batches(np.arange(7), 3)
    out = run_batches(_tagged, batches, ordered=False, on_result=lambda b, r: seen.append((b, r)))
    assert out == [[0, 10, 20], [30, 40, 50], [60]]
    assert sorted((b.tolist(), r) for b, r in seen) == [
        ([0, 1, 2], [0, 10, 20]),
        ([3, 4, 5], [30, 40, 50]),
        ([6], [60]),
    ]
    assert run_batches(_tagged, []) == []


class _RecordingParallel(Parallel):
    """scikit-learn's Parallel, recording whether run_batches closed its generator."""

    closed = False

    def __call__(self, iterable):
        results = super().__call__(iterable)

        class Recorded:
            def __iter__(self):
                return self

            def __next__(self):
                return next(results)

            def close(self):
                _RecordingParallel.closed = True
                results.close()

        return Recorded()


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit, RuntimeError])
def test_an_interrupt_or_error_closes_the_joblib_generator(monkeypatch, error):
    # Closing the generator is what makes joblib stop and kill its workers at once.
    monkeypatch.setattr(batches_module, "Parallel", _RecordingParallel)
    _RecordingParallel.closed = False

    def stop(batch, result):
        raise error

    with pytest.raises(error):
        run_batches(_tagged, fixed_batches(range(6), 2), on_result=stop)
    assert _RecordingParallel.closed


def test_run_toys_is_the_calibrator_in_one_call():
    toys = run_toys(
        TemplateCutAndCountTest(), GaussianTemplateToys(), 9, batch_size=4, random_state=5
    )
    cal = ToyCalibrator(TemplateCutAndCountTest(), GaussianTemplateToys(), 9, random_state=5).fit()
    np.testing.assert_array_equal(toys.statistics, cal.null_distribution_)
    assert [s.spawn_key for s in toys.seeds] == [s.spawn_key for s in cal.seeds_]
    # A Generator is still accepted (drawn from once), as before the calibrator ran the toys.
    drawn = run_toys(
        TemplateCutAndCountTest(),
        GaussianTemplateToys(),
        3,
        random_state=np.random.default_rng(1),
    )
    assert drawn.statistics.shape == (3,)
