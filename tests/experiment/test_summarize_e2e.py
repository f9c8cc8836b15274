"""End to end: a synthetic concentration series (response amplitude on a Hill curve of
known EC50) -> caimg run -> caimg summarize -> EC50 with a CI that holds the truth."""

import math

import numpy as np
import pandas as pd
import pytest

from caimg.cli import main
from caimg.experiment import summarize
from caimg.experiment._demo import write_synthetic_experiment

EC50_M = 1e-6


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiment")
    info = write_synthetic_experiment(root, ec50_M=EC50_M, hill_slope=1.0, top=2.0,
                                      n_per_condition=3, seed=7)
    results = root / "results"
    rc = main(["-q", "run", str(info["recordings"]), "--out", str(results),
               "--stimulus-time", "10", "--treatment", "drug=10",
               "--set", "output.overview_png=false"])
    assert rc == 0
    return {**info, "results": results, "root": root}


@pytest.fixture(scope="module")
def report(batch):
    out = batch["root"] / "report"
    rc = main(["summarize", str(batch["results"]), "--design", str(batch["design"]),
               "--out", str(out), "--control", "vehicle"])
    assert rc == 0
    return out


@pytest.mark.slow
def test_ec50_recovered_within_its_interval(report):
    fits = pd.read_csv(report / "dose_response.csv")
    fit = fits[(fits["compound"] == "igmesine") & (fits["window"] == "response")].iloc[0]
    assert bool(fit["determined"]) and fit["label"] == "EC50"
    assert fit["ci_low_M"] < fit["ec50_M"] < fit["ci_high_M"]
    assert fit["ci_low_M"] <= EC50_M <= fit["ci_high_M"]
    assert math.log10(fit["ci_high_M"] / fit["ci_low_M"]) < 1.5  # bounded, and useful
    assert fit["n_recordings"] == 18 and fit["n_concentrations"] == 6


@pytest.mark.slow
def test_report_files_and_tables(report):
    for name in ("report.pdf", "traces.png", "measures.png", "responders.png",
                 "dose_response_igmesine.png", "measures_drug.png", "conditions.csv",
                 "recordings.csv", "comparisons.csv", "curves.csv", "traces.csv",
                 "design_used.csv", "methods.txt"):
        assert (report / name).stat().st_size > 0, name
    pdf = (report / "report.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    pngs = [p for p in report.glob("*.png")]
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") == len(pngs) + 1
    cond = pd.read_csv(report / "conditions.csv")
    main_window = cond[cond["window"] == "response"]
    assert len(main_window) == 6 and (main_window["n_recordings"] == 3).all()
    assert set(cond["window"]) == {"response", "drug"}
    assert {"pooled_cells_amplitude_median", "amplitude_sem"} <= set(cond.columns)
    veh = main_window[main_window["condition"] == "vehicle"].iloc[0]
    top = main_window[main_window["condition"] == "igmesine 100 µM"].iloc[0]
    assert veh["responder_fraction_mean"] < 0.2 and top["responder_fraction_mean"] > 0.8
    assert top["amplitude_mean"] > 1.5 > 0.1 > veh["amplitude_mean"]
    comps = pd.read_csv(report / "comparisons.csv")
    amp = comps[(comps["window"] == "response") & (comps["measure"] == "amplitude")]
    # the response spread grows with the response (SDs differ > 3-fold): Welch + Holm
    assert len(amp) == 5 and amp["test"].str.startswith("Welch").all()
    assert amp.set_index("condition").loc["igmesine 100 µM", "p_value"] < 0.05
    assert (amp["hedges_g"] > 0).all()
    methods = (report / "methods.txt").read_text()
    assert "Welch" in methods and "recording" in methods


@pytest.mark.slow
def test_name_pattern_gives_the_same_fit(batch, report):
    pattern = (r"(?P<compound>[a-z]+)_(?:(?P<concentration>[\d.]+[munp]?M)_)?"
               r"cs(?P<replicate>\d+)\.tif$")
    s = summarize(batch["results"], None, name_pattern=pattern, control="vehicle")
    from_csv = pd.read_csv(report / "dose_response.csv").iloc[0]
    fit = s.dose_response.iloc[0]
    assert fit["log10_ec50"] == pytest.approx(from_csv["log10_ec50"], abs=1e-6)
    assert set(s.design["replicate"]) == {"1", "2", "3"}
    # per-recording values are one per recording and window
    assert not s.recordings.duplicated(["recording", "window"]).any()
    assert np.isfinite(s.traces["mean"]).all()


@pytest.mark.slow
def test_bad_design_exits_2_with_the_message(batch, tmp_path, capsys):
    bad = tmp_path / "design.csv"
    bad.write_text(batch["design"].read_text() + "igmesine_3uM_cs1,x,igmesine,3 uM,\n")
    rc = main(["summarize", str(batch["results"]), "--design", str(bad),
               "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(bad) in err and "line 8" in err and "igmesine_3uM_cs1" in err
    assert not (tmp_path / "r").exists()
    rc = main(["summarize", str(batch["results"]), "--design", str(batch["design"]),
               "--out", str(tmp_path / "r"), "--measure", "peak_height"])
    assert rc == 2 and "measure = 'peak_height'" in capsys.readouterr().err
    rc = main(["summarize", str(batch["results"]), "--design", str(batch["design"]),
               "--out", str(tmp_path / "r"), "--control", "saline"])
    err = capsys.readouterr().err
    assert rc == 2 and "control 'saline' is not a condition" in err and "vehicle" in err


@pytest.mark.slow
def test_recording_without_accepted_cells_is_kept(batch, tmp_path):
    """A coverslip whose ROIs were all rejected in review stays in the tables with NaN
    values; it does not vanish from n."""
    import shutil

    results = tmp_path / "results"
    shutil.copytree(batch["results"], results)
    folder = results / "vehicle_cs1"
    rois = pd.read_csv(folder / "rois.csv")
    rois.assign(accepted=False).to_csv(folder / "rois.csv", index=False)
    pd.read_csv(folder / "kinetics.csv").iloc[:0].to_csv(folder / "kinetics.csv", index=False)
    s = summarize(results, batch["design"], control="vehicle")
    rec = s.recordings.set_index(["recording", "window"])
    row = rec.loc[("vehicle_cs1", "response")]
    assert row["n_accepted"] == 0 and row["n_cells"] == len(rois)
    assert np.isnan(row["responder_fraction"]) and np.isnan(row["amplitude"])
    assert np.isnan(rec.loc[("vehicle_cs1", "drug"), "amplitude"])
    veh = s.conditions[(s.conditions["condition"] == "vehicle") &
                       (s.conditions["window"] == "response")].iloc[0]
    assert veh["n_recordings"] == 3 and veh["amplitude_n"] == 2
    assert veh["n_accepted"] == 10


@pytest.mark.slow
def test_without_a_control_nothing_is_tested(batch, tmp_path):
    """No condition at concentration 0 and no --control: no comparisons, the methods say
    so, the concentration-response uses the compound's own points, the report is whole."""
    from caimg.experiment import write_report

    design = tmp_path / "design.csv"
    design.write_text(batch["design"].read_text().replace("vehicle,vehicle,0,",
                                                          "vehicle,vehicle,,"))
    s = summarize(batch["results"], design)
    assert s.control is None and s.comparisons.empty
    assert "no condition was tested" in s.methods and "Dunnett" not in s.methods
    fit = s.dose_response.iloc[0]
    assert fit["n_points"] == 15 and fit["n_concentrations"] == 5
    written = write_report(s, tmp_path / "report")
    assert written["report"].stat().st_size > 0


@pytest.mark.slow
def test_recipe_name_pattern_is_used_without_a_design(batch, report, tmp_path):
    """``[experiment] name_pattern`` of the recipe the results were made with stands in
    for --design / --name-pattern (run.json keeps the resolved recipe)."""
    import json
    import shutil

    pattern = (r"(?P<compound>[a-z]+)_(?:(?P<concentration>[\d.]+[munp]?M)_)?"
               r"cs(?P<replicate>\d+)\.tif$")
    results = tmp_path / "results"
    shutil.copytree(batch["results"], results)
    for run_json in results.glob("*/run.json"):
        prov = json.loads(run_json.read_text())
        assert prov["config"]["experiment"] == {"name_pattern": None}
        prov["config"]["experiment"]["name_pattern"] = pattern
        run_json.write_text(json.dumps(prov))
    s = summarize(results, None, control="vehicle")
    from_csv = pd.read_csv(report / "dose_response.csv").iloc[0]
    assert s.dose_response.iloc[0]["log10_ec50"] == pytest.approx(from_csv["log10_ec50"],
                                                                   abs=1e-6)
