import pytest

from rtguard.config import dump_config, load_config, validate_config, with_data_overrides
from rtguard.errors import ConfigError


def test_unknown_key_is_an_error_naming_it(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nepochz = 3\n")
    with pytest.raises(ConfigError, match=r"train\.epochz"):
        load_config(path)


def test_unknown_section_is_an_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[serving]\nport = 1\n")
    with pytest.raises(ConfigError, match="serving"):
        load_config(path)


def test_malformed_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_out_of_range_value_is_an_error():
    with pytest.raises(ConfigError, match=r"data\.val_fraction"):
        validate_config({"data": {"val_fraction": 1.5}})


def test_dumped_config_loads_back_identical(tmp_path, tiny_config):
    path = tmp_path / "config.toml"
    path.write_text(dump_config(tiny_config))
    assert load_config(path) == tiny_config


def test_command_line_overrides_are_validated(tiny_config):
    changed = with_data_overrides(tiny_config, dataset="nsl-kdd", path="/x", labels=None)
    assert changed.data.dataset == "nsl-kdd" and str(changed.data.path) == "/x"
    assert changed.data.labels == tiny_config.data.labels
    with pytest.raises(ConfigError):
        with_data_overrides(tiny_config, dataset="kdd99")
