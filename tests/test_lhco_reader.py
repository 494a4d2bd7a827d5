"""Tests of the LHC Olympics 2020 feature-file reader :func:`nhtad.datasets.lhco.load_lhco`.

Every file is written in ``tmp_path`` exactly as the LHCO files are (pandas ``to_hdf``, key
``"df"``), with a few hand-made events whose derived columns are computed here independently.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("tables")

from nhtad.datasets.events import EVENT_COLUMNS, EVENT_DTYPE  # noqa: E402
from nhtad.datasets.lhco import LHCO_FEATURE_COLUMNS, load_lhco  # noqa: E402

FORMATS = ["fixed", "table"]


# --------------------------------------------------------------------------- helpers


def jet(pt, eta, phi, m, tau1, tau2, tau3=0.1):
    """One jet's LHCO features from (pT, eta, phi, m) and its N-subjettiness values."""
    return {
        "px": pt * math.cos(phi),
        "py": pt * math.sin(phi),
        "pz": pt * math.sinh(eta),
        "m": m,
        "tau1": tau1,
        "tau2": tau2,
        "tau3": tau3,
    }


def jet_xyz(px, py, pz, m, tau1, tau2, tau3=0.1):
    return {"px": px, "py": py, "pz": pz, "m": m, "tau1": tau1, "tau2": tau2, "tau3": tau3}


def frame_of(events, labels=None):
    """An LHCO feature DataFrame from a list of (jet 1, jet 2) pairs."""
    rows = []
    for j1, j2 in events:
        row = {}
        for suffix, j in (("j1", j1), ("j2", j2)):
            for name in ("px", "py", "pz"):
                row[f"{name}{suffix}"] = j[name]
            row[f"m{suffix}"] = j["m"]
            for name in ("tau1", "tau2", "tau3"):
                row[f"{name}{suffix}"] = j[name]
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(LHCO_FEATURE_COLUMNS), dtype=np.float64)
    if labels is not None:
        frame["label"] = np.asarray(labels, dtype=np.float64)  # float, like the R&D file
    return frame


def write(tmp_path, frame, fmt="fixed", name="events_anomalydetection_v2.features.h5"):
    path = tmp_path / name
    frame.to_hdf(path, key="df", format=fmt)
    return path


def write_masterkey(tmp_path, text, name="events_LHCO2020_BlackBox1.masterkey"):
    path = tmp_path / name
    path.write_text(text)
    return path


def generic_events(n):
    """``n`` ordinary valid events, distinguishable by their jet-1 mass 100 + i."""
    return [
        (
            jet(1300.0 + i, 0.1 * i, 0.2, 100.0 + i, 0.5, 0.2),
            jet(1250.0, -0.3, 0.2 + math.pi, 50.0, 0.6, 0.3),
        )
        for i in range(n)
    ]


def energy(j):
    return math.sqrt(j["px"] ** 2 + j["py"] ** 2 + j["pz"] ** 2 + j["m"] ** 2)


# --------------------------------------------------------------------------- physics


@pytest.mark.parametrize("fmt", FORMATS)
def test_back_to_back_jets_mjj_ordering_tau21_and_dr(tmp_path, fmt):
    # Jets back to back along x at eta = 0: the system is at rest, so mjj = E1 + E2,
    # delta_eta = 0 and delta_phi = pi. Jet 2 is the heavier one, so the jets swap.
    j1 = jet_xyz(1000.0, 0.0, 0.0, 100.0, tau1=0.5, tau2=0.2)
    j2 = jet_xyz(-1000.0, 0.0, 0.0, 500.0, tau1=0.8, tau2=0.6)
    path = write(tmp_path, frame_of([(j1, j2)]), fmt)

    data = load_lhco(path)
    ev = data.events[0]
    assert ev["mjj"] == pytest.approx(
        math.sqrt(1000.0**2 + 100.0**2) + math.sqrt(1000.0**2 + 500.0**2)
    )
    assert ev["mj1"] == 500.0
    assert ev["mj2"] == 100.0
    assert ev["tau21_1"] == pytest.approx(0.6 / 0.8)  # the heavier jet's tau21 moves with it
    assert ev["tau21_2"] == pytest.approx(0.2 / 0.5)
    assert ev["dR_jj"] == pytest.approx(math.pi)
    assert data.truth is None
    assert data.n_events == 1
    assert data.source == str(path)
    assert data.dropped_index.shape == (0,)
    assert data.feature_names == list(EVENT_COLUMNS)


def test_delta_phi_is_wrapped_and_massless_mjj(tmp_path):
    # phi1 = 3.0, phi2 = -3.0: the raw difference is 6.0 but the jets are 2*pi - 6 apart.
    pt1, eta1, pt2, eta2 = 1200.0, 0.5, 1100.0, -0.3
    j1 = jet(pt1, eta1, 3.0, 0.0, 0.5, 0.25)
    j2 = jet(pt2, eta2, -3.0, 0.0, 0.4, 0.1)
    path = write(tmp_path, frame_of([(j1, j2)]))

    ev = load_lhco(path).events[0]
    dphi = 2 * math.pi - 6.0
    assert dphi == pytest.approx(0.283, abs=1e-3)
    assert ev["dR_jj"] == pytest.approx(math.hypot(eta1 - eta2, dphi))
    # Massless jets: mjj^2 = 2 pT1 pT2 (cosh(delta_eta) - cos(delta_phi)).
    mjj = math.sqrt(2 * pt1 * pt2 * (math.cosh(eta1 - eta2) - math.cos(dphi)))
    assert ev["mjj"] == pytest.approx(mjj, rel=1e-9)


def test_general_event_matches_four_vector_formula_and_keeps_order(tmp_path):
    j1 = jet(1500.0, 1.2, -0.7, 300.0, 0.3, 0.15)  # heavier jet already first: no swap
    j2 = jet(900.0, -0.4, 2.1, 80.0, 0.2, 0.18)
    path = write(tmp_path, frame_of([(j1, j2)]))

    ev = load_lhco(path).events[0]
    dot = j1["px"] * j2["px"] + j1["py"] * j2["py"] + j1["pz"] * j2["pz"]
    mjj2 = j1["m"] ** 2 + j2["m"] ** 2 + 2 * (energy(j1) * energy(j2) - dot)
    assert ev["mjj"] == pytest.approx(math.sqrt(mjj2), rel=1e-9)
    assert (ev["mj1"], ev["mj2"]) == (300.0, 80.0)
    assert ev["tau21_1"] == pytest.approx(0.5)
    assert ev["tau21_2"] == pytest.approx(0.9)
    dphi = -0.7 - 2.1  # already inside [-pi, pi]: no wrap
    assert ev["dR_jj"] == pytest.approx(math.hypot(1.2 - (-0.4), dphi))


def test_mass_tie_keeps_file_jet_1_first(tmp_path):
    j1 = jet(1300.0, 0.0, 0.0, 150.0, 0.5, 0.1)
    j2 = jet(1300.0, 0.0, math.pi, 150.0, 0.5, 0.4)
    path = write(tmp_path, frame_of([(j1, j2)]))
    ev = load_lhco(path).events[0]
    assert ev["tau21_1"] == pytest.approx(0.2)
    assert ev["tau21_2"] == pytest.approx(0.8)


def test_rows_keep_file_order_and_ordering_is_per_event(tmp_path):
    light_first = (jet(1300.0, 0.0, 0.0, 40.0, 0.5, 0.1), jet(1300.0, 0.0, 3.0, 400.0, 0.5, 0.4))
    heavy_first = (jet(1300.0, 0.0, 0.0, 400.0, 0.5, 0.1), jet(1300.0, 0.0, 3.0, 40.0, 0.5, 0.4))
    path = write(tmp_path, frame_of([light_first, heavy_first, light_first]))
    events = load_lhco(path).events
    np.testing.assert_allclose(events["tau21_1"], [0.8, 0.2, 0.8])
    np.testing.assert_allclose(events["tau21_2"], [0.2, 0.8, 0.2])
    np.testing.assert_array_equal(events["mj1"], [400.0, 400.0, 400.0])


def test_events_dtype_is_event_dtype(tmp_path):
    path = write(tmp_path, frame_of(generic_events(3)))
    events = load_lhco(path).events
    assert isinstance(events, np.ndarray)
    assert events.dtype == EVENT_DTYPE


def test_as_frame_returns_dataframe_with_event_columns(tmp_path):
    path = write(tmp_path, frame_of(generic_events(4), labels=[0, 1, 0, 1]))
    data = load_lhco(path, as_frame=True)
    assert isinstance(data.events, pd.DataFrame)
    assert list(data.events.columns) == list(EVENT_COLUMNS)
    assert len(data.events) == 4
    np.testing.assert_array_equal(data.events["mj1"], [100.0, 101.0, 102.0, 103.0])
    np.testing.assert_array_equal(data.truth, [0, 1, 0, 1])


# --------------------------------------------------------------------------- truth


def test_label_column_gives_int8_truth(tmp_path):
    path = write(tmp_path, frame_of(generic_events(3), labels=[1.0, 0.0, 1.0]))
    truth = load_lhco(path).truth
    assert truth.dtype == np.int8
    np.testing.assert_array_equal(truth, [1, 0, 1])


def test_label_column_with_other_values_is_rejected(tmp_path):
    path = write(tmp_path, frame_of(generic_events(3), labels=[1.0, 2.0, np.nan]))
    with pytest.raises(ValueError, match=r"'label'.*2 values that are not 0 or 1.*rows \[1, 2\]"):
        load_lhco(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_black_box_truth_from_masterkey(tmp_path, fmt):
    path = write(
        tmp_path, frame_of(generic_events(4)), fmt, "events_LHCO2020_BlackBox1.features.h5"
    )
    key = write_masterkey(tmp_path, "0\n1.0\n0.0\n1\n\n")  # floats and a blank trailing line
    data = load_lhco(path, masterkey=key)
    assert data.truth.dtype == np.int8
    np.testing.assert_array_equal(data.truth, [0, 1, 0, 1])


@pytest.mark.parametrize("fmt", FORMATS)
def test_masterkey_is_sliced_like_the_file(tmp_path, fmt):
    path = write(tmp_path, frame_of(generic_events(6)), fmt)
    key = write_masterkey(tmp_path, "0\n0\n1\n0\n1\n1\n")
    data = load_lhco(path, masterkey=key, start=2, stop=5)
    np.testing.assert_array_equal(data.truth, [1, 0, 1])
    np.testing.assert_array_equal(data.events["mj1"], [102.0, 103.0, 104.0])


def test_masterkey_length_must_match_the_file(tmp_path):
    path = write(tmp_path, frame_of(generic_events(4)))
    key = write_masterkey(tmp_path, "0\n1\n0\n")
    with pytest.raises(ValueError, match=r"masterkey .* has 3 labels but .* has 4 rows"):
        load_lhco(path, masterkey=key)
    # Slicing does not hide a masterkey that belongs to another file.
    with pytest.raises(ValueError, match=r"has 3 labels but .* has 4 rows"):
        load_lhco(path, masterkey=key, stop=2)


def test_masterkey_with_values_other_than_0_and_1_is_rejected(tmp_path):
    path = write(tmp_path, frame_of(generic_events(4)))
    key = write_masterkey(tmp_path, "0\n2\nsignal\n1\n")
    with pytest.raises(
        ValueError,
        match=r"2 values that are not 0 or 1 \(first at lines \[2, 3\]: \['2', 'signal'\]",
    ):
        load_lhco(path, masterkey=key)


def test_masterkey_blank_line_inside_is_rejected(tmp_path):
    path = write(tmp_path, frame_of(generic_events(4)))
    key = write_masterkey(tmp_path, "0\n\n1\n0\n1\n")
    with pytest.raises(ValueError, match=r"1 blank lines before its last label \(lines \[2\]\)"):
        load_lhco(path, masterkey=key)


def test_empty_masterkey_is_rejected(tmp_path):
    path = write(tmp_path, frame_of(generic_events(2)))
    key = write_masterkey(tmp_path, "\n\n")
    with pytest.raises(ValueError, match="masterkey .* is empty"):
        load_lhco(path, masterkey=key)


def test_missing_masterkey_file(tmp_path):
    path = write(tmp_path, frame_of(generic_events(2)))
    missing = tmp_path / "nowhere.masterkey"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_lhco(path, masterkey=missing)


def test_masterkey_and_label_column_must_agree(tmp_path):
    path = write(tmp_path, frame_of(generic_events(3), labels=[0, 1, 0]))
    same = write_masterkey(tmp_path, "0\n1\n0\n", "same.masterkey")
    np.testing.assert_array_equal(load_lhco(path, masterkey=same).truth, [0, 1, 0])
    other = write_masterkey(tmp_path, "0\n1\n1\n", "other.masterkey")
    with pytest.raises(
        ValueError, match=r"disagree on 1 events \(first rows \[2\]\).*masterkey=None"
    ):
        load_lhco(path, masterkey=other)
    longer = write_masterkey(tmp_path, "0\n1\n0\n1\n", "longer.masterkey")
    with pytest.raises(ValueError, match="has 4 labels but .* has 3 rows"):
        load_lhco(path, masterkey=longer)


# --------------------------------------------------------------------------- row ranges


@pytest.mark.parametrize("fmt", FORMATS)
def test_start_stop_read_a_row_range(tmp_path, fmt):
    path = write(tmp_path, frame_of(generic_events(8), labels=[0, 1] * 4), fmt)
    data = load_lhco(path, start=3, stop=6)
    np.testing.assert_array_equal(data.events["mj1"], [103.0, 104.0, 105.0])
    np.testing.assert_array_equal(data.truth, [1, 0, 1])
    assert data.n_events == 3
    np.testing.assert_array_equal(load_lhco(path, start=6).events["mj1"], [106.0, 107.0])
    np.testing.assert_array_equal(load_lhco(path, stop=2).events["mj1"], [100.0, 101.0])
    np.testing.assert_array_equal(load_lhco(path, start=-2).events["mj1"], [106.0, 107.0])
    np.testing.assert_array_equal(load_lhco(path, stop=100).events["mj1"], 100.0 + np.arange(8))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("start", "stop"), [(3, 3), (5, 2), (10, None)])
def test_empty_selection_is_rejected(tmp_path, fmt, start, stop):
    path = write(tmp_path, frame_of(generic_events(5)), fmt)
    with pytest.raises(ValueError, match=r"select no events: .* has 5 rows\. Choose start < stop"):
        load_lhco(path, start=start, stop=stop)


@pytest.mark.parametrize("bad", [1.5, "3", True])
def test_row_bounds_must_be_integers(tmp_path, bad):
    path = write(tmp_path, frame_of(generic_events(3)))
    with pytest.raises(ValueError, match="start must be an integer row number or None"):
        load_lhco(path, start=bad)


# --------------------------------------------------------------------------- invalid events


def events_with_invalid_rows():
    """Six events; rows 1 (NaN px), 3 (tau1 == 0) and 4 (zero pT) are invalid."""
    events = generic_events(6)
    j1, j2 = events[1]
    events[1] = ({**j1, "px": float("nan")}, j2)
    j1, j2 = events[3]
    events[3] = (j1, {**j2, "tau1": 0.0})
    j1, j2 = events[4]
    events[4] = ({**j1, "px": 0.0, "py": 0.0}, j2)
    return events


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_warn_drops_and_reports_rows(tmp_path, fmt):
    path = write(tmp_path, frame_of(events_with_invalid_rows(), labels=[0, 1, 0, 1, 1, 0]), fmt)
    with pytest.warns(UserWarning, match=r"3 of 6 events .* invalid.*dropped_index"):
        data = load_lhco(path)
    np.testing.assert_array_equal(data.dropped_index, [1, 3, 4])
    assert data.dropped_index.dtype == np.int64
    np.testing.assert_array_equal(data.events["mj1"], [100.0, 102.0, 105.0])
    np.testing.assert_array_equal(data.truth, [0, 0, 0])  # truth dropped alongside
    assert data.n_events == 3
    assert all(np.isfinite(data.events[name]).all() for name in EVENT_COLUMNS)


def test_dropped_index_counts_rows_of_the_whole_file(tmp_path):
    path = write(tmp_path, frame_of(events_with_invalid_rows()))
    with pytest.warns(UserWarning, match="2 of 4 events"):
        data = load_lhco(path, start=2)
    np.testing.assert_array_equal(data.dropped_index, [3, 4])
    np.testing.assert_array_equal(data.events["mj1"], [102.0, 105.0])


def test_invalid_warning_names_the_reasons(tmp_path):
    path = write(tmp_path, frame_of(events_with_invalid_rows()))
    with pytest.warns(UserWarning) as record:
        load_lhco(path)
    (warning,) = record
    message = str(warning.message)
    assert "1 with a NaN or inf input" in message
    assert "1 with tau1 == 0" in message
    assert "1 with a jet with zero pT" in message
    assert "first row indices [1, 3, 4]" in message


def test_invalid_raise(tmp_path):
    path = write(tmp_path, frame_of(events_with_invalid_rows()))
    with pytest.raises(
        ValueError, match=r"3 of 6 events .* first row indices \[1, 3, 4\].*invalid='warn'.*'keep'"
    ):
        load_lhco(path, invalid="raise")


def test_invalid_keep_keeps_nan_and_inf(tmp_path):
    path = write(tmp_path, frame_of(events_with_invalid_rows()))
    data = load_lhco(path, invalid="keep")  # no warning (warnings are errors here)
    ev = data.events
    assert data.n_events == 6
    assert data.dropped_index.shape == (0,)
    assert np.isnan(ev["mjj"][1]) and np.isnan(ev["dR_jj"][1])
    assert np.isinf(ev["tau21_2"][3])  # tau2 / 0 for the lighter jet
    assert np.isfinite(ev["mjj"][3]) and np.isfinite(ev["dR_jj"][3])
    assert not np.isfinite(ev["dR_jj"][4])  # eta of a jet with pT = 0
    valid = [0, 2, 5]
    assert all(np.isfinite(ev[name][valid]).all() for name in EVENT_COLUMNS)


def test_nan_in_unused_input_is_still_invalid(tmp_path):
    events = generic_events(2)
    j1, j2 = events[0]
    events[0] = ({**j1, "tau3": float("inf")}, j2)
    path = write(tmp_path, frame_of(events))
    with pytest.warns(UserWarning, match="1 of 2 events .*1 with a NaN or inf input"):
        data = load_lhco(path)
    np.testing.assert_array_equal(data.dropped_index, [0])


def test_all_events_invalid_is_an_error(tmp_path):
    events = events_with_invalid_rows()
    path = write(tmp_path, frame_of([events[1], events[3]]))
    with pytest.raises(ValueError, match="No valid event is left"):
        load_lhco(path)


@pytest.mark.parametrize("jet_index", [0, 1])
def test_negative_jet_mass_is_invalid(tmp_path, jet_index):
    # Issue 15: a negative jet mass was read as a valid (lighter) jet. No jet has one, so it is
    # invalid like a NaN: dropped with a warning, refused, or kept on request.
    events = generic_events(3)
    j1, j2 = events[1]
    jets = [j1, j2]
    jets[jet_index] = {**jets[jet_index], "m": -20.0}
    events[1] = tuple(jets)
    path = write(tmp_path, frame_of(events, labels=[0, 1, 0]))
    with pytest.warns(UserWarning, match=r"1 of 3 events .*1 with a negative jet mass.*\[1\]"):
        data = load_lhco(path)
    np.testing.assert_array_equal(data.dropped_index, [1])
    np.testing.assert_array_equal(data.events["mj1"], [100.0, 102.0])
    np.testing.assert_array_equal(data.truth, [0, 0])
    with pytest.raises(ValueError, match="1 with a negative jet mass"):
        load_lhco(path, invalid="raise")
    kept = load_lhco(path, invalid="keep")
    assert kept.n_events == 3 and kept.events["mj2"][1] == -20.0


def test_zero_jet_mass_is_valid(tmp_path):
    events = generic_events(2)
    j1, j2 = events[0]
    events[0] = (j1, {**j2, "m": 0.0})
    data = load_lhco(write(tmp_path, frame_of(events)))  # no warning: warnings are errors here
    assert data.n_events == 2 and data.events["mj2"][0] == 0.0


@pytest.mark.parametrize("bad", ["drop", "WARN", None, True])
def test_invalid_option_is_validated(tmp_path, bad):
    path = write(tmp_path, frame_of(generic_events(2)))
    with pytest.raises(ValueError, match=r"invalid must be one of 'warn', 'raise', 'keep'"):
        load_lhco(path, invalid=bad)


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path):
    missing = tmp_path / "events_LHCO2020_BlackBox1.features.h5"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        load_lhco(missing)


def test_not_an_hdf5_file(tmp_path):
    path = write_masterkey(tmp_path, "0\n1\n")
    with pytest.raises(ValueError, match="is not an HDF5 file.*features.h5"):
        load_lhco(path)


def _assert_clear_file_error(excinfo, path):
    """A ValueError of nhtad naming the file, not an exception chained from PyTables/pandas."""
    message = str(excinfo.value)
    assert str(path) in message and "\n" not in message
    error = excinfo.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    # Raised by nhtad's reader itself (nhtad/datasets/lhco.py or a module it splits off).
    assert excinfo.traceback[-1].path.name in ("lhco.py", "_lhco_files.py")


def test_truncated_file_names_the_file(tmp_path):
    path = write(tmp_path, frame_of(generic_events(500)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ValueError, match=r"could not be read \(HDF5ExtError: truncated file"
    ) as exc:
        load_lhco(path)
    _assert_clear_file_error(exc, path)
    assert "damaged, incomplete" in str(exc.value) and "Download or write it again" in str(
        exc.value
    )


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", r"is empty \(0 bytes\).*Download or write it again"),
        (np.random.default_rng(0).bytes(5000), "is not an HDF5 file"),
        # An HDF5 signature followed by garbage: passes the signature check, fails to open.
        (b"\x89HDF\r\n\x1a\n" + np.random.default_rng(1).bytes(5000), "could not be read"),
    ],
    ids=["empty", "random-bytes", "hdf5-signature-then-garbage"],
)
def test_damaged_file_names_the_file(tmp_path, content, match):
    path = tmp_path / "events.features.h5"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as exc:
        load_lhco(path)
    _assert_clear_file_error(exc, path)


def test_df_key_that_is_not_a_dataframe(tmp_path):
    path = tmp_path / "series.h5"
    pd.Series([1.0, 2.0]).to_hdf(path, key="df")
    with pytest.raises(ValueError, match=r"key '/df' of .* holds a Series, not a DataFrame") as exc:
        load_lhco(path)
    _assert_clear_file_error(exc, path)


def test_df_key_with_a_layout_pandas_cannot_read(tmp_path):
    # A group that claims to be a pandas frame but holds nothing: pandas raised a TypeError
    # from deep inside pytables.py.
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "fake.h5"
    with h5py.File(path, "w") as fh:
        fh.create_group("df").attrs["pandas_type"] = "frame"
    with pytest.raises(ValueError, match=r"could not be read \(TypeError") as exc:
        load_lhco(path)
    _assert_clear_file_error(exc, path)


def test_df_key_with_other_columns_or_text(tmp_path):
    path = tmp_path / "other.h5"
    pd.DataFrame({"a": [1.0], "b": [2.0]}).to_hdf(path, key="df")
    with pytest.raises(ValueError, match=r"lacks the LHCO feature columns"):
        load_lhco(path)
    text = pd.DataFrame({name: ["x"] for name in LHCO_FEATURE_COLUMNS})
    path = tmp_path / "text.h5"
    text.to_hdf(path, key="df")
    with pytest.raises(ValueError, match=r"column 'pxj1' of .*text.h5 is not numeric"):
        load_lhco(path)


def test_masterkey_that_is_not_text(tmp_path):
    path = write(tmp_path, frame_of(generic_events(2)))
    masterkey = tmp_path / "events_LHCO2020_BlackBox1.masterkey"
    masterkey.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(ValueError, match=r"the masterkey .*masterkey is not a text file"):
        load_lhco(path, masterkey=masterkey)


def test_missing_columns_are_listed(tmp_path):
    frame = frame_of(generic_events(2)).drop(columns=["tau1j2", "pzj1"])
    path = write(tmp_path, frame)
    with pytest.raises(ValueError, match=r"lacks the LHCO feature columns \['pzj1', 'tau1j2'\]"):
        load_lhco(path)


@pytest.mark.parametrize("n_columns", [2100, 2101])
def test_particle_level_file_is_recognised(tmp_path, n_columns):
    frame = pd.DataFrame(np.zeros((3, n_columns)))  # columns 0..n-1, as in the LHCO file
    path = write(tmp_path, frame, name="events_anomalydetection_v2.h5")
    with pytest.raises(
        ValueError,
        match=rf"{n_columns} numeric columns, like the particle-level file.*\*features\*",
    ):
        load_lhco(path)


def test_file_with_several_keys_needs_key(tmp_path):
    path = write(tmp_path, frame_of(generic_events(2)))
    frame_of(generic_events(3)).to_hdf(path, key="other", format="table")
    with pytest.raises(ValueError, match=r"several datasets \['/df', '/other'\]; pass key="):
        load_lhco(path)
    assert load_lhco(path, key="other").n_events == 3
    assert load_lhco(path, key="/df").n_events == 2
    with pytest.raises(ValueError, match=r"no key 'nope'; its keys are \['/df', '/other'\]"):
        load_lhco(path, key="nope")


# --------------------------------------------------------------------------- optional deps


@pytest.mark.parametrize("module", ["pandas", "tables"])
def test_missing_optional_dependency_names_the_extra(tmp_path, monkeypatch, module):
    import nhtad.utils.optional as optional

    path = write(tmp_path, frame_of(generic_events(2)))
    real_import = optional.importlib.import_module

    def fake_import(name, *args, **kwargs):
        if name == module:
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(optional.importlib, "import_module", fake_import)
    with pytest.raises(ImportError, match=re.escape('pip install "nhtad[lhco]"')):
        load_lhco(path)
