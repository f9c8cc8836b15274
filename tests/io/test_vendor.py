"""Vendor formats (caimg[formats]): each fixture's README metadata through `caimg inspect
--json`, Z-stacks run with input.z_plane, lambda/XZ refused naming the axis, the
Micro-Manager dataset as four recordings."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from caimg.cli import main
from caimg.errors import CaimgError, StackReadError
from caimg.io import find_recordings, read_recording
from caimg.io.vendor import close_handles

ND2 = "vendor-nd2-nikon-a1-tzc-pims/cluster.nd2"
CZI = "vendor-czi-zeiss-cd7-tcz-aicspylibczi/CD_s_1_t_3_c_2_z_5.czi"
LIF_LAMBDA = "vendor-lif-leica-lasx-readlif/LeicaLASX_wavelength-sweep_example.lif"
LIF_XZ = "vendor-lif-leica-lasx-readlif/testdata_2channel_xz.lif"


def _inspect(capsys, *args):
    capsys.readouterr()
    code = main(["inspect", "--json", *map(str, args)])
    return code, json.loads(capsys.readouterr().out)


def test_nd2_metadata(vendor_data, capsys):
    pytest.importorskip("nd2")
    code, (e,) = _inspect(capsys, vendor_data / ND2, "--set", "input.z_plane=0",
                          "--set", "input.channels={f = '5-FAM/pH 9.0'}")
    assert code == 0 and e["refused"] is None
    assert (e["format"], e["axes"], e["shape"], e["dtype"]) == \
        ("nd2", "TZCYX", [3, 10, 2, 31, 38], "uint16")
    assert [(c["name"], c["excitation_nm"], c["emission_nm"]) for c in e["channels"]] == \
        [("5-FAM/pH 9.0", 488.0, 525.0), ("FM 4-64/2% CHAPS", 561.0, 700.0)]
    assert e["pixel_size_um"] == pytest.approx(0.1678, abs=1e-4)
    assert e["metadata"]["z_step_um"] == pytest.approx(0.5)
    t = np.array(e["time"]["times_s"])
    assert e["time"]["kind"] == "per-frame" and e["time"]["source"] == "nd2 events"
    assert len(t) == 3 and (np.diff(t) > 0).all()
    np.testing.assert_allclose(np.diff(t), 10.65, atol=0.1)
    assert e["use"] == {"f": "0 '5-FAM/pH 9.0' (ex 488 nm, em 525 nm)"}


def test_czi_metadata(vendor_data, capsys):
    pytest.importorskip("czifile")
    code, (e,) = _inspect(capsys, vendor_data / CZI, "--set", "input.z_plane=2",
                          "--set", "input.channels={f = 'LED470'}")
    assert code == 0 and e["refused"] is None
    assert (e["format"], e["axes"], e["shape"]) == ("czi", "TCZYX", [3, 2, 5, 170, 240])
    assert [(c["name"], c["excitation_nm"], c["emission_nm"]) for c in e["channels"]] == \
        [("LED555", 553.0, 568.0), ("LED470", 493.0, 517.0)]
    assert e["time"]["times_s"] == pytest.approx([0.0, 60.075, 120.15])
    assert e["time"]["source"] == "czi T offsets"
    assert e["pixel_size_um"] == pytest.approx(0.0906, abs=1e-4)
    assert e["metadata"]["z_step_um"] == pytest.approx(0.32)
    assert e["use"] == {"f": "1 'LED470' (ex 493 nm, em 517 nm)"}


def test_czi_planes_match_czifile(vendor_data):
    czifile = pytest.importorskip("czifile")
    whole = czifile.imread(vendor_data / CZI)[0, :, :, :, :, :, 0]  # T C Z Y X
    rec = read_recording(vendor_data / CZI, z_plane=3, channels={"f": 1})
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), whole[:, 1, 3])
    rec = read_recording(vendor_data / CZI, z_plane="max", channels={"f": "553nm"})
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), whole[:, 0].max(axis=1))


def test_nd2_planes_match_nd2(vendor_data):
    nd2 = pytest.importorskip("nd2")
    whole = nd2.imread(vendor_data / ND2)  # T Z C Y X
    rec = read_recording(vendor_data / ND2, z_plane=5, channels={"f": 0})
    np.testing.assert_array_equal(np.asarray(rec.channels["f"]), whole[:, 5, 0])
    assert np.asarray(rec.channels["f"]).max() > 0


@pytest.mark.parametrize("image, axis", [
    ("x_y_lambdaEmi", "lambda (emission wavelength sweep) axis λ (20)"),
    ("x_y_lambdaExc", "Lambda (excitation wavelength sweep) axis Λ (15)"),
    ("x_y_z_t_lambdaEmi", "lambda (emission wavelength sweep) axis λ (10)"),
])
def test_lif_lambda_sweeps_are_refused_naming_the_axis(vendor_data, capsys, image, axis):
    pytest.importorskip("liffile")
    code, entries = _inspect(capsys, vendor_data / LIF_LAMBDA)
    assert code == 1
    e = {x["position"]: x for x in entries}[image]
    assert axis in e["refused"] and "it is not time" in e["refused"]
    assert str(vendor_data / LIF_LAMBDA) in e["refused"]


def test_lif_xz_scans_are_refused_naming_the_axis(vendor_data, capsys):
    pytest.importorskip("liffile")
    code, entries = _inspect(capsys, vendor_data / LIF_XZ)
    e = {x["position"]: x for x in entries}
    assert code == 1 and set(e) == {"xzt", "xzy", "xz"}
    assert e["xzt"]["axes"] == "TCZX" and e["xzt"]["shape"] == [20, 2, 128, 128]
    assert e["xzt"]["time"]["times_s"][-1] == pytest.approx(10.07)
    for name in e:
        assert "an XZ scan" in e[name]["refused"] and "Z is not an image row axis" in \
            e[name]["refused"]
    # lambda stays lambda when read in Python too
    src = [s for s in find_recordings(vendor_data / LIF_LAMBDA) if s.name.endswith("Emi")][0]
    with pytest.raises(StackReadError, match="lambda .* axis λ"):
        read_recording(src)


def test_micromanager_dataset_is_four_recordings(mm_dataset, capsys):
    found = find_recordings(mm_dataset)
    assert [s.name for s in found] == [
        "1.4compatTest_3_1-Pos_000_000", "1.4compatTest_3_1-Pos_001_000",
        "1.4compatTest_3_1-Pos_001_001", "1.4compatTest_3_1-Pos_000_001"]
    code, entries = _inspect(capsys, mm_dataset, "--set", "input.z_plane=0",
                             "--set", "input.channels={f = 'DAPI'}")
    assert code == 0 and len(entries) == 4
    for e in entries:
        assert e["format"] == "micromanager" and e["axes"] == "TZCYX"
        assert e["shape"] == [2, 2, 2, 64, 64]
        assert [c["name"] for c in e["channels"]] == ["Cy5", "DAPI"]
        assert e["time"]["interval_s"] == 5.0 and e["pixel_size_um"] == 1.0
    rec = read_recording(found[2], z_plane=1, channels={"f": "Cy5"})
    assert rec.shape == (2, 64, 64) and rec.frame_interval_s == 5.0
    assert rec.name == "1.4compatTest_3_1-Pos_001_001"


@pytest.mark.parametrize("fixture", [ND2, CZI])
def test_z_stacks_run_with_z_plane(vendor_data, tmp_path, fixture):
    pytest.importorskip("nd2" if fixture == ND2 else "czifile")
    out = tmp_path / "out"
    code = main(["run", str(vendor_data / fixture), "--out", str(out), "--pipeline", "fluo4",
                 "--set", "input.z_plane=0", "--set", "input.channels={f = 0}",
                 "--set", "segment.min_area_px=4",
                 # tiny crops at high magnification: a 12 um cell would not fit the frame
                 "--set", "input.pixel_size_um=2.0"])
    assert code in (0, 1)  # 3 frames of non-calcium data: it runs; cells may not be found
    prov = json.loads(next(out.glob("*/run.json")).read_text())
    prov = prov.get("provenance", prov)
    assert prov["shape"][0] == 3
    assert prov["time_source"].startswith("per-frame")


# -- bad cases: the message names the file, what was found and what to do ----------------

def test_z_stack_without_plane(vendor_data):
    pytest.importorskip("nd2")
    with pytest.raises(StackReadError) as exc:
        read_recording(vendor_data / ND2, channels={"f": 0})
    msg = str(exc.value)
    assert "cluster.nd2" in msg and "3 time points x 10 Z planes" in msg
    assert "Z is never read as time" in msg and "input.z_plane = INDEX (0 to 9)" in msg


def test_ambiguous_channels(vendor_data):
    pytest.importorskip("czifile")
    with pytest.raises(StackReadError) as exc:
        read_recording(vendor_data / CZI, z_plane=0)
    msg = str(exc.value)
    assert "CD_s_1_t_3_c_2_z_5.czi: found 2 channels" in msg
    assert "0 'LED555' (ex 553 nm, em 568 nm), 1 'LED470' (ex 493 nm, em 517 nm)" in msg
    assert "input.channels={f = \"LED555\"}" in msg


def test_unknown_channel_name(vendor_data):
    pytest.importorskip("czifile")
    with pytest.raises(StackReadError) as exc:
        read_recording(vendor_data / CZI, z_plane=0, channels={"f": "GFP"})
    msg = str(exc.value)
    assert "CD_s_1_t_3_c_2_z_5.czi: input.channels.f = 'GFP' matches none" in msg
    assert "'LED555'" in msg and "expected one of their names, an index" in msg


def test_missing_extra_names_the_package(vendor_data, monkeypatch):
    close_handles()  # no reader kept open from an earlier test
    monkeypatch.setitem(sys.modules, "nd2", None)  # import nd2 -> ImportError
    with pytest.raises(CaimgError) as exc:
        read_recording(vendor_data / ND2, z_plane=0)
    msg = str(exc.value)
    assert "cluster.nd2: reading Nikon ND2 files needs the package 'nd2'" in msg
    assert "pip install 'caimg[formats]'" in msg


def test_napari_reader_opens_vendor_files_lazily(vendor_data, mm_dataset):
    pytest.importorskip("nd2")
    pytest.importorskip("dask")
    from caimg.napari_plugin._reader import napari_get_reader

    path = vendor_data / ND2
    layers = napari_get_reader(str(path))(str(path))
    assert [lay[1]["name"] for lay in layers] == ["cluster 5-FAM/pH 9.0 F",
                                                  "cluster FM 4-64/2% CHAPS F"]
    assert all(type(lay[0]).__name__ == "Array" for lay in layers)  # dask: read on demand
    assert layers[0][0].shape == (3, 31, 38)
    mm = sorted(mm_dataset.glob("*.ome.tif"))[0]
    assert len(napari_get_reader(str(mm))(str(mm))) == 8  # 4 positions x 2 channels
