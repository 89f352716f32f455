"""The launch file, run against recording stand-ins of `launch` / `launch_ros` (not on PyPI)
and the real ament index, pointed at an install prefix made for the test."""

import importlib.metadata
import importlib.util

import pytest

import launch_standins
from competency_cf.resources import SOURCE_ROOT

LAUNCH = SOURCE_ROOT / "launch" / "competency_cf.launch.py"


@pytest.fixture
def launch_file(monkeypatch, tmp_path):
    """The launch module, with an ament prefix holding this package's marker and config."""
    index = tmp_path / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "competency_cf").touch()
    (tmp_path / "share" / "competency_cf").mkdir()
    (tmp_path / "share" / "competency_cf" / "config").symlink_to(SOURCE_ROOT / "config")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    launch_standins.install(monkeypatch)
    spec = importlib.util.spec_from_file_location("competency_cf_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, tmp_path


def _nodes(description, **arguments):
    defaults = {a.name: a.default_value for a in description.get_launch_arguments()}
    context = launch_standins.LaunchContext({**defaults, **arguments})
    opaque = [e for e in description.entities if isinstance(e, launch_standins.OpaqueFunction)]
    nodes = [node for entity in opaque for node in entity.execute(context)]
    return {n.kwargs["executable"]: n.kwargs for n in nodes}, context


def test_arguments_and_nodes_with_their_parameters(launch_file):
    module, prefix = launch_file
    description = module.generate_launch_description()
    assert {a.name for a in description.get_launch_arguments()} == {
        "domain", "namespace", "params_file", "input_image_topic", "device", "backend",
        "explainer_backend", "llm_model", "use_sim_time", "with_sim_camera"}
    nodes, context = _nodes(description, domain="speed", namespace="rover1",
                            input_image_topic="/rover1/mast/image_raw", use_sim_time="true",
                            device="cuda:0", backend="onnx")
    assert set(nodes) == {"sim_camera_node", "perception_node", "counterfactual_node",
                          "explainer_node"}
    for node in nodes.values():
        params_file, overrides = node["parameters"]
        assert params_file == str(prefix / "share" / "competency_cf" / "config" / "speed.yaml")
        assert overrides["domain"] == "speed" and overrides["use_sim_time"] is True
        assert node["namespace"] == "rover1"
    # The camera is wired by remapping, not by a topic parameter.
    for name in ("perception_node", "sim_camera_node"):
        assert nodes[name]["remappings"] == [("image_raw", "/rover1/mast/image_raw")]
    assert nodes["counterfactual_node"]["remappings"] == []
    assert nodes["perception_node"]["parameters"][1]["backend"] == "onnx"
    assert nodes["perception_node"]["parameters"][1]["device"] == "cuda:0"
    assert "device" not in nodes["sim_camera_node"]["parameters"][1]
    assert nodes["explainer_node"]["parameters"][1]["backend"] == "descriptor"
    # The sim camera only when asked: it would publish onto a real camera's topic.
    assert not nodes["sim_camera_node"]["condition"].evaluate(context)
    _, context = _nodes(description, with_sim_camera="true")
    assert nodes["sim_camera_node"]["condition"].evaluate(context)


def test_a_params_file_argument_replaces_the_domain_default(launch_file, tmp_path):
    module, _ = launch_file
    own = tmp_path / "mine.yaml"
    nodes, _ = _nodes(module.generate_launch_description(), params_file=str(own))
    assert all(node["parameters"][0] == str(own) for node in nodes.values())


def test_every_executable_it_starts_is_installed(launch_file):
    """ros2 launch runs lib/<package>/<executable>: an installed console script."""
    module, _ = launch_file
    nodes, _ = _nodes(module.generate_launch_description())
    scripts = {entry.name: entry for entry in
               importlib.metadata.distribution("competency_cf").entry_points
               if entry.group == "console_scripts"}
    for executable in nodes:
        assert callable(scripts[executable].load()), executable
