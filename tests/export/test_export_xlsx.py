"""The Excel workbook read back with pandas equals the batch tables and trace matrices."""

import shutil
import sys

import numpy as np
import pandas as pd
import pytest

import caimg
from caimg.export import ExportError, export_xlsx
from caimg.export.xlsx import safe_sheet_names

pytest.importorskip("openpyxl")


def _book(path):
    return pd.read_excel(path, sheet_name=None)


def test_batch_workbook_equals_tables(batches):
    out = batches["fura2"]
    path = export_xlsx(out, out.parent / "fura_book.xlsx")
    book = _book(path)
    index = book["index"]
    assert list(book) == list(index["sheet"].pipe(lambda s: ["index", *s]))
    assert list(book)[:5] == ["index", "recordings", "kinetics", "rois", "treatments"]
    pd.testing.assert_frame_equal(book["recordings"], pd.read_csv(out / "recordings.csv"))
    pd.testing.assert_frame_equal(book["kinetics"], pd.read_csv(out / "kinetics.csv"))
    pd.testing.assert_frame_equal(book["rois"], pd.read_csv(out / "rois.csv"))
    pd.testing.assert_frame_equal(book["treatments"], pd.read_csv(out / "treatments.csv"))
    assert "failures" not in book  # nothing failed
    traces = index[index["recording"].notna() & (index["recording"] != "")]
    assert sorted(traces["recording"]) == ["cells", "hyper"]
    for _, row in traces.iterrows():
        res = caimg.load_result(out / row["recording"])
        time_s, ids, values = res.trace_matrix()
        sheet = book[row["sheet"]]
        assert list(sheet.columns) == ["time_s", *[f"roi_{i}" for i in ids]]
        np.testing.assert_array_equal(sheet["time_s"].to_numpy(), time_s)
        np.testing.assert_array_equal(sheet.iloc[:, 1:].to_numpy(), values)
        assert "ratio" in row["contents"]


def test_fluo4_signals_and_results_objects(batches, tmp_path):
    out = batches["fluo4"]
    res = caimg.load_result(out / "fluo")
    path = export_xlsx([res], tmp_path / "one.xlsx", signals=["dff", "f", "nope"])
    book = _book(path)
    assert {"fluo dff", "fluo f"} <= set(book)
    assert not any("nope" in s for s in book)
    for col in ("dff", "f"):
        _, ids, values = res.trace_matrix(col)
        np.testing.assert_array_equal(book[f"fluo {col}"].iloc[:, 1:].to_numpy(), values)
    # without a batch recordings.csv the summary is built from the result
    summ = book["recordings"].set_index("recording").loc["fluo"]
    assert summ["n_rois"] == res.n_rois and summ["signal"] == "dff"
    assert summ["n_accepted"] == int(res.rois["accepted"].sum())
    # a Result without a folder: its in-memory tables
    book = _book(export_xlsx(res.replace(folder=None), tmp_path / "mem.xlsx"))
    want = res.kinetics.copy()
    want.insert(0, "recording", "fluo")
    pd.testing.assert_frame_equal(book["kinetics"], want, check_dtype=False)
    assert pd.isna(book["index"].set_index("sheet").loc["fluo", "source"])  # no file


def test_long_and_odd_recording_names_get_safe_unique_sheets(batches, tmp_path):
    src = batches["fluo4"] / "fluo"
    names = ["a" * 40 + "_first", "a" * 40 + "_second", "rois", "x[1]:y*?"]
    folders = []
    for n in names:
        shutil.copytree(src, tmp_path / n)
        folders.append(tmp_path / n)
    book = _book(export_xlsx(folders, tmp_path / "odd.xlsx"))
    index = book["index"]
    traces = index[index["recording"].isin(names)]
    assert sorted(traces["recording"]) == sorted(names)
    sheets = list(traces["sheet"])
    assert len(set(s.casefold() for s in sheets)) == 4
    assert all(len(s) <= 31 and not set(s) & set("[]:*?/\\") for s in sheets)
    assert "rois" not in sheets  # the table sheet keeps its name
    _, _, values = caimg.load_result(src).trace_matrix()
    for s in sheets:
        np.testing.assert_array_equal(book[s].iloc[:, 1:].to_numpy(), values)


def test_safe_sheet_names_rules():
    got = safe_sheet_names(["ok", "OK", "a/b", "'quoted'", "history", "", "x" * 40, "x" * 40],
                           taken=["index"])
    assert got[0] == "ok" and got[1] == "OK~2"
    assert got[2] == "a_b" and got[3] == "quoted" and got[4] == "History_"
    assert got[5] == "sheet"
    assert got[6] == "x" * 31 and got[7] == "x" * 29 + "~2"
    assert safe_sheet_names(["Index"], taken=["index"]) == ["Index~2"]


def test_errors(batches, tmp_path, monkeypatch):
    with pytest.raises(ExportError, match="neither a caimg result folder"):
        export_xlsx(tmp_path, tmp_path / "x.xlsx")
    with pytest.raises(ExportError, match="several results are named"):
        export_xlsx([batches["fluo4"] / "fluo", batches["fluo4"] / "fluo" / ".." / "fluo",
                     caimg.load_result(batches["fluo4"] / "fluo")], tmp_path / "x.xlsx")
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    with pytest.raises(ExportError, match=r"openpyxl.*pip install 'caimg\[export\]'"):
        export_xlsx(batches["fluo4"], tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()
