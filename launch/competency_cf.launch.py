"""Launch the competency_cf graph on a real ROS 2 install.

    ros2 launch competency_cf competency_cf.launch.py domain:=lunar with_sim_camera:=true
    ros2 launch competency_cf competency_cf.launch.py namespace:=rover1 \
        input_image_topic:=/rover1/mast/image_raw explainer_backend:=llm \
        llm_model:=/models/Llama-3.2-11B-Vision device:=cuda:0 backend:=onnx

Every node reads `params_file` (default: the installed config/<domain>.yaml); the arguments below
override single parameters. Topics are relative, so `namespace` moves the whole graph (two robots
or two graphs side by side), and `input_image_topic` remaps the perception node's `image_raw`
(and the sim camera's output). The nodes are lifecycle nodes that configure and activate
themselves (autostart); set autostart to false in the YAML to drive the transitions from a
lifecycle manager instead.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

PACKAGE = "competency_cf"


def _nodes(context):
    def argument(name):
        return LaunchConfiguration(name).perform(context)

    domain = argument("domain")
    params_file = argument("params_file") or os.path.join(
        get_package_share_directory(PACKAGE), "config", f"{domain}.yaml")
    common = {"domain": domain, "use_sim_time": argument("use_sim_time").lower() == "true",
              "device": argument("device")}
    camera = [("image_raw", argument("input_image_topic"))]

    def node(executable, overrides=None, condition=None, remappings=()):
        parameters = {**common, **(overrides or {})}
        if executable == "sim_camera_node":
            parameters.pop("device")  # renders on the CPU; it has no such parameter
        return LifecycleNode(package=PACKAGE, executable=executable, name=executable,
                             namespace=argument("namespace"), output="screen",
                             condition=condition, remappings=list(remappings),
                             parameters=[params_file, parameters])

    return [
        node("sim_camera_node", condition=IfCondition(LaunchConfiguration("with_sim_camera")),
             remappings=camera),
        node("perception_node", {"backend": argument("backend")}, remappings=camera),
        node("counterfactual_node"),
        node("explainer_node", {"backend": argument("explainer_backend"),
                                "llm_model": argument("llm_model")}),
    ]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("domain", default_value="lunar",
                              description="built-in domain: lunar or speed"),
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of every node and topic, e.g. rover1"),
        DeclareLaunchArgument("params_file", default_value="",
                              description="node parameters (empty: config/<domain>.yaml)"),
        DeclareLaunchArgument("input_image_topic", default_value="image_raw",
                              description="camera topic the perception node scores"),
        DeclareLaunchArgument("device", default_value="cpu",
                              description="torch device of the models, e.g. cpu or cuda:0"),
        DeclareLaunchArgument("backend", default_value="torch",
                              description="perception runtime: torch or onnx"),
        DeclareLaunchArgument("explainer_backend", default_value="descriptor",
                              description="descriptor or llm"),
        DeclareLaunchArgument("llm_model", default_value="",
                              description="local LLaMA 3.2 Vision directory (llm backend)"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (bag replay, simulators)"),
        DeclareLaunchArgument("with_sim_camera", default_value="false",
                              description="also start the scripted sim camera (publishes on "
                              "input_image_topic: never next to a real camera)"),
        OpaqueFunction(function=_nodes),
    ])
