"""The package's layers, read from its source with ast: only competency_cf/ros/ needs ROS, so the
core, the evaluation and the command line import in a plain Python without any ROS package."""

from source_imports import is_ros_package, source_imports

ROS_LAYER = "competency_cf/ros/"
# Optional outside the ROS layer: a function imports it and falls back when it is missing.
OPTIONAL = {("competency_cf/resources.py", "ament_index_python")}  # then the source tree


def _outside_ros_layer():
    return [found for found in source_imports("competency_cf")
            if not found.path.startswith(ROS_LAYER)]


def test_the_scan_sees_the_ros_layers_imports():
    inside = {found.top for found in source_imports("competency_cf")
              if found.path.startswith(ROS_LAYER)}
    assert {"rclpy", "sensor_msgs", "std_msgs"} <= inside


def test_nothing_outside_the_ros_layer_needs_ros_to_be_imported():
    # Module level: neither a ROS package nor the ROS layer (cli.py imports the ROS layer inside
    # the commands that start nodes, which is fine).
    offending = [str(found) for found in _outside_ros_layer() if found.module_level
                 and (is_ros_package(found.top) or found.reaches("competency_cf.ros"))]
    assert not offending, "ROS imported at module level outside competency_cf/ros/:\n" + \
        "\n".join(offending)


def test_only_the_ros_layer_imports_ros_packages():
    # Inside functions too: code that starts nodes or builds messages (a benchmark harness
    # that imports rclpy lazily, say) belongs in competency_cf/ros/.
    offending = [str(found) for found in _outside_ros_layer() if is_ros_package(found.top)
                 and (found.path, found.top) not in OPTIONAL]
    assert not offending, "ROS package imported outside competency_cf/ros/:\n" + \
        "\n".join(offending)
