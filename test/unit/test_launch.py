"""The launch file: always checked for the executables it names; built where `launch` exists."""

import ast
import configparser

import pytest

from competency_cf.resources import SOURCE_ROOT

LAUNCH = SOURCE_ROOT / "launch" / "competency_cf.launch.py"


def test_launch_file_starts_only_installed_executables():
    tree = ast.parse(LAUNCH.read_text())
    named = {node.args[0].value for node in ast.walk(tree)
             if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "node"
             and node.args and isinstance(node.args[0], ast.Constant)}
    setup = (SOURCE_ROOT / "setup.py").read_text()
    assert named == {"sim_camera_node", "perception_node", "counterfactual_node",
                     "explainer_node"}
    for executable in named:
        assert f'"{executable} = ' in setup, executable
    assert configparser.ConfigParser().read(SOURCE_ROOT / "setup.cfg")


def test_launch_description_builds():
    pytest.importorskip("launch_ros", reason="launch and launch_ros are not on PyPI; this "
                        "test runs on a ROS 2 install")
    import importlib.util

    spec = importlib.util.spec_from_file_location("competency_cf_launch", LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    arguments = {a.name for a in description.get_launch_arguments()}
    assert arguments == {"domain", "image_topic", "explainer_backend", "llm_model",
                         "use_sim_time", "with_sim_camera"}


def test_rviz_view_shows_topics_the_nodes_publish():
    import yaml

    view = yaml.safe_load((SOURCE_ROOT / "config" / "competency_cf.rviz").read_text())
    topics = [d["Topic"]["Value"] for d in view["Visualization Manager"]["Displays"]]
    assert topics == ["/perception_node/debug_image",
                      "/counterfactual_node/counterfactual/image",
                      "/perception_node/low_competency/image"]
    sources = {"perception_node": (SOURCE_ROOT / "competency_cf/ros/perception_node.py"),
               "counterfactual_node": (SOURCE_ROOT / "competency_cf/ros/counterfactual_node.py")}
    for topic in topics:
        node, relative = topic.strip("/").split("/", 1)
        assert f'"~/{relative}"' in sources[node].read_text(), topic
