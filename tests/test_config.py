import pytest

from caimg.config import (
    PipelineConfig,
    available_pipelines,
    config_from_dict,
    config_to_dict,
    load_pipeline,
    replace_config,
)
from caimg.errors import ConfigError


def test_shipped_recipes_load():
    assert {"fura2", "fluo4"} <= set(available_pipelines())
    assert load_pipeline("fura2").indicator == "fura2"
    assert load_pipeline("fluo4").indicator == "fluo4"


def test_unknown_key_suggests_closest(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text('indicator = "fluo4"\n[kinetics]\nresponder_kk = 3\n')
    with pytest.raises(ConfigError, match="kinetics.responder_kk.*did you mean 'responder_k'"):
        load_pipeline(p)


def test_unknown_section_and_wrong_type(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text('[kinetic]\nresponder_k = 3\n')
    with pytest.raises(ConfigError, match="did you mean 'kinetics'"):
        load_pipeline(p)
    with pytest.raises(ConfigError, match="'motion.enabled' = 'yes': expected true or false"):
        load_pipeline("fluo4", overrides={"motion.enabled": "yes"})


def test_out_of_range_names_key_and_range():
    with pytest.raises(ConfigError, match=r"'signal.f0_percentile' = 150.0 is out of range: "
                                          r"expected a value >= 0 and <= 100"):
        load_pipeline("fluo4", overrides={"signal": {"f0_percentile": 150}})
    with pytest.raises(ConfigError, match="expected one of"):
        load_pipeline("fluo4", overrides={"layout": "sideways"})


def test_unknown_pipeline_name():
    with pytest.raises(ConfigError, match="did you mean 'fura2'"):
        load_pipeline("fura")


def test_overrides_shortcuts_do_not_mutate():
    base = load_pipeline("fura2")
    new = replace_config(base, {"stimulus_time_s": 12, "kinetics.responder_k": 3,
                                "segment": {"method": "watershed"}})
    assert new.kinetics.stimulus_time_s == 12.0 and new.kinetics.responder_k == 3.0
    assert new.segment.method == "watershed"
    assert base.kinetics.stimulus_time_s is None and base.segment.method == "auto"
    with pytest.raises(ConfigError, match="unknown setting 'kinetics.nope'"):
        replace_config(base, {"kinetics.nope": 1})


def test_round_trip_through_dict():
    cfg = load_pipeline("fura2", overrides={"stimulus_time_s": 5.0})
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert isinstance(cfg, PipelineConfig)


# ------------------------------------------------------------------ rules across sections
@pytest.mark.parametrize("recipe, overrides, match", [
    ("fura2", {"signal.calibration.enabled": True}, "rmin, rmax"),
    ("fura2", {"signal.calibration": {"enabled": True, "rmin": 0.2, "rmax": 5.0}},
     "beta .*or keff_nM"),
    ("fluo4", {"signal.calibration.enabled": True}, "fmin, fmax"),
    ("fluo4", {"background.method": "roi"}, "background.roi_file"),
    ("fura2", {"background": {"method": "constant", "constant": {"f340": 100.0}}},
     r"constant for channels \['f380'\]"),
    ("fura2", {"motion.channel": "green"}, "motion.channel = 'green' is not a channel"),
])
def test_cross_field_rules_fail_when_the_config_is_built(recipe, overrides, match):
    with pytest.raises(ConfigError, match=match):
        load_pipeline(recipe, overrides=overrides)


def test_cross_field_rules_on_direct_construction_and_unknown_indicator():
    from caimg.config import BackgroundConfig

    with pytest.raises(ConfigError, match="roi_file"):
        PipelineConfig(background=BackgroundConfig(method="roi"))
    with pytest.raises(ConfigError, match="did you mean 'fura2'"):
        load_pipeline("fluo4", overrides={"indicator": "fura3"})


def test_settings_of_the_sibling_indicator_pass_for_auto():
    """pipeline "auto" builds both recipes from one set of overrides: Fura-2 constants
    do not fail the Fluo-4 sibling (the recording's own stage checks them strictly)."""
    ov = {"signal.calibration": {"enabled": True, "rmin": 0.2, "rmax": 5.0, "beta": 8.0},
          "background": {"method": "constant", "constant": {"f340": 90.0, "f380": 95.0}}}
    assert load_pipeline("fluo4", overrides=ov).signal.calibration.enabled
    assert load_pipeline("fura2", overrides=ov).background.constant == {"f340": 90.0, "f380": 95.0}


def test_rois_section_defaults_and_round_trip(tmp_path):
    from caimg.config import RoisConfig

    cfg = load_pipeline("fluo4")
    assert cfg.rois == RoisConfig(accept_min_area_px=10, max_aspect_ratio=4.0,
                                  min_contrast=0.0, min_snr_no_contrast=5.0)
    assert config_to_dict(cfg)["rois"]["accept_min_area_px"] == 10
    p = tmp_path / "r.toml"
    p.write_text('indicator = "fluo4"\n[rois]\naccept_min_area_px = 40\nmin_contrast = 0.1\n')
    assert load_pipeline(p).rois.accept_min_area_px == 40
    with pytest.raises(ConfigError, match="did you mean 'accept_min_area_px'"):
        load_pipeline("fluo4", overrides={"rois.min_area_px": 5})
