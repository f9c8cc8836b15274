"""`caimg export nwb|xlsx` in-process, and the recipe outputs of `caimg run`."""

import sys

import pandas as pd
import pytest

import caimg
from caimg.cli import main
from caimg.export import BATCH_XLSX

pytest.importorskip("openpyxl")
pynwb = pytest.importorskip("pynwb")


def test_export_xlsx_batch_and_single(fresh, capsys):
    out = fresh("fura2")
    assert main(["export", "xlsx", str(out)]) == 0
    book = pd.read_excel(out / BATCH_XLSX, sheet_name=None)
    pd.testing.assert_frame_equal(book["kinetics"], pd.read_csv(out / "kinetics.csv"))
    assert str(out / BATCH_XLSX) in capsys.readouterr().out
    assert main(["export", "xlsx", str(out / "hyper"), "--signal", "ca_nM"]) == 0
    book = pd.read_excel(out / "hyper.xlsx", sheet_name=None)
    assert list(book) == ["index", "recordings", "kinetics", "rois", "treatments", "hyper"]
    _, _, ca = caimg.load_result(out / "hyper").trace_matrix("ca_nM")
    assert (book["hyper"].iloc[:, 1:].to_numpy() == ca).all()
    # several RESULTs need --out
    assert main(["export", "xlsx", str(out / "hyper"), str(out / "cells")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["export", "xlsx", str(out / "hyper"), str(out / "cells"),
                 "--out", str(out / "two.xlsx")]) == 0
    assert {"hyper", "cells"} <= set(pd.read_excel(out / "two.xlsx", sheet_name=None))


def test_export_nwb_paths_inspect_and_metadata(fresh, tmp_path, capsys):
    out = fresh("fura2")
    assert main(["export", "nwb", str(out / "hyper"), "--inspect"]) == 0
    assert (out / "hyper.nwb").is_file()
    capsys.readouterr()
    md = tmp_path / "md.toml"
    md.write_text('[nwbfile]\nexperimenter = ["Doe, Jane"]\n[subject]\nspecies = "Rattus '
                  'norvegicus"\n')
    assert main(["export", "nwb", str(out), "--out", str(tmp_path / "nwb"),
                 "--metadata", str(md)]) == 0
    assert sorted(p.name for p in (tmp_path / "nwb").iterdir()) == ["cells.nwb", "hyper.nwb"]
    with pynwb.NWBHDF5IO(str(tmp_path / "nwb" / "cells.nwb"), "r") as io:
        nwb = io.read()
        assert nwb.subject.species == "Rattus norvegicus"
        assert list(nwb.experimenter) == ["Doe, Jane"]
    # a second export keeps the metadata of the file it replaces
    assert main(["export", "nwb", str(out / "cells"), "--out", str(tmp_path / "nwb")]) == 0
    with pynwb.NWBHDF5IO(str(tmp_path / "nwb" / "cells.nwb"), "r") as io:
        assert io.read().subject.species == "Rattus norvegicus"
    assert main(["export", "nwb", str(out), "--out", str(tmp_path / "one.nwb")]) == 2
    assert "one .nwb file for 2 results" in capsys.readouterr().err
    md.write_text("[subject]\nspeces = 'x'\n")
    assert main(["export", "nwb", str(out / "cells"), "--metadata", str(md)]) == 2
    assert "speces" in capsys.readouterr().err
    assert main(["export", "nwb", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_missing_extra_message(fresh, capsys, monkeypatch):
    out = fresh("fluo4")
    monkeypatch.setitem(sys.modules, "pynwb", None)
    monkeypatch.setitem(sys.modules, "openpyxl", None)
    for fmt in ("nwb", "xlsx"):
        assert main(["export", fmt, str(out)]) == 2
        err = capsys.readouterr().err
        assert "pip install 'caimg[export]'" in err, err
    assert not list(out.glob("*.nwb")) and not list(out.glob("*.xlsx"))


def test_recipe_outputs_in_caimg_run(batches, tmp_path):
    """`[output] nwb = true` / `xlsx = true` make caimg run write the exports; a rerun that
    skips unchanged recordings keeps them."""
    data = tmp_path / "data"
    data.mkdir()
    src = caimg.load_result(batches["fluo4"] / "fluo").provenance["inputs"][0]["path"]
    (data / "fluo.tif").write_bytes(open(src, "rb").read())
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('indicator = "fluo4"\n[kinetics]\nstimulus_time_s = 12.0\n'
                      '[output]\nnwb = true\nxlsx = true\n')
    out = tmp_path / "out"
    assert main(["run", str(data), "--out", str(out), "--pipeline", str(recipe)]) == 0
    nwb, book = out / "fluo.nwb", out / BATCH_XLSX
    assert nwb.is_file() and book.is_file()
    sheets = pd.read_excel(book, sheet_name=None)
    pd.testing.assert_frame_equal(sheets["recordings"], pd.read_csv(out / "recordings.csv"))
    with pynwb.NWBHDF5IO(str(nwb), "r") as io:
        assert "dff" in io.read().processing["ophys"]["DfOverF"].roi_response_series
    stamp = nwb.stat().st_mtime_ns
    assert main(["run", str(data), "--out", str(out), "--pipeline", str(recipe)]) == 0
    assert nwb.stat().st_mtime_ns == stamp  # skipped and up to date: not rewritten
    nwb.unlink()
    assert main(["run", str(data), "--out", str(out), "--pipeline", str(recipe)]) == 0
    assert nwb.is_file()  # a missing export of a skipped recording is written again


def test_export_as_a_subprocess(fresh):
    import os
    import subprocess
    from pathlib import Path

    out = fresh("fluo4")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(caimg.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "caimg.cli", "export", "nwb", str(out / "fluo"),
                           "--inspect"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out / 'fluo.nwb'}" in done.stdout
    assert (out / "fluo.nwb").is_file()
