"""Launch the competency_cf graph on a real ROS 2 install.

    ros2 launch competency_cf competency_cf.launch.py domain:=lunar with_sim_camera:=true
    ros2 launch competency_cf competency_cf.launch.py image_topic:=/rover/camera/image_raw \
        with_sim_camera:=false explainer_backend:=llm llm_model:=/models/Llama-3.2-11B-Vision

Every node reads config/<domain>.yaml; the arguments below override single parameters. The nodes
are lifecycle nodes that configure and activate themselves (autostart); set autostart to false in
the YAML to drive the transitions from a lifecycle manager instead.
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
    domain = LaunchConfiguration("domain").perform(context)
    share = get_package_share_directory(PACKAGE)
    params_file = os.path.join(share, "config", f"{domain}.yaml")
    use_sim_time = LaunchConfiguration("use_sim_time").perform(context).lower() == "true"
    image_topic = LaunchConfiguration("image_topic").perform(context)
    common = {"domain": domain, "use_sim_time": use_sim_time}

    def node(executable, overrides=None, condition=None):
        return LifecycleNode(package=PACKAGE, executable=executable, name=executable,
                             namespace="", output="screen", condition=condition,
                             parameters=[params_file, {**common, **(overrides or {})}])

    return [
        node("sim_camera_node", {"image_topic": image_topic},
             IfCondition(LaunchConfiguration("with_sim_camera"))),
        node("perception_node", {"image_topic": image_topic}),
        node("counterfactual_node"),
        node("explainer_node", {"backend": LaunchConfiguration("explainer_backend")
                                .perform(context),
                                "llm_model": LaunchConfiguration("llm_model").perform(context)}),
    ]


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("domain", default_value="lunar",
                              description="built-in domain: lunar or speed"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw",
                              description="camera topic the perception node scores"),
        DeclareLaunchArgument("explainer_backend", default_value="descriptor",
                              description="descriptor or llm"),
        DeclareLaunchArgument("llm_model", default_value="",
                              description="local LLaMA 3.2 Vision directory (llm backend)"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (bag replay, simulators)"),
        DeclareLaunchArgument("with_sim_camera", default_value="true",
                              description="start the scripted sim camera"),
        OpaqueFunction(function=_nodes),
    ])
