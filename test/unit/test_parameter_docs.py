"""config/<domain>.yaml and the README's table hold exactly the parameters the nodes declare."""

import importlib

import pytest
import yaml

from competency_cf.resources import SOURCE_ROOT
from competency_cf.ros.pipeline import NODE_CLASSES


def _declared(name):
    return {p.name for p in importlib.import_module(NODE_CLASSES[name][0]).PARAMS}


@pytest.mark.parametrize("domain", ["lunar", "speed"])
def test_config_files_list_every_parameter(domain):
    config = yaml.safe_load((SOURCE_ROOT / "config" / f"{domain}.yaml").read_text())
    # "/**/" matches the node in any namespace, so a pushed namespace keeps its parameters.
    assert all(key.startswith("/**/") for key in config)
    config = {key.removeprefix("/**/"): section for key, section in config.items()}
    assert set(config) == set(NODE_CLASSES)
    for name, section in config.items():
        assert set(section["ros__parameters"]) == _declared(name), name
        assert section["ros__parameters"].get("domain") == domain


def test_readme_table_lists_every_parameter():
    readme = (SOURCE_ROOT / "README.md").read_text()
    for name in NODE_CLASSES:
        for parameter in _declared(name):
            assert f"| {name} | `{parameter}` |" in readme, (name, parameter)
