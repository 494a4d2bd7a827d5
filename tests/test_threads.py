"""Thread policy (nhtad.utils.threads), its use in run_batches, item-counting progress bars and
the shutdown of joblib's worker pool."""

import io
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import sklearn.ensemble  # noqa: F401 - loads scikit-learn's OpenMP runtime here and in workers
import tqdm.auto
import tqdm.std
from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_info, threadpool_limits

from nhtad.utils import threads
from nhtad.utils.batches import fixed_batches, run_batches, shutdown_workers
from nhtad.utils.threads import NUM_THREADS_ENV, limit_threads, thread_budget


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(NUM_THREADS_ENV, raising=False)


def _threads_seen(batch=None):
    """The thread counts of this process, as a task run in a worker reports them."""
    torch = sys.modules.get("torch")
    return {
        "pid": os.getpid(),
        "libs": sorted({lib["num_threads"] for lib in threadpool_info()}),
        "torch": torch.get_num_threads() if torch is not None else None,
    }


def _torch_or_none():
    try:
        import torch
    except ImportError:
        return None
    return torch


# --- thread_budget -----------------------------------------------------------------------------


def test_budget_shares_the_cores_between_the_workers(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    assert thread_budget() == thread_budget(None) == thread_budget(1) == 8
    assert thread_budget(2) == 4
    assert thread_budget(3) == 2  # 3 x 2 <= 8: never more threads than cores
    assert thread_budget(-1) == 1  # one worker per core
    assert thread_budget(-5) == 2  # 8 + 1 - 5 = 4 workers, as joblib counts them
    assert thread_budget(16) == 1  # more workers than cores: still one thread each
    assert thread_budget(2, n_threads=3) == 3
    with pytest.raises(ValueError, match="n_jobs"):
        thread_budget(0)
    with pytest.raises(ValueError, match="n_threads"):
        thread_budget(2, n_threads=0)


def test_available_cores_follow_the_affinity():
    if hasattr(os, "sched_getaffinity"):
        assert threads.available_cores() == len(os.sched_getaffinity(0))
    assert 1 <= threads.available_cores() <= (os.cpu_count() or 1)


def test_environment_variable_overrides_the_budget(monkeypatch):
    monkeypatch.setattr(threads, "available_cores", lambda: 8)
    monkeypatch.setenv(NUM_THREADS_ENV, "3")
    assert thread_budget(1) == thread_budget(2) == thread_budget(-1) == 3
    assert thread_budget(2, n_threads=5) == 5  # an explicit argument wins over the variable
    monkeypatch.setenv(NUM_THREADS_ENV, " ")
    assert thread_budget(2) == 4  # empty counts as unset


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "two"])
def test_bad_environment_value_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(NUM_THREADS_ENV, value)
    with pytest.raises(ValueError, match=f"{NUM_THREADS_ENV}.*positive integer.*{value!r}"):
        thread_budget(2)


# --- limit_threads -----------------------------------------------------------------------------


@pytest.fixture
def three_threads():
    """Every threadpool and torch at 3 threads (restored afterwards), so 2 and 1 are caps."""
    torch = _torch_or_none()
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=3):
        if torch is not None:
            torch.set_num_threads(3)
        yield torch
    if torch is not None:
        torch.set_num_threads(before)


def _seen_here():
    seen = _threads_seen()
    return seen["libs"], seen["torch"]


def test_limit_threads_caps_openmp_blas_and_torch_and_restores_them(three_threads):
    torch = three_threads
    t = None if torch is None else 3
    apis = {lib["user_api"] for lib in threadpool_info()}
    assert {"blas", "openmp"} <= apis
    assert _seen_here() == ([3], t)
    with limit_threads(2):
        assert _seen_here() == ([2], None if torch is None else 2)
        with limit_threads(1):
            assert _seen_here() == ([1], None if torch is None else 1)
        assert _seen_here() == ([2], None if torch is None else 2)
        with limit_threads(8):  # a cap never raises a library's threads
            assert _seen_here() == ([2], None if torch is None else 2)
    assert _seen_here() == ([3], t)
    with limit_threads(None):
        assert _seen_here() == ([3], t)


def test_overlapping_blocks_restore_the_original_only_when_the_last_one_ends(three_threads):
    # Blocks of joblib's threading backend end in any order; the first to end must not lift the
    # limit under the others, and the last must restore the original, not the limited value.
    torch = three_threads
    first, second = limit_threads(1), limit_threads(2)
    first.__enter__()
    second.__enter__()
    assert _seen_here() == ([1], None if torch is None else 1)
    first.__exit__(None, None, None)
    assert _seen_here() == ([2], None if torch is None else 2)
    second.__exit__(None, None, None)
    assert _seen_here() == ([3], None if torch is None else 3)


def test_limit_threads_refuses_a_bad_count():
    with pytest.raises(ValueError, match="n_threads"):
        with limit_threads(0):
            pass


# --- run_batches -------------------------------------------------------------------------------


def test_loky_workers_run_their_batches_under_the_limit(monkeypatch):
    # Workers started with 4 threads per library (joblib's inner_max_num_threads): without the
    # limit they report more than one thread (the control), under run_batches exactly one.
    monkeypatch.setenv(NUM_THREADS_ENV, "1")
    with parallel_config(backend="loky", inner_max_num_threads=4):
        control = Parallel(n_jobs=2)(delayed(_threads_seen)() for _ in range(2))
        seen = run_batches(_threads_seen, [[0], [1], [2], [3]], n_jobs=2)
    if threads.available_cores() >= 2:
        assert max(max(c["libs"]) for c in control) > 1
    assert os.getpid() not in {s["pid"] for s in seen}  # they did run in workers
    assert all(s["libs"] == [1] for s in seen)
    # The pool is stopped once; without one there is nothing to stop.
    assert shutdown_workers()
    assert not shutdown_workers()


def test_threading_workers_share_one_limit_and_restore_it(three_threads, monkeypatch):
    # Threads of this process: torch's pool is process-wide, so overlapping batches must keep
    # the limit until the last one ends, then give back the original 3 threads. (BLAS is not
    # checked inside the threads: OpenBLAS 0.3.31 ignored a lower count set from a thread
    # other than the main one once the main thread had raised it.)
    torch = three_threads
    if torch is None:
        pytest.skip("torch is not installed")
    monkeypatch.setattr(threads, "available_cores", lambda: 2)  # 2 workers: 1 thread each
    with parallel_config(backend="threading"):
        seen = run_batches(_threads_seen, [[k] for k in range(6)], n_jobs=2)
    assert [s["torch"] for s in seen] == [1] * 6
    assert _seen_here() == ([3], 3)


def test_the_calling_process_keeps_its_settings_with_one_worker(three_threads, monkeypatch):
    torch = three_threads
    t3, t1 = (None, None) if torch is None else (3, 1)
    [seen] = run_batches(_threads_seen, [[0]], n_jobs=1)
    assert (seen["libs"], seen["torch"]) == ([3], t3)
    monkeypatch.setenv(NUM_THREADS_ENV, "1")  # ... unless asked otherwise
    [seen] = run_batches(_threads_seen, [[0]], n_jobs=1)
    assert (seen["libs"], seen["torch"]) == ([1], t1)
    assert _seen_here() == ([3], t3)


# --- progress bars count items -----------------------------------------------------------------


class _RecordingBar(tqdm.std.tqdm):
    bars: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, file=io.StringIO(), **kwargs)

    def close(self):
        if not self.disable:
            _RecordingBar.bars.append((self.total, self.n))
        super().close()


def _tagged(batch):
    return [int(i) for i in batch]


@pytest.mark.parametrize(
    "batches, sizes, expected",
    [
        (fixed_batches(np.arange(40), 40), None, 40),  # 40 toys in one batch: 40/40, not 1/1
        (fixed_batches(range(7), 3), None, 7),
        ([(1, 2), (3, 4), (5, 6)], None, 3),  # a tuple is one task
        ([(1, 2), (3, 4), (5, 6)], [5, 5, 2], 12),
    ],
)
def test_progress_bar_counts_items_not_batches(monkeypatch, batches, sizes, expected):
    monkeypatch.setattr(tqdm.auto, "tqdm", _RecordingBar)
    _RecordingBar.bars = []
    run_batches(_tagged, batches, sizes=sizes, verbose=1, desc="toys")
    assert _RecordingBar.bars == [(expected, expected)]


def test_sizes_must_match_the_batches():
    with pytest.raises(ValueError, match="sizes must give the items of each of the 2 batches"):
        run_batches(_tagged, [[0], [1]], sizes=[1])


# --- exit --------------------------------------------------------------------------------------


def test_a_busy_worker_does_not_block_exit_after_shutdown_workers():
    # loky's exit hook waits, without a time limit, for every worker to stop: a worker that
    # never answers (here: one busy for 10 minutes) keeps the interpreter from exiting.
    script = textwrap.dedent(
        """
        import time
        from joblib.externals.loky import get_reusable_executor
        from nhtad.utils.batches import shutdown_workers

        get_reusable_executor(max_workers=1).submit(time.sleep, 600)
        time.sleep(0.5)
        assert shutdown_workers()
        """
    )
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], timeout=120, capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert time.monotonic() - start < 60
