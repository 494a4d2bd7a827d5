"""NPLMTest: NPLM's end-to-end test as a BaseTest, calibrated on toys of itself."""

import numpy as np
import pytest
from sklearn.base import clone

pytest.importorskip("torch")

from nhtad import NPLMTest  # noqa: E402
from nhtad.calibration import ReferenceResampler, ToyCalibrator  # noqa: E402
from nhtad.scoring import NPLMKernelEstimator  # noqa: E402
from nhtad.stats import (  # noqa: E402
    HyperTest,
    MultipleTestCombination,
    empirical_log_pvalue,
)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    pool = rng.normal(size=(20_000, 2))
    null_toys = ReferenceResampler(pool, 1000, 500)
    signal = ReferenceResampler(
        pool, 1000, 500, signal=rng.normal(2.0, 0.2, size=(500, 2)), n_signal=80
    )
    X, y = signal(np.random.SeedSequence(9))
    return null_toys, X, y


def _estimator(sigma):
    return NPLMKernelEstimator(sigma=sigma, n_centers=50, random_state=0)


# 20 toys and a clear excess: the empirical p-values sit at the floor, which they say.
@pytest.mark.filterwarnings("ignore::nhtad.stats.ToyFloorWarning")
def test_one_width_is_calibrated_on_toys_of_the_test_itself(setup):
    null_toys, X, y = setup
    test = NPLMTest(_estimator(1.0))
    cal = ToyCalibrator(test, null_toys, n_toys=20, random_state=0).fit()
    calibrated = clone(test).set_params(null=cal.null_distribution_)
    result = calibrated.test(X, y)
    t = _estimator(1.0).fit(X, y).statistic_
    assert result.statistic == pytest.approx(t) and calibrated.t_ == pytest.approx(t)
    assert result.method == "toys" and result.null_distribution.shape == (20,)
    assert result.log_pvalue == pytest.approx(empirical_log_pvalue(cal.null_distribution_, t))
    assert calibrated.score(X, y) == pytest.approx(result.significance)
    # Without a null, only the trivial bound p <= 1: never a p-value that was not measured.
    bare = NPLMTest(_estimator(1.0)).test(X, y)
    assert bare.method == "bound" and bare.pvalue == 1.0 and bare.statistic == result.statistic


@pytest.mark.filterwarnings("ignore::nhtad.stats.ToyFloorWarning")
def test_several_widths_are_combined_as_multiple_test_combination_does(setup):
    null_toys, X, y = setup
    est = _estimator([0.5, 1.0])
    cal = ToyCalibrator(NPLMTest(est), null_toys, n_toys=20, statistic="t_", random_state=0)
    null = cal.fit().null_distribution_
    assert null.shape == (20, 2)
    t = est.fit(X, y).statistic_
    for combine in ("min-p", "fisher", "softmax-t"):
        result = NPLMTest(est, null=null, combine=combine).test(X, y)
        reference = MultipleTestCombination(combine=combine).fit(null)
        assert result.log_pvalue == pytest.approx(reference.log_pvalue(t))
        assert result.statistic == pytest.approx(reference.combined_statistic(t))
        assert result.method == "toys"
    # A hyper-test over NPLM tests runs like one over any other test.
    hyper = HyperTest([NPLMTest(_estimator(0.5)), NPLMTest(_estimator(1.0))])
    assert np.isfinite(hyper.fit(X, y).statistic_)


def test_bad_settings_are_refused(setup):
    _, X, y = setup
    est = _estimator([0.5, 1.0])
    with pytest.raises(ValueError, match="need the toys' t per width"):
        NPLMTest(est, combine="min-p").fit(X, y)
    with pytest.raises(ValueError, match=r"shape \(n_toys, 2\)"):
        NPLMTest(est, null=np.ones(10)).fit(X, y)
    with pytest.raises(ValueError, match="NaN or inf"):
        NPLMTest(_estimator(1.0), null=[1.0, np.nan]).fit(X, y)
    with pytest.raises(ValueError, match="combine must be one of"):
        NPLMTest(est, combine="max-t").fit(X, y)
    with pytest.raises(ValueError, match="must be an NPLMKernelEstimator"):
        NPLMTest(estimator="falkon").fit(X, y)
