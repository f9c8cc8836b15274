import pytest

from caimg.config import (PipelineConfig, available_pipelines, config_from_dict, config_to_dict,
                          load_pipeline, replace_config)
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
        load_pipeline("fluo4", {"motion.enabled": "yes"})


def test_out_of_range_names_key_and_range():
    with pytest.raises(ConfigError, match=r"'signal.f0_percentile' = 150.0 is out of range: "
                                          r"expected a value >= 0 and <= 100"):
        load_pipeline("fluo4", {"signal": {"f0_percentile": 150}})
    with pytest.raises(ConfigError, match="expected one of"):
        load_pipeline("fluo4", {"layout": "sideways"})


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
    cfg = load_pipeline("fura2", {"stimulus_time_s": 5.0})
    assert config_from_dict(config_to_dict(cfg)) == cfg
    assert isinstance(cfg, PipelineConfig)
