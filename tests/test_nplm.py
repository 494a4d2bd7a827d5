"""NPLMKernelEstimator: the NPLM loss, widths, scores, devices, memory, bad input, falkon path."""

import math
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

from nhtad.scoring import NPLMKernelEstimator, candidate_sigma

torch = pytest.importorskip("torch")


def _sample(n_data=3000, n_ref=6000, d=3, n_signal=0, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal((n_ref, d))
    data = rng.standard_normal((n_data, d))
    if n_signal:
        data[:n_signal] = 1.5 + 0.2 * rng.standard_normal((n_signal, d))
    X = np.vstack([data, ref])
    y = np.r_[np.ones(n_data, int), np.zeros(n_ref, int)]
    return X, y


# -- the exact NPLM loss -------------------------------------------------------------------------
@pytest.mark.parametrize("n_signal", [0, 150])
def test_converged_nplm_loss_beats_the_one_step_recipe_and_is_stationary(n_signal):
    X, y = _sample(n_signal=n_signal)
    common = dict(sigma=2.0, n_centers=150, random_state=1)
    one_step = NPLMKernelEstimator(**common).fit(X, y)
    converged = NPLMKernelEstimator(loss="nplm", newton_tol=1e-7, **common).fit(X, y)
    # t = -2 min L: the minimiser of L can only do better than the one-step WCE f on L.
    assert converged.statistic_ >= one_step.statistic_
    assert converged.newton_steps_ >= 2
    # Stopped on the Newton decrement (L can fall by less than newton_tol) ...
    assert converged.newton_decrement_ < 1e-7
    # ... where the gradient in beta coordinates is tiny (N * ||g|| is the summed-loss scale).
    assert converged.gradient_norm_ * len(y) < 1e-3
    # At the minimum of the NPLM loss the fitted ratio predicts the data count exactly
    # (d L / d(constant shift) = 0), up to the ridge penalty.
    assert converged.reference_sum_exp_ == pytest.approx(y.sum(), rel=1e-3)


def test_one_step_nplm_loss_is_a_single_undamped_step():
    X, y = _sample()
    est = NPLMKernelEstimator(loss="nplm", solver="exact", sigma=2.0, n_centers=100, random_state=0)
    est.fit(X, y)
    assert est.newton_steps_ == 1 and math.isnan(est.gradient_norm_)


# -- widths, centres, scores ---------------------------------------------------------------------
def test_several_widths_equal_separate_fits_on_the_same_centres():
    X, y = _sample()
    # The exact step: with the recipe's truncated CG, the two rounding orders (shared stored
    # distances vs one GEMM per width) differ by ~2e-5 of t.
    common = dict(n_centers=120, random_state=3, solver="exact")
    multi = NPLMKernelEstimator(sigma=[1.0, 2.5], **common).fit(X, y)
    for j, sigma in enumerate([1.0, 2.5]):
        single = NPLMKernelEstimator(sigma=sigma, **common).fit(X, y)
        np.testing.assert_array_equal(single.center_indices_, multi.center_indices_)
        assert multi.statistic_[j] == pytest.approx(single.statistic_, rel=1e-6)
        np.testing.assert_allclose(
            multi.decision_function(X[:50])[:, j], single.decision_function(X[:50]), atol=1e-6
        )
    with pytest.raises(ValueError, match="single width"):
        multi.predict_proba(X[:5])


def test_default_width_is_the_90th_percentile_of_reference_distances():
    X, y = _sample()
    est = NPLMKernelEstimator(n_centers=50, random_state=0).fit(X, y)
    assert est.sigma_ == candidate_sigma(X[y == 0], 90)
    assert est.sigma_ == round(est.sigma_, 1)
    assert est.centers_.shape == (50, 3)
    assert NPLMKernelEstimator(random_state=0).fit(X, y).centers_.shape[0] == int(math.sqrt(len(y)))


def test_signal_raises_t_and_f_points_at_it():
    X0, y0 = _sample(seed=5)
    X1, y1 = _sample(seed=5, n_signal=200)
    null = NPLMKernelEstimator(sigma=1.0, n_centers=200, random_state=0).fit(X0, y0)
    alt = NPLMKernelEstimator(sigma=1.0, n_centers=200, random_state=0).fit(X1, y1)
    assert alt.statistic_ > null.statistic_ + 50
    assert (
        alt.decision_function(np.full((1, 3), 1.5))[0]
        > alt.decision_function(np.zeros((1, 3)))[0] + 1
    )
    proba = alt.predict_proba(X1)
    assert proba.shape == (len(y1), 2) and np.allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(alt.predict(X1), (proba[:, 1] > 0.5).astype(int))


def test_expected_n_data_sets_the_weight():
    X, y = _sample()
    est = NPLMKernelEstimator(sigma=2.0, n_centers=50, expected_n_data=3300, random_state=0).fit(
        X, y
    )
    assert est.weight_ == pytest.approx(3300 / 6000)


def test_standardize_makes_the_fit_unit_free():
    X, y = _sample()
    scaled = X * np.array([1.0, 1000.0, 0.01]) + 7.0
    # The exact step: the recipe's truncated CG would add rounding noise of ~1e-6.
    params = dict(sigma=2.0, n_centers=80, random_state=0, standardize=True, solver="exact")
    a = NPLMKernelEstimator(**params).fit(X, y)
    b = NPLMKernelEstimator(**params).fit(scaled, y)
    assert b.statistic_ == pytest.approx(a.statistic_, rel=1e-6)
    np.testing.assert_allclose(b.centers_, scaled[b.center_indices_])


def test_reproducible_and_centres_change_with_the_seed():
    X, y = _sample()
    a = NPLMKernelEstimator(sigma=2.0, n_centers=60, random_state=7).fit(X, y)
    b = NPLMKernelEstimator(sigma=2.0, n_centers=60, random_state=7).fit(X, y)
    c = NPLMKernelEstimator(sigma=2.0, n_centers=60, random_state=8).fit(X, y)
    assert a.statistic_ == b.statistic_
    assert not np.array_equal(a.center_indices_, c.center_indices_)


def test_one_over_m_preconditioner_takes_fewer_cg_iterations_for_about_the_same_t():
    """falkon scales its preconditioner by 1/N; 1/M stops CG earlier at the same tolerance.

    t then moves within the CG tolerance (0.04% in the reference's benchmark), so published
    nulls need the default "n". The gain is for smooth kernels, as the recipe's 90th-percentile
    width (measured: 20 -> 9 iterations here; for sigma = 1 in 3-D it took more, 45 -> 84).
    """
    X, y = _sample(n_data=10000, n_ref=20000, d=5)
    n = NPLMKernelEstimator(sigma=4.3, n_centers=500, random_state=0).fit(X, y)
    m = NPLMKernelEstimator(sigma=4.3, n_centers=500, random_state=0, preconditioner_scale="m").fit(
        X, y
    )
    assert m.statistic_ == pytest.approx(n.statistic_, rel=1e-3)
    assert m.cg_iterations_[0] < n.cg_iterations_[0]


# -- memory --------------------------------------------------------------------------------------
def test_kernel_is_recomputed_in_tiles_beyond_the_memory_cap():
    from nhtad.scoring.kernel_operator import NystromKernel, SquaredDistances

    X, y = _sample(n_data=20000, n_ref=20000)
    # The exact step: the recipe's truncated CG turns summation-order rounding into ~1e-5 of t.
    params = dict(sigma=2.0, n_centers=300, random_state=0, solver="exact")
    est = NPLMKernelEstimator(max_memory=8 * 40000 * 300 - 1, **params).fit(X, y)
    assert est.kernel_storage_ == "recomputed"
    stored = NPLMKernelEstimator(**params).fit(X, y)
    assert stored.kernel_storage_ == "stored"
    assert est.statistic_ == pytest.approx(stored.statistic_, rel=1e-6)
    # The recomputing operator owns one tile of work space per worker thread, never N x M.
    Xt = torch.as_tensor(X)
    kernel = NystromKernel(SquaredDistances(Xt, Xt[:300], store=False), 2.0, store=False)
    assert kernel.matrix is None and len(kernel._work) == kernel.workers
    assert all(work.shape == (kernel.tile, 300) for work in kernel._work)
    assert kernel.tile * 300 * 8 <= 8 * 2**20


@pytest.mark.parametrize("store", [True, False])
def test_kernel_products_do_not_depend_on_the_number_of_worker_threads(store):
    """Tiles are shared between threads, but each tile's term is summed in a fixed order."""
    import torch

    from nhtad.scoring.kernel_operator import NystromKernel, SquaredDistances

    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.standard_normal((5000, 3)))
    v = torch.as_tensor(rng.standard_normal(40))
    curvature = torch.as_tensor(rng.uniform(0.1, 1.0, 5000))
    results = []
    for workers in (1, 2, 3):
        distances = SquaredDistances(X, X[:40], store=False)
        distances.tile = 64  # many tiles, so that every worker gets several
        kernel = NystromKernel(distances, 1.5, store=store)
        kernel.workers = workers
        kernel._work = [torch.empty((64, 40), dtype=X.dtype) for _ in range(workers)]
        results.append((kernel.hessvec(v, curvature), kernel.rmatvec(curvature), kernel.matvec(v)))
    for other in results[1:]:
        for ours, theirs in zip(results[0], other):
            assert torch.equal(ours, theirs)
    dense = torch.exp(-(torch.cdist(X, X[:40]) ** 2) / (2 * 1.5**2))
    torch.testing.assert_close(results[0][0], dense.T @ (curvature * (dense @ v)))


@pytest.mark.slow
def test_one_million_events_fit_within_a_small_memory_footprint():
    """N = 1M, M = 2000 on CPU without the 16 GB kernel: peak RSS stays under 3 GB."""
    code = textwrap.dedent(
        """
        import resource, numpy as np
        from nhtad.scoring import NPLMKernelEstimator
        rng = np.random.default_rng(0)
        X = rng.standard_normal((1_000_000, 5)); y = np.r_[np.ones(333_000, int), np.zeros(667_000, int)]
        est = NPLMKernelEstimator(sigma=4.3, n_centers=2000, random_state=0, max_memory=2**30).fit(X, y)
        print(est.kernel_storage_, est.statistic_, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    storage, t, rss_kb = out.stdout.split()
    assert storage == "recomputed" and math.isfinite(float(t))
    assert int(rss_kb) < 3 * 2**20


# -- devices -------------------------------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device in this machine")
@pytest.mark.parametrize("loss", ["falkon", "nplm"])
def test_cuda_matches_cpu(loss):
    X, y = _sample(n_data=20000, n_ref=40000, n_signal=100)
    common = dict(
        sigma=[1.5, 3.0],
        n_centers=500,
        random_state=0,
        loss=loss,
        solver="exact" if loss == "falkon" else "auto",
    )
    cpu = NPLMKernelEstimator(**common).fit(X, y)
    gpu = NPLMKernelEstimator(device="cuda", **common).fit(X, y)
    np.testing.assert_allclose(gpu.statistic_, cpu.statistic_, rtol=1e-6)
    np.testing.assert_allclose(
        gpu.decision_function(X[:100]), cpu.decision_function(X[:100]), atol=1e-6
    )


def test_cuda_request_without_cuda_says_so():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    X, y = _sample(n_data=100, n_ref=200)
    with pytest.raises(ValueError, match="CUDA is not available"):
        NPLMKernelEstimator(device="cuda", sigma=1.0, n_centers=10).fit(X, y)


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_centers=500), "more than the 300 events"),
        (dict(sigma=0.0), "sigma must be a positive"),
        (dict(sigma=[1.0, -2.0]), "sigma must be a positive"),
        (dict(lam=0.0), "lam must be a positive"),
        (dict(lam=-1e-6), "lam must be a positive"),
        (dict(loss="mse"), "loss must be one of"),
        (dict(solver="lbfgs"), "solver must be one of"),
        (dict(centers=np.array([0, 0, 1])), "must not repeat"),
        (dict(centers=np.array([0, 400])), r"must lie in \[0, 300\)"),
        (dict(centers=np.ones((4, 2))), r"\(M, 3\) array"),
        (dict(backend="falkon", loss="nplm"), "falkon's own recipe"),
        (dict(expected_n_data=-3.0), "expected_n_data must be a positive"),
        (dict(n_centers="log"), "n_centers must be"),
    ],
)
def test_bad_parameters_say_what_to_do(params, match):
    X, y = _sample(n_data=100, n_ref=200)
    params = {"sigma": 1.0, "n_centers": 10, **params}
    with pytest.raises(ValueError, match=match):
        NPLMKernelEstimator(**params).fit(X, y)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda X, y: (X, np.where(y == 1, 2, 0)), r"must be 1 \(data\) or 0 \(reference\)"),
        (lambda X, y: (X, np.ones_like(y)), "no reference events"),
        (lambda X, y: (X, np.zeros_like(y)), "no data events"),
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 4, np.nan, X), y), "NaN"),
        (
            lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 4, np.inf, X), y),
            "infinity",
        ),
        (lambda X, y: (X, y[:-1]), "inconsistent numbers of samples"),
        (lambda X, y: (X, y.astype(float) * 0.5), "Unknown label type|must be 1"),
    ],
)
def test_bad_input_says_what_was_wrong(mutate, match):
    X, y = _sample(n_data=100, n_ref=200)
    X, y = mutate(X, y)
    with pytest.raises(ValueError, match=match):
        NPLMKernelEstimator(sigma=1.0, n_centers=10).fit(X, y)


def test_a_width_that_rounds_to_zero_is_refused():
    X, y = _sample(n_data=100, n_ref=200)
    with pytest.raises(ValueError, match="sigma_decimals=None"):
        NPLMKernelEstimator(n_centers=10).fit(X * 1e-4, y)
    est = NPLMKernelEstimator(n_centers=10, sigma_decimals=None, random_state=0).fit(X * 1e-4, y)
    assert 0 < est.sigma_ < 1e-3


# -- the optional real falkon --------------------------------------------------------------------
def test_falkon_backend_without_falkon_says_how_to_proceed():
    try:
        import falkon  # noqa: F401
    except ImportError:
        X, y = _sample(n_data=100, n_ref=200)
        with pytest.raises(ImportError, match="backend='torch'"):
            NPLMKernelEstimator(backend="falkon", sigma=1.0, n_centers=10, random_state=0).fit(X, y)
    else:
        pytest.skip("falkon is installed")


def test_falkon_backend_builds_the_nplm_falkon_recipe(monkeypatch):
    """With a stand-in falkon that records its calls: the recipe's configuration reaches it."""
    calls = {}

    class GaussianKernel:
        def __init__(self, sigma):
            self.sigma = sigma

    class WeightedCrossEntropyLoss:
        def __init__(self, kernel, neg_weight):
            calls["neg_weight"] = neg_weight

    class FalkonOptions:
        def __init__(self, **kwargs):
            calls["options"] = kwargs

    class FixedSelector:
        def __init__(self, centers, y_centers, idx_centers):
            calls["selector"] = (centers, y_centers, idx_centers)

    class LogisticFalkon:
        def __init__(self, **kwargs):
            calls["model"] = kwargs

        def fit(self, X, Y):
            calls["fit"] = (X, Y)
            self.alpha_ = torch.zeros(len(calls["selector"][2]), 1, dtype=torch.float64)
            return self

        def predict(self, X):
            return torch.zeros(X.shape[0], 1, dtype=torch.float64)

    fake = types.ModuleType("falkon")
    fake.LogisticFalkon = LogisticFalkon
    modules = {
        "falkon": fake,
        "falkon.center_selection": types.SimpleNamespace(FixedSelector=FixedSelector),
        "falkon.gsc_losses": types.SimpleNamespace(
            WeightedCrossEntropyLoss=WeightedCrossEntropyLoss
        ),
        "falkon.kernels": types.SimpleNamespace(GaussianKernel=GaussianKernel),
        "falkon.options": types.SimpleNamespace(FalkonOptions=FalkonOptions),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    X, y = _sample(n_data=100, n_ref=200)
    est = NPLMKernelEstimator(backend="falkon", sigma=1.3, n_centers=10, random_state=0).fit(X, y)
    model = calls["model"]
    assert model["penalty_list"] == [1e-6] and model["iter_list"] == [1_000_000]
    assert model["M"] == 10 and model["kernel"].sigma == 1.3
    assert calls["neg_weight"] == pytest.approx(0.5)
    assert calls["options"]["cg_tolerance"] == pytest.approx(math.sqrt(1e-7))
    assert calls["options"]["keops_active"] == "no"
    Xf, Yf = calls["fit"]
    assert Xf.dtype == torch.float64 and Yf.shape == (300, 1)
    np.testing.assert_array_equal(calls["selector"][2].numpy(), est.center_indices_)
    np.testing.assert_array_equal(calls["selector"][1].numpy().ravel(), y[est.center_indices_])
    assert est.statistic_ == 0.0 and est.kernel_storage_ == "falkon"


def test_falkons_small_benchmark_statistic():
    """falkon 0.9.0 gave t = 163.559 for N_D = 10k, N_R = 20k, M = 500, sigma 4.3 (nplm_falkon.md Sec. 13)."""
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((20000, 5))
    data = rng.standard_normal((10000, 5))
    X = np.vstack([data, reference])
    y = np.r_[np.ones(10000, int), np.zeros(20000, int)]
    sigma = candidate_sigma(reference, 90)
    assert sigma == 4.3
    est = NPLMKernelEstimator(sigma=sigma, n_centers=500, random_state=0).fit(X, y)
    assert est.statistic_ == pytest.approx(163.559, abs=5e-4)
