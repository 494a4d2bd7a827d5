"""Figures of nhtad.plotting: labels with units, legends, the numbers drawn, PNG output."""

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats as sps  # noqa: E402

from nhtad.calibration import power_at_significance  # noqa: E402
from nhtad.datasets import SignalRegion, make_lhco_like  # noqa: E402
from nhtad.plotting import (  # noqa: E402
    plot_mass_shift,
    plot_mi_null,
    plot_power_curves,
    plot_score_distributions,
    save_figure,
)
from nhtad.stats import MutualInformationIndependenceTest  # noqa: E402

REGION = SignalRegion()


@pytest.fixture(scope="module")
def lhco():
    data = make_lhco_like(50_000, signal_to_background=0.01, random_state=0)
    ev = data.events
    window = REGION.in_window(ev["mjj"])
    return {
        "mjj": ev["mjj"],
        "mj1": ev["mj1"],
        "truth": data.truth,
        "window": window,
    }


@pytest.fixture(scope="module")
def window_score(lhco):
    """A score that depends on the jet mass, so signal sits high, on the window's events."""
    w = lhco["window"]
    rng = np.random.default_rng(1)
    s = np.tanh(lhco["mj1"][w] / 300.0) + 0.05 * rng.normal(size=w.sum())
    return s, lhco["mjj"][w], lhco["truth"][w]


@pytest.fixture(scope="module")
def mi_result(window_score):
    s, mjj, _ = window_score
    test = MutualInformationIndependenceTest(
        rel_uncertainty=0.05, method="permutation", n_resamples=199, random_state=0
    )
    return test.fit(s, mjj).result_


def _render(ax, tmp_path, name="fig.png"):
    """Save through save_figure (draws every text: a missing glyph would warn, i.e. fail)."""
    path = save_figure(ax, tmp_path / "out" / name)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 100 and image.shape[1] > 100
    return image


def _legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None, "expected a legend"
    return [t.get_text() for t in legend.get_texts()]


def _line(ax, prefix):
    lines = [line for line in ax.get_lines() if line.get_label().startswith(prefix)]
    assert len(lines) == 1, [line.get_label() for line in ax.get_lines()]
    return lines[0]


# -- import cost ---------------------------------------------------------------------------
def test_import_nhtad_does_not_import_matplotlib():
    # Every module of the plotting package, not only its __init__: matplotlib stays optional.
    code = (
        "import sys, pkgutil, importlib, nhtad, nhtad.stats, nhtad.calibration, nhtad.plotting; "
        "import nhtad.utils.tables, nhtad.studies._tables; "
        "[importlib.import_module(m.name) for m in "
        "pkgutil.iter_modules(nhtad.plotting.__path__, 'nhtad.plotting.')]; "
        "print('matplotlib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_every_public_name_is_reachable_from_the_package():
    import nhtad
    import nhtad.plotting as plotting

    assert nhtad.plotting is plotting
    for name in plotting.__all__:
        assert callable(getattr(plotting, name)), name
        namespace = {}
        exec(f"from nhtad.plotting import {name}", namespace)
        assert namespace[name] is getattr(plotting, name)
        # Defined in the package, so its documentation lives next to the code that draws it.
        assert namespace[name].__module__.startswith("nhtad.plotting"), name


# -- Fig. 1: jet-mass shift ----------------------------------------------------------------
def test_mass_shift_values_errors_labels_and_legend(lhco, tmp_path):
    mjj, mj1, truth = lhco["mjj"], lhco["mj1"], lhco["truth"]
    ax = plot_mass_shift(mjj, mj1, truth, signal_to_background=0.05, bins=16, region=REGION)
    assert isinstance(ax, Axes)
    assert "GeV" in ax.get_xlabel() and "m_{jj}" in ax.get_xlabel()
    assert "relative shift" in ax.get_ylabel()
    assert ax.get_title()
    texts = _legend_texts(ax)
    assert texts[0] == "background"
    assert texts[1].startswith("background + signal (S/B = 0.05)")
    assert "signal region [3300, 3700) GeV" in texts

    # Background, bin 5 (3350-3400 GeV), by hand: <m>_bin / <m>_window - 1, err sigma/sqrt(N).
    edges = np.linspace(3100, 3900, 17)
    bkg = (truth == 0) & (mjj >= edges[0]) & (mjj <= edges[-1])
    in_bin = bkg & (mjj >= edges[5]) & (mjj < edges[6])
    overall = mj1[bkg].mean()
    expected = mj1[in_bin].mean() / overall - 1.0
    expected_err = mj1[in_bin].std(ddof=1) / np.sqrt(in_bin.sum()) / overall
    background, mixture = ax.containers[:2]
    data_line = background.lines[0]
    np.testing.assert_allclose(data_line.get_xdata()[5], 0.5 * (edges[5] + edges[6]))
    np.testing.assert_allclose(data_line.get_ydata()[5], expected, rtol=1e-10)
    # The vertical error bars: segments (x, y - err) -> (x, y + err).
    yerr_segments = background.lines[2][-1].get_segments()
    low, high = yerr_segments[5][:, 1]
    np.testing.assert_allclose(0.5 * (high - low), expected_err, rtol=1e-10)
    assert expected_err > 1e-4, "sigma/sqrt(N), not the seed's std/N"

    # Mixture: signal weighted to S/B = 0.05 of the background in the window.
    inside = (mjj >= edges[0]) & (mjj <= edges[-1])
    sig = inside & (truth == 1)
    w = np.where(truth == 1, 0.05 * bkg.sum() / sig.sum(), 1.0)[inside]
    m, x = mj1[inside], mjj[inside]
    sel = (x >= edges[5]) & (x < edges[6])
    expected_mix = np.average(m[sel], weights=w[sel]) / np.average(m, weights=w) - 1.0
    np.testing.assert_allclose(mixture.lines[0].get_ydata()[5], expected_mix, rtol=1e-10)
    # The W' signal (m_j1 ~ 500 GeV) lifts the mean jet mass in the signal region.
    sr = (data_line.get_xdata() > 3300) & (data_line.get_xdata() < 3700)
    lift = mixture.lines[0].get_ydata() - data_line.get_ydata()
    assert lift[sr].mean() > 0.05 > lift[~sr].mean()
    _render(ax, tmp_path)


def test_mass_shift_without_truth_is_one_series_on_the_data_range(lhco):
    w = lhco["window"]
    ax = plot_mass_shift(lhco["mjj"][w], lhco["mj1"][w], bins=8)
    assert ax.get_legend() is None  # one series only
    (container,) = ax.containers
    assert container.lines[0].get_xdata().size == 8
    # The shifts are relative to the event-weighted mean, so their count-weighted sum is ~0.
    counts = np.histogram(lhco["mjj"][w], bins=8)[0]
    np.testing.assert_allclose(np.sum(counts * container.lines[0].get_ydata()), 0.0, atol=1e-8)


def test_mass_shift_draws_on_given_axes_and_keeps_their_title(lhco):
    ax = Figure().add_subplot()
    ax.set_title("mine")
    w = lhco["window"]
    out = plot_mass_shift(lhco["mjj"][w], lhco["mj1"][w], ax=ax, region=REGION)
    assert out is ax and ax.get_title() == "mine"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"jet_mass": np.ones(3)}, r"len\(mjj\)=4 and len\(jet_mass\)=3"),
        ({"mjj": [3200.0, np.nan, 3300.0, 3400.0]}, r"mjj contains 1 NaN"),
        ({"truth": [0, 1, 2, 0]}, r"truth must be 0 or 1"),
        ({"truth": [0, 1]}, r"truth must have one entry per event"),
        ({"signal_to_background": 0.1}, r"needs truth labels"),
        ({"truth": [0, 0, 0, 1], "signal_to_background": -1.0}, r"positive finite"),
        ({"bins": [3200.0, 3100.0]}, r"strictly increasing"),
        ({"bins": [5000.0, 6000.0]}, r"no event has mjj inside the bins"),
    ],
)
def test_mass_shift_bad_input(kwargs, match):
    args = {"mjj": [3200.0, 3250.0, 3300.0, 3400.0], "jet_mass": [50.0, 60.0, 70.0, 80.0]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plot_mass_shift(**args)


# -- Fig. 2: score distributions -----------------------------------------------------------
def test_score_distributions_equal_statistics_densities(window_score, tmp_path):
    s, mjj, truth = window_score
    ax = plot_score_distributions(s, mjj, REGION, truth)
    assert "score" in ax.get_xlabel()
    assert "probability density" in ax.get_ylabel()
    texts = _legend_texts(ax)
    assert [t.split(",")[0] for t in texts] == [
        "signal region (SR)",
        "sidebands (SB)",
        "background (truth)",
        "signal (truth)",
    ]
    stairs = ax.patches
    assert len(stairs) == 4
    edges = stairs[0].get_data().edges
    # Equal-statistics edges of all plotted events: 20 bins of about equal counts.
    counts = np.histogram(s, bins=edges)[0]
    assert edges.size == 21 and counts.min() >= 0.9 * counts.max()
    widths = np.diff(edges)
    for patch in stairs:  # every PDF integrates to one
        np.testing.assert_allclose(np.sum(patch.get_data().values * widths), 1.0, rtol=1e-12)
    # SR density by hand.
    sr = REGION.in_signal_region(mjj)
    expected = np.histogram(s[sr], bins=edges)[0] / (sr.sum() * widths)
    np.testing.assert_allclose(stairs[0].get_data().values, expected)
    _render(ax, tmp_path)


def test_score_distributions_counts_labels_and_explicit_edges(window_score):
    s, mjj, _ = window_score
    labels = REGION.labels(mjj)
    edges = np.linspace(s.min(), s.max(), 11)
    ax = plot_score_distributions(s, region_labels=labels, edges=edges, density=False)
    assert ax.get_ylabel() == "events per bin"
    assert len(ax.patches) == 2
    np.testing.assert_array_equal(
        ax.patches[0].get_data().values, np.histogram(s[labels == 1], bins=edges)[0]
    )
    # The same with the default region taken from mjj.
    ax2 = plot_score_distributions(s, mjj, edges=edges, density=False)
    np.testing.assert_array_equal(ax2.patches[0].get_data().values, ax.patches[0].get_data().values)


def test_score_distributions_single_series_has_no_legend():
    s = np.random.default_rng(0).random(1000)
    ax = plot_score_distributions(s, edges=5)
    assert ax.get_legend() is None and len(ax.patches) == 1
    assert ax.patches[0].get_data().edges.size == 6
    assert ax.get_yscale() == "linear"
    assert plot_score_distributions(s, edges=5, log=True).get_yscale() == "log"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"s": [0.1, np.nan, 0.3, 0.4]}, r"s contains 1 NaN"),
        ({"mjj": [3200.0, 3300.0]}, r"len\(s\)=4 and len\(mjj\)=2"),
        ({"region_labels": [0, 1, 1]}, r"region_labels must have one entry per event"),
        ({"region_labels": [0, 1, 0.5, 1]}, r"region_labels must be 0 or 1"),
        ({"region_labels": REGION}, r"needs mjj"),
        ({"truth": [0, 1, 0, np.inf]}, r"truth contains 1 inf"),
        ({"edges": [0.5]}, r"at least 2 bin edges"),
        ({"s": [0.2, 0.2, 0.2, 0.2]}, r"s is constant"),
    ],
)
def test_score_distributions_bad_input(kwargs, match):
    args = {"s": [0.1, 0.2, 0.3, 0.4]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        plot_score_distributions(**args)


# -- Fig. 3: MI null -----------------------------------------------------------------------
def test_mi_null_from_permutation_result(mi_result, tmp_path):
    result = mi_result
    ax = plot_mi_null(result)
    assert ax.get_xlabel() == r"mutual information $\hat{I}$ [nats]"
    assert "probability density" in ax.get_ylabel()
    texts = _legend_texts(ax)
    assert texts[0].startswith("null resamples (permutation, n = 199)")
    assert texts[1].startswith("Gamma(dof/2")
    assert texts[2].startswith(r"observed $\hat{I}$")

    # The Gamma curve is Gamma(dof/2, scale=1/N), integrating to ~1.
    dof, n = result.details["dof"], result.n_events
    gamma = _line(ax, "Gamma")
    x, y = gamma.get_xdata(), gamma.get_ydata()
    np.testing.assert_allclose(y, sps.gamma.pdf(x, dof / 2.0, scale=1.0 / n), rtol=1e-12)
    np.testing.assert_allclose(np.trapezoid(y, x), 1.0, atol=1e-4)
    # The histogram (stepfilled: one Polygon) spans the null resamples.
    (poly,) = [p for p in ax.patches if p.get_label().startswith("null")]
    verts = poly.get_xy()
    assert verts[:, 0].min() <= result.null_distribution.min()
    assert verts[:, 0].max() >= result.null_distribution.max()
    # Observed line and the p/Z box.
    observed = _line(ax, "observed")
    np.testing.assert_allclose(observed.get_xdata()[0], result.statistic)
    (box,) = ax.texts
    assert f"p = {result.pvalue:.3g} (permutation)" in box.get_text()
    assert f"Z = {result.significance:.2f}" in box.get_text()
    assert "Gamma: p =" in box.get_text()
    _render(ax, tmp_path)


def test_mi_null_from_plain_array_and_asymptotic_result(window_score):
    rng = np.random.default_rng(3)
    dof, n = 12, 40_000
    null = rng.gamma(dof / 2.0, 1.0 / n, size=2000)
    observed = float(np.quantile(null, 0.99))
    ax = plot_mi_null(null, observed, dof=dof, n_events=n)
    assert len(_legend_texts(ax)) == 3
    text = ax.texts[0].get_text()
    p = (1 + np.sum(null >= observed)) / (1 + null.size)
    assert f"p = {p:.3g} (toys)" in text
    gamma_p = sps.gamma.sf(n * observed, dof / 2.0)
    assert f"Gamma: p = {gamma_p:.3g}" in text

    # Without dof/N: histogram only, no Gamma curve.
    ax = plot_mi_null(null, observed)
    assert not [line for line in ax.get_lines() if line.get_label().startswith("Gamma")]

    # An asymptotic result: Gamma curve and observed line, no histogram.
    s, mjj, _ = window_score
    result = MutualInformationIndependenceTest(rel_uncertainty=0.05).fit(s, mjj).result_
    ax = plot_mi_null(result)
    texts = _legend_texts(ax)
    assert len(texts) == 2 and texts[0].startswith("Gamma")
    assert "(asymptotic)" in ax.texts[0].get_text()


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([0.1, np.nan],), {}, r"null distribution contains 1 NaN"),
        (([0.1, 0.2], float("nan")), {}, r"observed must be finite"),
        (([0.1, 0.2], 0.1), {"dof": 0, "n_events": 10}, r"dof must be an integer >= 1"),
        (([0.1, 0.2], 0.1), {"dof": 3, "n_events": 2.5}, r"n_events must be an integer >= 1"),
    ],
)
def test_mi_null_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_mi_null(*args, **kwargs)


def test_mi_null_refuses_overrides_of_a_result(mi_result):
    with pytest.raises(ValueError, match=r"observed, dof are read from the TestResult"):
        plot_mi_null(mi_result, 0.1, dof=3)


# -- seed 004: power curves and the median-Z table -----------------------------------------
@pytest.fixture(scope="module")
def power_curves():
    rng = np.random.default_rng(4)
    null = rng.normal(size=4000)
    z = np.array([2.5, 1.0, 1.5, 2.0])  # unsorted on purpose
    return {
        "MI": power_at_significance(null, rng.normal(1.5, 1.0, size=500), z),
        "cut and count": power_at_significance(null, rng.normal(2.5, 1.0, size=500), z),
    }


def test_power_curves_lines_bands_and_labels(power_curves, tmp_path):
    ax = plot_power_curves(power_curves)
    assert "Z" in ax.get_xlabel() and "sigma" in ax.get_xlabel()
    assert "power" in ax.get_ylabel()
    assert ax.get_ylim() == (0.0, 1.0)
    assert _legend_texts(ax) == ["MI", "cut and count"]
    assert "68% Clopper-Pearson" in ax.get_title()
    for label, curve in power_curves.items():
        order = np.argsort(curve.significance)
        line = _line(ax, label)
        np.testing.assert_array_equal(line.get_xdata(), curve.significance[order])
        np.testing.assert_array_equal(line.get_ydata(), curve.power[order])
    # One band per curve spanning low..high.
    bands = ax.collections
    assert len(bands) == 2
    band_y = bands[0].get_paths()[0].vertices[:, 1]
    curve = power_curves["MI"]
    np.testing.assert_allclose(band_y.min(), curve.low.min())
    np.testing.assert_allclose(band_y.max(), curve.high.max())
    _render(ax, tmp_path)


@pytest.mark.parametrize(
    "curves, match",
    [
        ({}, r"non-empty mapping"),
        ([1, 2], r"non-empty mapping"),
        ({"x": (1, 2)}, r"curves\['x'\] must be a PowerAtSignificance"),
    ],
)
def test_power_curves_bad_input(curves, match):
    with pytest.raises(ValueError, match=match):
        plot_power_curves(curves)


def test_power_curves_nan_is_refused(power_curves):
    curve = power_curves["MI"]
    bad = type(curve)(**{**curve.__dict__, "power": np.full(4, np.nan)})
    with pytest.raises(ValueError, match=r"curves\['bad'\] holds NaN"):
        plot_power_curves({"bad": bad})


# -- saving ----------------------------------------------------------------------------------
def test_save_figure_creates_folders_and_adds_suffix(tmp_path):
    fig = Figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "a" / "b" / "plot", dpi=50)
    assert path == tmp_path / "a" / "b" / "plot.png" and path.is_file()
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (240, 320) and image.shape[2] in (3, 4)


def test_save_figure_refuses_an_existing_file_unless_asked(tmp_path, monkeypatch):
    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "plot.png", dpi=20)
    old = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_figure(fig, path, dpi=30)
    assert path.read_bytes() == old
    # A save that fails half-way leaves the old image and no temporary file.
    real_savefig = Figure.savefig

    def failing_savefig(self, fname, **kwargs):
        real_savefig(self, fname, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", failing_savefig)
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig, path, dpi=30, overwrite=True)
    assert path.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]
    monkeypatch.undo()
    save_figure(fig, path, dpi=30, overwrite=True)
    assert matplotlib.image.imread(path).shape[:2] == (144, 192)
    # The format follows the suffix although the figure is written through a file object.
    assert save_figure(fig, tmp_path / "plot.svg").read_text().lstrip().startswith("<?xml")


def test_save_figure_refuses_what_is_not_a_figure(tmp_path):
    with pytest.raises(ValueError, match=r"expected a matplotlib Figure or Axes"):
        save_figure(np.zeros(3), tmp_path / "x.png")


def test_plots_leave_pyplot_alone(lhco):
    # A figure made without ax is not registered with pyplot: nothing to close afterwards.
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    w = lhco["window"]
    ax = plot_mass_shift(lhco["mjj"][w], lhco["mj1"][w])
    assert plt.get_fignums() == before
    assert isinstance(ax.figure, Figure)
    assert not matplotlib.rcParams["text.usetex"]


def test_smooth_trend_plot_draws_data_and_trend_per_score_bin():
    from nhtad.plotting import plot_smooth_trend
    from nhtad.stats import SmoothTrendIndependenceTest

    rng = np.random.default_rng(0)
    y = rng.uniform(3100, 3900, 60_000)
    s = rng.normal(size=y.size) + 1e-3 * (y - 3500)
    test = SmoothTrendIndependenceTest(
        rel_uncertainty=0.03, y_bins=SignalRegion(), degree=1, alternative="signal_region"
    ).fit(s, y)
    ax = plot_smooth_trend(test, score_bins=[0, test.n_bins_[0] - 1])
    assert isinstance(ax, Axes)
    assert ax.get_xlabel().startswith("$m_{jj}$")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "signal region" in labels and sum("trend (degree 1)" in t for t in labels) == 2
    # The data points are the observed shares of the score bin in every m_jj bin.
    shares = test.contingency_[0] / test.contingency_.sum(axis=0)
    drawn = ax.containers[0].lines[0].get_ydata()
    np.testing.assert_allclose(drawn, shares)
    with pytest.raises(ValueError, match="score_bins"):
        plot_smooth_trend(test, score_bins=[99])
    with pytest.raises(ValueError, match="fitted SmoothTrendIndependenceTest"):
        plot_smooth_trend(SmoothTrendIndependenceTest())
