"""Results that explain themselves: the printed summaries of tests, scores and diagnostics.

Every public test of the null is fitted on the small cases of test_api_conventions (imported, so
a test class added there is summarised here too) and its printed result is read back: the
numbers in the text must be the result's, not only the words around them.
"""

import math
import re
import shlex

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from test_api_conventions import IDS, TESTS, _inputs, _nplm_test, data, sacwola_sample

from nhtad.datasets import SignalRegion
from nhtad.demo import NEXT_COMMAND, DemoRow, demo_summary
from nhtad.scoring import DecorrelationReport, OutOfFoldScores, decorrelation_report
from nhtad.scoring.crossfit import out_of_fold_scores
from nhtad.stats import (
    AnomalyCutTest,
    BumpHuntTest,
    HyperTest,
    MutualInformationIndependenceTest,
    SmoothTrendIndependenceTest,
    TemplateCutAndCountTest,
    TestResult,
    profile_likelihood_q0,
)
from nhtad.stats.base import METHODS
from nhtad.stats.dijet_function import sample_dijet
from nhtad.stats.pvalues import significance_to_log_pvalue
from nhtad.utils.summary import WIDTH, method_text

#: The fixtures of test_api_conventions that its _inputs draws from, shared rather than copied
#: (importing a fixture makes it available to this module's tests).
SHARED_FIXTURES = (data, sacwola_sample)


@pytest.fixture(params=range(len(TESTS)), ids=IDS)
def public_test(request):
    """Each public test class of test_api_conventions, as a fresh instance."""
    item = TESTS[request.param]
    return _nplm_test() if item == "NPLMTest" else clone(item)


def _field(text, label):
    """The text after ``label :`` in a summary, its wrapped continuation lines joined."""
    lines = text.splitlines()
    for k, line in enumerate(lines):
        match = re.match(rf"\s*{re.escape(label)}\s*: ", line)
        if match:
            # Wrapped lines continue under the first character of the value.
            under = " " * match.end()
            parts = [line[match.end() :]]
            parts += [rest.strip() for rest in _continuation(lines[k + 1 :], under)]
            return " ".join(parts)
    raise AssertionError(f"no {label!r} line in:\n{text}")


def _continuation(lines, under):
    for line in lines:
        if not line.startswith(under) or not line.strip():
            return
        yield line


def _printed_z(text):
    """Z as printed (``Z = x`` or ``Z >= x``)."""
    return float(re.search(r"Z >?= (-?[0-9]+\.[0-9]+|-?inf)", text).group(1))


def _printed_log10_p(text):
    """log10 of the printed p-value, read from its mantissa and exponent."""
    mantissa, exponent = re.match(r"([0-9.]+)e([+-][0-9]+)", _field(text, "p-value")).groups()
    return math.log10(float(mantissa)) + int(exponent)


def test_every_method_has_its_own_words():
    for method in METHODS:
        assert method_text(method, {}, 10).startswith(f"{method}: "), (
            f"method {method!r} falls back to its bare name: give it a text in "
            f"nhtad/utils/summary.py:method_text"
        )


def test_a_result_prints_its_test_p_z_and_how_p_was_obtained(public_test, data, request):
    with pytest.raises(NotFittedError):
        public_test.summary()
    args, kwargs = _inputs(public_test, data, request)
    result = public_test.fit(*args, **kwargs).result_
    text = str(result)
    # A test may add its own diagnostics after the result (SACWoLaTest: the plain MI p-value).
    assert text == result.summary() and public_test.summary().startswith(text)
    assert repr(result).startswith("TestResult(")  # the dataclass repr stays for code
    assert text.splitlines()[0].startswith(type(public_test).__name__)
    assert 10 ** _printed_log10_p(text) == pytest.approx(result.pvalue, rel=6e-3, abs=1e-300)
    assert _printed_z(text) == pytest.approx(result.significance, abs=6e-3)
    assert _field(text, "p obtained").startswith(f"{result.method}: ")
    assert _field(text, "events") == str(result.n_events)
    assert max(len(line) for line in text.splitlines()) <= WIDTH


def test_an_underflowing_p_prints_from_log_space_with_a_finite_z(data):
    s, y = data
    result = MutualInformationIndependenceTest(rel_uncertainty=0.05).test(s + y, y)
    assert result.pvalue == 0.0 and result.significance > 38  # the case: p underflows
    text = str(result)
    assert _printed_log10_p(text) == pytest.approx(result.log_pvalue / math.log(10), abs=2e-3)
    assert math.isfinite(_printed_z(text))
    # Z = 40 is p ~ 3.7e-350, far below the smallest double.
    at_40 = TestResult(1.0, 0.0, 40.0, "asymptotic", log_pvalue=significance_to_log_pvalue(40.0))
    assert re.match(r"[1-9]\.[0-9]{2}e-350", _field(str(at_40), "p-value"))
    assert "Z = 40.00" in str(at_40)


def test_a_bound_says_z_is_a_lower_bound_and_no_excess_says_so(data):
    s, y = data
    hyper = HyperTest.over_parameter(TemplateCutAndCountTest(), "quantile", [0.8, 0.9])
    assert hyper.fit(s, (y > 0.5).astype(int)).result_.method == "bound"
    assert "lower bound" in str(hyper.result_)
    bound = TestResult(1.0, 0.006, 2.5, "bound", log_pvalue=math.log(0.006))
    assert "Z >= 2.50" in str(bound) and "lower bound" in str(bound)
    deficit = TestResult(0.0, 0.7, -0.52, "exact", log_pvalue=math.log(0.7))
    assert "Z = -0.52" in str(deficit) and "no excess" in str(deficit)
    excess = TestResult(9.0, 0.0013, 3.01, "toys", null_distribution=np.zeros(999))
    assert "excess of 3.01 sigma" in str(excess) and "999 toys" in str(excess)


def test_details_show_scalars_and_short_tuples_but_no_arrays(data):
    s, y = data
    mi = MutualInformationIndependenceTest(rel_uncertainty=0.05).fit(s, y)
    text = mi.summary()
    assert _field(text, "degrees of freedom") == str(mi.result_.details["dof"])
    d_s, d_y = mi.result_.details["n_bins"]
    assert _field(text, "bins") == f"({d_s}, {d_y})"
    assert "contingency" not in text and "s_edges" not in text and "y_counts" not in text
    assert f"chi^2 law with {(d_s - 1) * (d_y - 1)} degrees of freedom" in text
    trend = SmoothTrendIndependenceTest(rel_uncertainty=0.05, y_bins=SignalRegion())
    text = trend.fit(s, 3100.0 + 800.0 * y).summary()
    assert _field(text, "trend degree (chosen)") == str(trend.degree_)


def _count_line(text):
    return " ".join(text[text.index("Count:") :].split())


def test_counting_tests_say_why_z_is_below_s_over_sqrt_b():
    mjj = sample_dijet(20_000, (1.0, 10.0, 5.0, 0.0), random_state=0)
    bump = BumpHuntTest().fit(None, mjj)
    details, line = bump.result_.details, _count_line(bump.summary())
    n, b = details["n_signal_region"], details["background"]
    z0 = float(re.search(r"S/sqrt\(B\) = (-?[0-9]+\.[0-9]+)", line).group(1))
    assert z0 == pytest.approx((n - b) / math.sqrt(b), abs=6e-3)
    assert f"+-{details['background_error']:.3g}" in line and "sideband fit" in line
    assert bump.significance_ < z0 and "so Z is below S/sqrt(B)" in line

    rng = np.random.default_rng(3)
    s, region = rng.random(6000), np.r_[np.ones(2000), np.zeros(4000)]
    s[:60] = 1.0 + rng.random(60)  # an excess at high score in the signal region
    cut = AnomalyCutTest(efficiency=0.02).fit(s, region)
    line = _count_line(cut.summary())
    assert f"N = {cut.n_selected_} observed" in line
    sigma = math.sqrt(cut.result_.details["variance"] - cut.expected_background_)
    assert f"+- {sigma:.3g}" in line and "so Z is below S/sqrt(B)" in line
    assert "Count:" not in MutualInformationIndependenceTest(0.05).fit(s, region).summary()


def test_out_of_fold_scores_summarise_their_numbers():
    rng = np.random.default_rng(0)
    scores = OutOfFoldScores(
        scores=np.r_[np.full(6, 0.25), np.full(3, 0.75)],
        fold=np.array([0, 1, 2, 0, 1, 2, 0, 1, 2]),
        is_simulation=np.r_[np.zeros(6, bool), np.ones(3, bool)],
        seeds=rng.integers(0, 2**31, size=(3, 2)),
    )
    text = str(scores)
    assert text == scores.summary()
    assert text.startswith("OutOfFoldScores: 9 events (6 data, 3 simulation)")
    assert "3 folds x 2 seed(s) = 6 trained models" in text
    assert _field(text, "events per fold") == "3"
    assert _field(text, "data scores").startswith("mean 0.25, sd 0")
    assert _field(text, "simulation scores").startswith("mean 0.75")

    X = rng.normal(size=(300, 2))
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    real = out_of_fold_scores(LogisticRegression(), X, y, cv=3, random_state=0)
    text = str(real)
    assert "300 events (300 data, 0 simulation)" in text and "simulation scores" not in text
    assert _field(text, "data scores").startswith(f"mean {real.data.mean():.4g}")


def test_decorrelation_report_reads_its_numbers_and_flags_a_dependence():
    rng = np.random.default_rng(1)
    n = 20_000
    mjj = rng.uniform(3100.0, 3900.0, n)
    sim = np.arange(n) >= n // 2
    truth = np.where(sim, 0, rng.random(n) < 0.1).astype(float)
    blind = rng.random(n) + truth
    mi_test = MutualInformationIndependenceTest(rel_uncertainty=0.05)
    report = decorrelation_report(blind, mjj, is_simulation=sim, truth=truth, mi_test=mi_test)
    text = str(report)
    assert text == report.summary()
    fine = _field(text, "AUC SR vs SB, simulation")
    assert fine.startswith(f"{report.auc_simulation_region:.4f} +- ") and "looks fine" in fine
    mi = _field(text, "MI test on simulation")
    assert f"Z = {report.mi_simulation.significance:.2f}" in mi and "looks fine" in mi
    assert _field(text, "AUC signal vs background").startswith(f"{report.auc_signal:.4f}")

    # Peaked in the signal region: a trend rising across the whole window would leave the AUC
    # at 0.5 (the sidebands flank the region), which the MI line then has to catch.
    knows_mjj = rng.random(n) - ((mjj - 3500.0) / 400.0) ** 2
    text = str(decorrelation_report(knows_mjj, mjj, is_simulation=sim, mi_test=mi_test))
    assert "CHECK" in _field(text, "AUC SR vs SB, simulation")
    assert "CHECK" in _field(text, "MI test on simulation")
    assert "not computed" in _field(text, "AUC signal vs background")
    by_hand = str(DecorrelationReport(0.52, None, None, None))
    assert "no event counts" in by_hand


def test_profile_likelihood_prints_q0_z_and_p_from_log_space():
    result = profile_likelihood_q0(130, 100.0, 5.0)
    text = str(result)
    assert _field(text, "q0") == f"{result.q0:.6g}"
    assert _printed_z(text) == pytest.approx(result.significance, abs=6e-3)
    assert _printed_log10_p(text) == pytest.approx(result.log_pvalue / math.log(10), abs=3e-3)
    huge = profile_likelihood_q0(1e6, 1e5, 0.0)  # Z ~ 1500: p far below any double
    assert _printed_log10_p(str(huge)) == pytest.approx(huge.log_pvalue / math.log(10), rel=1e-5)
    several = str(profile_likelihood_q0([90, 130, 200], 100.0, 5.0))
    assert "(3 counts)" in several and several.count("q0 ") == 3 and "no excess" in several


def _row(sb, z, p):
    return DemoRow(sb, 50_000, int(sb * 50_000), 1.0, 6.0, z, p, 1, 10.0)


def test_demo_ends_with_what_z_means_and_a_command_that_parses():
    from nhtad._cli_commands import cmd_study_sacwola
    from nhtad._cli_parser import build_parser

    text = demo_summary([_row(0.0, 0.4, 0.34), _row(0.01, 4.2, 1.33e-5)])
    meaning, last = text.splitlines()[-2:]
    assert meaning.startswith("What Z means:") and "S/B = 0.01" in meaning
    assert "p = 1.33e-05" in meaning and "excess of 4.20 sigma" in meaning
    assert last.startswith(f"Next: `{NEXT_COMMAND}`")
    args = build_parser().parse_args(shlex.split(NEXT_COMMAND)[1:])
    assert args.func is cmd_study_sacwola and args.quick
    underflow = demo_summary([_row(0.05, 45.0, 0.0)])
    assert re.search(r"p = [1-9]\.[0-9]{2}e-44[0-9]", underflow)


def test_sacwola_test_summary_sets_the_honest_p_beside_the_plain_mi_one(sacwola_sample):
    from test_api_conventions import _FixedScore

    import nhtad

    X, mjj, is_sim = sacwola_sample
    test = nhtad.SACWoLaTest(classifier=_FixedScore(), cv=2, random_state=0)
    with pytest.raises(NotFittedError):
        test.summary()
    test.fit(X, mjj, is_simulation=is_sim)
    text = test.summary()
    assert text.startswith(test.result_.summary())
    mi = test.mi_asymptotic_
    assert f"p = {mi.pvalue:.3g}, Z = {mi.significance:.2f}" in text
    assert test.decorrelation_.summary() in text
