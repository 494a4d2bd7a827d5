"""ToyCalibrator: reproducible, parallel, splittable toy runs and their p-values."""

import numpy as np
import pytest
from scipy import stats
from sklearn.base import clone

from nhtad.calibration import LHCOToys, ToyCalibrator, ToyFailedError, run_one_toy, toy_seed
from nhtad.stats import (
    HyperTest,
    MutualInformationIndependenceTest,
    TemplateCutAndCountTest,
    ToyFloorWarning,
)


class GaussianTemplateToys:
    """Data and reference from the same normal law: a null generator (picklable for loky)."""

    def __init__(self, n_data=1000, n_reference=2000, shift=0.0, n_signal=0):
        self.n_data, self.n_reference, self.shift, self.n_signal = (
            n_data,
            n_reference,
            shift,
            n_signal,
        )

    def __call__(self, random_state):
        rng = np.random.default_rng(random_state)
        data = np.r_[rng.normal(size=self.n_data), rng.normal(self.shift, 0.3, self.n_signal)]
        s = np.r_[data, rng.normal(size=self.n_reference)]
        y = np.r_[np.ones(data.size, int), np.zeros(self.n_reference, int)]
        return s, y


class ColumnToys(GaussianTemplateToys):
    def __call__(self, random_state):
        s, y = super().__call__(random_state)
        return s[:, None], y


class NaNToys(GaussianTemplateToys):
    def __call__(self, random_state):
        s, y = super().__call__(random_state)
        s[3] = np.nan
        return s, y


TEST = TemplateCutAndCountTest(quantile=0.9)


def _calibrator(**kwargs):
    params = dict(generator=GaussianTemplateToys(), n_toys=40, random_state=7, batch_size=7)
    params.update(kwargs)
    return ToyCalibrator(TEST, **params)


def test_same_null_for_any_n_jobs_and_for_a_split_and_merged_run():
    one = _calibrator(n_jobs=1).fit()
    two = _calibrator(n_jobs=2).fit()
    np.testing.assert_array_equal(one.null_distribution_, two.null_distribution_)
    first = _calibrator().fit(toys=range(0, 15))
    second = _calibrator(batch_size=3).fit(toys=slice(15, 40))
    merged = second.merge(first)
    np.testing.assert_array_equal(merged.null_distribution_, one.null_distribution_)
    np.testing.assert_array_equal(merged.toy_indices_, np.arange(40))
    assert [s.spawn_key for s in merged.seeds_] == [s.spawn_key for s in one.seeds_]
    # Overlapping parts merge too (the shared toys agree).
    overlap = _calibrator().fit(toys=range(10, 20)).merge(first)
    assert overlap.toy_indices_.tolist() == list(range(20))
    # The seeds are SeedSequence(7).spawn(n): toy i alone reproduces row i.
    root = np.random.SeedSequence(7)
    assert toy_seed(root, 5).spawn_key == root.spawn(40)[5].spawn_key
    again = run_one_toy(TEST, GaussianTemplateToys(), one.seeds_[5])
    assert again == one.null_distribution_[5]
    # A different seed gives different toys.
    other = _calibrator(random_state=8).fit()
    assert not np.array_equal(other.null_distribution_, one.null_distribution_)


def test_runs_of_different_calibrations_do_not_merge():
    a = _calibrator().fit(toys=range(5))
    with pytest.raises(ValueError, match="differ in seed.entropy"):
        a.merge(_calibrator(random_state=8).fit(toys=range(5, 10)))
    with pytest.raises(ValueError, match="differ in test.quantile"):
        a.merge(
            ToyCalibrator(
                TemplateCutAndCountTest(quantile=0.8),
                GaussianTemplateToys(),
                n_toys=40,
                random_state=7,
            ).fit(toys=range(5, 10))
        )


def test_save_and_load_round_trip(tmp_path):
    part = _calibrator().fit(toys=range(0, 20))
    path = part.save(tmp_path / "part.npz")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _calibrator().fit(toys=range(0, 5)).save(path)  # never replaces a calibration silently
    assert part.save(path, overwrite=True) == path
    loaded = ToyCalibrator.load(path, TEST, GaussianTemplateToys())
    np.testing.assert_array_equal(loaded.null_distribution_, part.null_distribution_)
    rest = _calibrator().fit(toys=range(20, 40))
    full = loaded.merge(rest)
    np.testing.assert_array_equal(full.null_distribution_, _calibrator().fit().null_distribution_)
    with pytest.raises(ValueError, match="made with another run: they differ in test.quantile"):
        ToyCalibrator.load(path, TemplateCutAndCountTest(quantile=0.8), GaussianTemplateToys())


def test_pvalue_conventions():
    cal = _calibrator(n_toys=30).fit()
    null = cal.null_distribution_
    t = float(np.median(null))
    assert cal.pvalue(t) == pytest.approx((1 + np.sum(null >= t)) / 31)
    with pytest.warns(ToyFloorWarning, match="beyond all n = 30 toys"):
        assert cal.pvalue(null.max() + 1) == pytest.approx(1 / 31)
    # Randomised ties: the observed value ranked uniformly among the toys it ties with. The
    # cut-and-count statistic is 0 on many toys, so t = 0 ties: p = (#above + U (#tied + 1))
    # / 31 with U in (0, 1], drawn from random_state, strictly inside the conservative count.
    tied, above = int(np.sum(null == 0.0)), int(np.sum(null > 0.0))
    assert tied >= 2
    u = 1.0 - np.random.default_rng(np.random.SeedSequence(0)).uniform()
    p = cal.pvalue(0.0, ties="randomized", random_state=0)
    assert p == pytest.approx((above + u * (tied + 1)) / 31)
    assert p < cal.pvalue(0.0) == pytest.approx((1 + above + tied) / 31)
    draws = [cal.pvalue(0.0, ties="randomized", random_state=k) for k in range(200)]
    assert np.mean(draws) == pytest.approx((above + 0.5 * (tied + 1)) / 31, rel=0.1)
    with pytest.warns(ToyFloorWarning, match="Z = 1.85 is a cap"):
        assert cal.significance(null.max() + 1) == pytest.approx(stats.norm.isf(1 / 31))
    with pytest.raises(ValueError, match="ties must be"):
        cal.pvalue(1.0, ties="mid")
    with pytest.raises(ValueError, match="finite"):
        cal.pvalue(np.nan)


def test_signal_toys_and_power():
    cal = _calibrator(n_toys=60).fit()
    cal.fit_alternative(GaussianTemplateToys(shift=2.0, n_signal=150), 30, random_state=1)
    power = cal.power(2.0)
    assert power.n_toys == 30 and power.power > 0.9
    with pytest.raises(ValueError, match="reuse the null toys' seeds"):
        cal.fit_alternative(GaussianTemplateToys(), 5, random_state=7)


def test_a_failing_toy_names_itself():
    cal = ToyCalibrator(TEST, NaNToys(), n_toys=4, random_state=0)
    with pytest.raises(ToyFailedError, match=r"toy 0 failed: ValueError: .*NaN"):
        cal.fit()
    with pytest.raises(ValueError, match="n_toys"):
        ToyCalibrator(TEST, GaussianTemplateToys(), n_toys=0).fit()
    with pytest.raises(ValueError, match="toy indices must lie"):
        _calibrator().fit(toys=range(30, 50))
    with pytest.raises(ValueError, match="callable"):
        ToyCalibrator(TEST, "not a generator", n_toys=3).fit()


def test_nested_random_states_are_reseeded_per_toy():
    from sklearn.pipeline import make_pipeline

    from nhtad.scoring import HGBEnsembleClassifier, ScoreTransformer

    pipe = make_pipeline(
        ScoreTransformer(
            HGBEnsembleClassifier(n_estimators=2, max_iter=5, random_state=0), cv=2, refit=False
        ),
        TemplateCutAndCountTest(quantile=0.8),
    )
    cal = ToyCalibrator(pipe, ColumnToys(n_data=300, n_reference=600), n_toys=3, random_state=0)
    cal.fit()
    assert cal.null_distribution_.shape == (3,)
    # Every random_state inside the pipeline is set from the toy's seed, the same way each time.
    from nhtad.calibration.toys import _reseed

    first, second = clone(pipe), clone(pipe)
    _reseed(first, cal.seeds_[0], 1)
    _reseed(second, cal.seeds_[0], 1)
    key = "scoretransformer__estimator__random_state"
    assert first.get_params()[key] == second.get_params()[key] != 0
    _reseed(second, cal.seeds_[1], 1)
    assert second.get_params()[key] != first.get_params()[key]


@pytest.mark.parametrize("kind, n_arrays", [("template", 2), ("regions", 2), ("mjj", 2)])
def test_lhco_toys(kind, n_arrays):
    toys = LHCOToys(40_000, kind=kind)
    seed = np.random.SeedSequence(3)
    first, again = toys(seed), toys(seed)
    assert len(first) == n_arrays
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[-1], toys(1)[-1])
    if kind == "template":
        X, y = first
        assert X.shape[1] == 5 and set(np.unique(y)) == {0, 1}
        assert 1.5 < (y == 0).sum() / (y == 1).sum() < 2.5
    with pytest.raises(ValueError, match="kind must be"):
        LHCOToys(1000, kind="sidebands")


def test_mi_test_on_lhco_like_mjj_toys_runs_through_the_calibrator():
    """Any test with statistic_ works; here the MI test of a score that ignores mjj."""

    class Scored:
        def __call__(self, random_state):
            _, mjj = LHCOToys(200_000, kind="mjj")(random_state)
            s = np.random.default_rng(random_state).normal(size=mjj.size)
            return s, mjj

    test = MutualInformationIndependenceTest(rel_uncertainty=0.03)
    cal = ToyCalibrator(test, Scored(), n_toys=5, random_state=0).fit()
    # Each toy is a fresh sample: five different, positive mutual informations, each one
    # reproduced by rerunning its toy alone.
    null = cal.null_distribution_
    assert np.unique(null).size == 5 and np.all(null > 0)
    assert run_one_toy(test, Scored(), cal.seeds_[3]) == null[3]


def test_hyper_test_calibrated_by_the_calibrator_is_uniform_under_the_null():
    """Type-I (acceptance): template cut-and-count and a 4-threshold hyper-test, toy-calibrated.

    Both statistics are discrete (t_cc is 0 whenever the data fall short of the background), so
    the observed value is ranked among the tied null toys at random ("randomized" ties); the
    p-value is then exactly uniform under the null and the KS test applies.
    """
    hyper = HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", [0.8, 0.9, 0.95, 0.99])
    gen = GaussianTemplateToys(n_data=1000, n_reference=2000)
    for test in (TemplateCutAndCountTest(quantile=0.9), hyper):
        null = ToyCalibrator(test, gen, n_toys=400, random_state=11).fit()
        observed = ToyCalibrator(test, gen, n_toys=200, random_state=12).fit()
        p = np.array(
            [
                null.pvalue(t, ties="randomized", random_state=k)
                for k, t in enumerate(observed.null_distribution_)
            ]
        )
        assert stats.kstest(p, "uniform").pvalue > 0.01
        # Calibrated HyperTest reports an empirical p on toys: method "toys".
        if test is hyper:
            s, y = gen(0)
            result = hyper.set_params(null_distribution=null.null_distribution_).test(s, y)
            assert result.method == "toys" and result.details["calibration"] == "toys"


def test_same_null_under_a_dask_cluster():
    """Acceptance: toys moved to Dask with joblib.parallel_config give the same null."""
    pytest.importorskip("distributed")
    import joblib
    from distributed import Client, LocalCluster

    reference = _calibrator(n_toys=12).fit()
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster),
    ):
        with joblib.parallel_config(backend="dask"):
            on_dask = _calibrator(n_toys=12, n_jobs=2).fit()
    np.testing.assert_array_equal(on_dask.null_distribution_, reference.null_distribution_)


# ------------------------------------------------------------------ identity, checkpoints (issue 15)
def _hyper(thresholds):
    return HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", thresholds)


def test_a_one_threshold_difference_among_fifteen_is_a_different_test(tmp_path):
    # repr elides long lists: both print alike, but their toys must not be mixed.
    grid = list(np.round(np.linspace(0.60, 0.88, 15), 3))
    other = list(grid)
    other[7] = 0.755 if grid[7] != 0.755 else 0.745
    a, b = _hyper(grid), _hyper(other)
    a_run = ToyCalibrator(a, GaussianTemplateToys(), n_toys=6, random_state=0).fit(toys=range(3))
    b_run = ToyCalibrator(b, GaussianTemplateToys(), n_toys=6, random_state=0).fit(toys=range(3, 6))
    with pytest.raises(ValueError, match="differ in test.tests"):
        a_run.merge(b_run)
    path = a_run.save(tmp_path / "hyper.npz")
    with pytest.raises(ValueError, match="made with another run: they differ in test.tests"):
        ToyCalibrator.load(path, b, GaussianTemplateToys())
    assert ToyCalibrator.load(path, _hyper(grid), GaussianTemplateToys()).toy_indices_.size == 3


def test_merge_and_load_refuse_another_generator_or_statistic(tmp_path):
    null = _calibrator().fit(toys=range(0, 5))
    signal = _calibrator(generator=GaussianTemplateToys(shift=2.0, n_signal=100)).fit(
        toys=range(5, 10)
    )
    with pytest.raises(ValueError, match="differ in generator.content"):
        null.merge(signal)  # a null run merged with signal toys gave p(t=10) = 0.545
    path = null.save(tmp_path / "null.npz")
    with pytest.raises(ValueError, match="differ in generator.content"):
        ToyCalibrator.load(path, TEST, GaussianTemplateToys(n_data=999))
    with pytest.raises(ValueError, match="differ in generator.content, generator.type"):
        ToyCalibrator.load(path, TEST, ColumnToys())
    with pytest.raises(ValueError, match="differ in statistic"):
        null.merge(_calibrator(statistic="log_pvalue_").fit(toys=range(5, 10)))
    with pytest.raises(ValueError, match="differ in statistic"):
        ToyCalibrator.load(path, TEST, GaussianTemplateToys(), statistic="log_pvalue_")
    # n_jobs, verbose and random_state of the test never change a toy: not part of the identity.
    loose = _calibrator(n_jobs=2, verbose=1).fit(toys=range(5, 10))
    assert null.merge(loose).toy_indices_.tolist() == list(range(10))
    mi = [
        ToyCalibrator(
            MutualInformationIndependenceTest(rel_uncertainty=0.05, random_state=rs),
            GaussianTemplateToys(),
            4,
            random_state=0,
        ).fit(toys=[k])
        for k, rs in ((0, 3), (1, 4))
    ]
    assert mi[0].merge(mi[1]).toy_indices_.tolist() == [0, 1]


def test_device_is_not_part_of_a_runs_identity():
    # A calibration begun on a GPU can be finished on a CPU (NPLM's t agrees to ~1e-7), and a
    # checkpoint written while the device still counted resumes.
    from nhtad.scoring import NPLMKernelEstimator
    from nhtad.utils.checkpoint import identity_differences
    from nhtad.utils.fingerprint import param_fingerprints

    gpu, cpu = NPLMKernelEstimator(device="cuda"), NPLMKernelEstimator(device="cpu")
    assert param_fingerprints(gpu) == param_fingerprints(cpu)
    assert "device" not in param_fingerprints(cpu)
    old = {"test": {**param_fingerprints(cpu), "device": "d0e389d8", "est__device": "d0e3"}}
    assert identity_differences(old, {"test": param_fingerprints(cpu)}) == []
    other = NPLMKernelEstimator(n_centers=7)
    assert identity_differences(old, {"test": param_fingerprints(other)}) == ["test.n_centers"]


def test_plain_function_generators_are_identified_by_code_and_closure():
    def make(shift):
        def generator(seed):
            rng = np.random.default_rng(seed)
            return rng.normal(shift, size=300), np.r_[np.ones(100), np.zeros(200)]

        return generator

    def run(gen, toys, **kw):
        return ToyCalibrator(TEST, gen, n_toys=4, random_state=0, **kw).fit(toys=toys)

    assert run(make(0.0), [0]).merge(run(make(0.0), [1])).toy_indices_.size == 2
    with pytest.raises(ValueError, match="differ in generator.content"):
        run(make(0.0), [0]).merge(run(make(0.5), [1]))
    # A user-given name replaces the hash (and is compared instead).
    named = run(make(0.0), [0], generator_id="gauss-v1")
    assert named.merge(run(make(0.5), [1], generator_id="gauss-v1")).toy_indices_.size == 2
    with pytest.raises(ValueError, match="differ in generator.id"):
        named.merge(run(make(0.0), [1], generator_id="gauss-v2"))
    with pytest.raises(ValueError, match="generator_id must be a non-empty string"):
        run(make(0.0), [0], generator_id=3)


def test_merge_keeps_signal_toys(tmp_path):
    signal = GaussianTemplateToys(shift=2.0, n_signal=150)
    a = _calibrator().fit(toys=range(0, 20)).fit_alternative(signal, 6, random_state=1)
    b = _calibrator().fit(toys=range(20, 40))
    merged = a.merge(b)
    np.testing.assert_array_equal(merged.alternative_distribution_, a.alternative_distribution_)
    assert merged.power(2.0).n_toys == 6
    both = b.fit_alternative(signal, 6, random_state=1).merge(a)
    np.testing.assert_array_equal(both.alternative_distribution_, a.alternative_distribution_)
    with pytest.raises(ValueError, match="signal toys come from different signal runs"):
        a.merge(_calibrator().fit(toys=[39]).fit_alternative(signal, 6, random_state=2))
    loaded = ToyCalibrator.load(merged.save(tmp_path / "m.npz"), TEST, GaussianTemplateToys())
    np.testing.assert_array_equal(loaded.alternative_distribution_, a.alternative_distribution_)
    assert [s.spawn_key for s in loaded.alternative_seeds_] == [
        s.spawn_key for s in a.alternative_seeds_
    ]


def test_damaged_calibration_files_are_refused_with_a_clear_error(tmp_path):
    path = _calibrator().fit(toys=range(5)).save(tmp_path / "c.npz")
    data = path.read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "random": np.random.default_rng(0).bytes(2000),
    }
    for name, content in cases.items():
        bad = tmp_path / f"{name}.npz"
        bad.write_bytes(content)
        with pytest.raises(ValueError, match="not a readable ToyCalibrator file"):
            ToyCalibrator.load(bad, TEST, GaussianTemplateToys())
    other = tmp_path / "other.npz"
    np.savez(other, x=np.arange(3))
    with pytest.raises(ValueError, match="not a readable ToyCalibrator file"):
        ToyCalibrator.load(other, TEST, GaussianTemplateToys())
    with pytest.raises(FileNotFoundError, match="no calibration file"):
        ToyCalibrator.load(tmp_path / "missing.npz", TEST, GaussianTemplateToys())


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_checkpoint_resumes_bit_for_bit(tmp_path, n_jobs):
    full = _calibrator().fit()
    path = tmp_path / "run.ckpt"
    # A first run of some toys (as if interrupted), then the whole run on the same checkpoint.
    _calibrator(checkpoint=path, n_jobs=n_jobs).fit(toys=range(0, 40, 3))
    resumed = _calibrator(checkpoint=path, n_jobs=n_jobs, batch_size=4).fit()
    assert resumed.n_resumed_ == 14
    np.testing.assert_array_equal(resumed.null_distribution_, full.null_distribution_)
    again = _calibrator(checkpoint=path).fit()
    assert again.n_resumed_ == 40
    np.testing.assert_array_equal(again.null_distribution_, full.null_distribution_)
    # Another test, generator, statistic or seed on this checkpoint is refused.
    for bad, name in (
        (dict(random_state=8), "seed.entropy"),
        (dict(generator=GaussianTemplateToys(shift=1.0)), "generator.content"),
        (dict(statistic="log_pvalue_"), "statistic"),
    ):
        with pytest.raises(ValueError, match=f"belongs to another run: {name}"):
            _calibrator(checkpoint=path, **bad).fit()
    with pytest.raises(ValueError, match="reproducible random_state"):
        _calibrator(checkpoint=tmp_path / "x.ckpt", random_state=None).fit()


def test_checkpoint_with_an_append_cut_short_reruns_only_those_toys(tmp_path, caplog):
    path = tmp_path / "run.ckpt"
    _calibrator(checkpoint=path).fit(toys=range(20))
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 1 + 3 + 1  # header, batches of 7, 7, 6, trailing newline
    path.write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:25])  # last append cut short
    with caplog.at_level("WARNING"):
        resumed = _calibrator(checkpoint=path).fit()
    assert "cut short" in caplog.text
    assert resumed.n_resumed_ == 14
    np.testing.assert_array_equal(
        resumed.null_distribution_, _calibrator().fit().null_distribution_
    )
    # Damage before the last line is not an interrupted append: refused.
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b"[", b"{", 1)
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(ValueError, match="line 2 of the checkpoint .* is damaged"):
        _calibrator(checkpoint=path).fit()
    not_a_checkpoint = tmp_path / "notes.txt"
    not_a_checkpoint.write_text("my notes\n")
    with pytest.raises(ValueError, match="is not an nhtad checkpoint"):
        _calibrator(checkpoint=not_a_checkpoint).fit()


class InterruptingToys(GaussianTemplateToys):
    """Raises KeyboardInterrupt (a Ctrl-C) when it reaches toy ``at`` of the run."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def __call__(self, random_state):
        if random_state.spawn_key[-2] == self.at:
            raise KeyboardInterrupt
        return super().__call__(random_state)


def test_ctrl_c_keeps_the_finished_toys_and_says_how_to_resume(tmp_path, caplog):
    path = tmp_path / "run.ckpt"
    cal = ToyCalibrator(
        TEST, InterruptingToys(at=17), n_toys=40, random_state=7, batch_size=7, checkpoint=path
    )
    with pytest.raises(KeyboardInterrupt) as info:
        cal.fit()
    note = " ".join(getattr(info.value, "__notes__", [])) or caplog.text  # Python 3.10: logged
    assert "interrupted after 14 of 40 toys" in note
    assert "call fit() again with the same checkpoint" in note
    assert cal.toy_indices_.tolist() == list(range(14))
    full = _calibrator().fit()
    np.testing.assert_array_equal(cal.null_distribution_, full.null_distribution_[:14])
    # The generator fixed (same identity: generator_id), the rerun reuses the 14.
    resumed = ToyCalibrator(
        TEST,
        GaussianTemplateToys(),
        n_toys=40,
        random_state=7,
        checkpoint=tmp_path / "named.ckpt",
        generator_id="gauss",
    )
    with pytest.raises(KeyboardInterrupt):
        resumed.set_params(generator=InterruptingToys(at=30)).fit()
    resumed.set_params(generator=GaussianTemplateToys()).fit()
    assert resumed.n_resumed_ == 30
    np.testing.assert_array_equal(resumed.null_distribution_, full.null_distribution_)
    # Without a checkpoint the finished toys stay on the object.
    caplog.clear()
    bare = _calibrator(generator=InterruptingToys(at=10))
    with pytest.raises(KeyboardInterrupt) as info:
        bare.fit()
    note = " ".join(getattr(info.value, "__notes__", [])) or caplog.text
    assert "kept in null_distribution_" in note and bare.toy_indices_.size == 7


def test_a_number_of_toys_that_cannot_fit_is_refused_up_front(monkeypatch):
    from nhtad.utils import validation

    monkeypatch.setattr(validation, "total_memory_bytes", lambda: 64 * 10**9)
    with pytest.raises(ValueError, match=r"n_toys=10000000000 needs at least ~1 TB"):
        _calibrator(n_toys=10**10).fit()
    with pytest.raises(ValueError, match="fit\\(toys=range\\(a, b\\)\\) and merge"):
        _calibrator(n_toys=10**12).fit(toys=slice(0, None, 2))
    assert _calibrator(n_toys=10**12).fit(toys=[0, 10**11]).toy_indices_.size == 2
