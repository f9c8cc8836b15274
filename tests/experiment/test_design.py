"""design.csv and name patterns: the good cases, and every bad case with a message that
names the file, the line, what was found and what to do."""

import math

import pytest

from caimg.errors import CaimgError
from caimg.experiment.design import (
    DesignError,
    design_from_names,
    format_molar,
    parse_concentration,
    read_design,
)

RECORDINGS = ["veh_cs1", "veh_cs2", "igm_10nM_cs1", "igm_10nM_cs2", "igm_1uM_cs1"]
GOOD = """recording,condition,compound,concentration,coverslip,plate,operator
veh_*,vehicle,vehicle,0,,p1,ana
igm_10nM_cs1,igmesine 10 nM,igmesine,10 nM,1,p1,ana
igm_10nM_cs2,igmesine 10 nM,igmesine,10nM,2,p2,ana
igm_1uM_cs1,,igmesine,1 µM,1,p2,ana
"""


def _write(tmp_path, text, name="design.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_design_good(tmp_path):
    d = read_design(_write(tmp_path, GOOD), RECORDINGS)
    assert list(d["recording"]) == RECORDINGS  # glob rows expand in file order
    by = d.set_index("recording")
    assert by.loc["veh_cs2", "condition"] == "vehicle"
    assert by.loc["veh_cs2", "concentration_M"] == 0.0
    assert by.loc["igm_10nM_cs2", "concentration_M"] == pytest.approx(1e-8)
    assert by.loc["igm_1uM_cs1", "concentration_M"] == pytest.approx(1e-6)
    assert by.loc["igm_1uM_cs1", "condition"] == "igmesine 1 µM"  # made from compound + conc
    assert by.loc["igm_10nM_cs2", "replicate"] == "2"             # coverslip -> replicate
    assert by.loc["igm_10nM_cs1", "operator"] == "ana"            # extra columns kept
    assert by.loc["igm_10nM_cs2", "design_row"] == 4              # file line (header = 1)


def test_unit_column_and_semicolons(tmp_path):
    text = "recording;condition;concentration;concentration_unit\nveh_*;vehicle;0;\n" \
           "igm_*;igmesine;3;nM\n"
    d = read_design(_write(tmp_path, text), RECORDINGS)
    assert d.set_index("recording").loc["igm_1uM_cs1", "concentration_M"] == pytest.approx(3e-9)


@pytest.mark.parametrize("text,unit,expected", [
    ("10 uM", "", 1e-5), ("10µM", "", 1e-5), ("10 μM", "", 1e-5), ("2.5 mM", "", 2.5e-3),
    ("1e-6 M", "", 1e-6), ("300 pM", "", 3e-10), ("7", "nM", 7e-9), ("0", "", 0.0),
    ("5 nm", "", 5e-9), ("", "", math.nan)])
def test_parse_concentration(text, unit, expected):
    got = parse_concentration(text, unit=unit)
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_format_molar():
    assert format_molar(1e-5) == "10 µM"
    assert format_molar(3e-10) == "300 pM"
    assert format_molar(0.0) == "0" and format_molar(float("nan")) == ""


def _error(tmp_path, text, recordings=RECORDINGS):
    path = _write(tmp_path, text)
    with pytest.raises(DesignError) as info:
        read_design(path, recordings)
    msg = str(info.value)
    assert str(path) in msg  # every message names the file
    assert isinstance(info.value, CaimgError) and isinstance(info.value, ValueError)
    return msg


def test_unknown_recording(tmp_path):
    msg = _error(tmp_path, GOOD + "igm_10nM_cs9,igmesine 10 nM,igmesine,10 nM,9,p1,ana\n")
    assert "line 6" in msg and "'igm_10nM_cs9'" in msg          # row and what was found
    assert "matches no recording" in msg                        # what was expected
    assert "Did you mean" in msg and "igm_10nM_cs1" in msg      # what to do
    assert "Fix the name or glob, or delete the row" in msg


def test_duplicate_recording(tmp_path):
    msg = _error(tmp_path, GOOD + "igm_*_cs1,x,igmesine,1 uM,,,\n")
    assert "line 6" in msg and "'igm_10nM_cs1'" in msg and "line 3" in msg
    assert "exactly one row" in msg and "disjoint" in msg


def test_bad_concentration(tmp_path):
    text = GOOD.replace("10nM,2", "ten nM,2")
    msg = _error(tmp_path, text)
    assert "line 4" in msg and "'ten nM'" in msg
    assert "not a number with a unit" in msg and "'10 uM'" in msg


def test_bad_unit(tmp_path):
    msg = _error(tmp_path, GOOD.replace("1 µM", "1 ug/ml"))
    assert "line 5" in msg and "'ug/ml'" in msg
    assert "not a molar unit" in msg and "uM" in msg and "nM" in msg


def test_number_without_unit(tmp_path):
    msg = _error(tmp_path, GOOD.replace("10nM,2", "10,2"))
    assert "line 4" in msg and "'10'" in msg and "has no unit" in msg
    assert "concentration_unit" in msg


def test_missing_rows_listed(tmp_path):
    text = "\n".join(GOOD.splitlines()[:3]) + "\n"  # no rows for igm_10nM_cs2, igm_1uM_cs1
    msg = _error(tmp_path, text)
    assert "2 recording(s) have no design row" in msg
    assert "igm_10nM_cs2" in msg and "igm_1uM_cs1" in msg
    assert "Add a row" in msg
    d = read_design(tmp_path / "design.csv", RECORDINGS, on_missing="ignore")
    assert len(d) == 3


def test_missing_or_misspelled_columns(tmp_path):
    msg = _error(tmp_path, "name,condition\nveh_cs1,vehicle\n")
    assert "no 'recording' column" in msg
    msg = _error(tmp_path, GOOD.replace("concentration,", "concentraton,", 1))
    assert "'concentraton'" in msg and "did you mean 'concentration'" in msg
    with pytest.raises(DesignError, match="not found"):
        read_design(tmp_path / "nope.csv", RECORDINGS)


def test_design_from_names():
    names = {"veh_cs1": "/data/2026-05-01/vehicle/veh_cs1.tif",
             "igm_10nM_cs1": "/data/2026-05-01/igmesine/igm_10nM_cs1.tif"}
    pattern = (r"(?P<date>\d{4}-\d\d-\d\d)/(?P<compound>[a-z]+)/[a-z]+_"
               r"(?:(?P<concentration>[\d.]+[munp]?M)_)?cs(?P<replicate>\d+)")
    d = design_from_names(names, pattern).set_index("recording")
    assert d.loc["igm_10nM_cs1", "concentration_M"] == pytest.approx(1e-8)
    assert d.loc["igm_10nM_cs1", "condition"] == "igmesine 10 nM"
    assert d.loc["veh_cs1", "condition"] == "vehicle"
    assert math.isnan(d.loc["veh_cs1", "concentration_M"])
    assert d.loc["veh_cs1", "date"] == "2026-05-01" and d.loc["veh_cs1", "replicate"] == "1"


def test_design_from_names_errors():
    with pytest.raises(DesignError) as info:
        design_from_names(["igm_10nM_cs1", "odd_name"], r"(?P<compound>[a-z]+)_\d+nM")
    msg = str(info.value)
    assert "odd_name" in msg and "matches none" in msg and "fix the pattern" in msg
    with pytest.raises(DesignError, match="no named group"):
        design_from_names(["a"], r"a")
    with pytest.raises(DesignError, match="not a regular expression"):
        design_from_names(["a"], r"(?P<compound>")
    with pytest.raises(DesignError) as info:
        design_from_names(["igm_10xM"], r"(?P<compound>[a-z]+)_(?P<concentration>\w+)")
    msg = str(info.value)
    assert "recording 'igm_10xM'" in msg and "'xM'" in msg and "not a molar unit" in msg


def test_blank_lines_keep_line_numbers(tmp_path):
    text = GOOD.replace("veh_*,", "\n,,,,,,\nveh_*,").replace("igm_1uM_cs1,,", "igm_1uM_cs9,,")
    msg = _error(tmp_path, text)
    assert "line 7" in msg and "'igm_1uM_cs9'" in msg  # counted with the blank lines
