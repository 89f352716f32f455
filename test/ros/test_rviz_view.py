"""The RViz view config/competency_cf.rviz shows topics the running nodes publish, with a QoS
they can serve."""

import pytest
import yaml
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

from competency_cf.resources import SOURCE_ROOT

pytestmark = pytest.mark.ros

RELIABILITY = {"Reliable": ReliabilityPolicy.RELIABLE,
               "Best Effort": ReliabilityPolicy.BEST_EFFORT}
DURABILITY = {"Volatile": DurabilityPolicy.VOLATILE,
              "Transient Local": DurabilityPolicy.TRANSIENT_LOCAL}


def test_every_display_has_a_publisher_it_can_match(graph):
    view = yaml.safe_load((SOURCE_ROOT / "config" / "competency_cf.rviz").read_text())
    displays = view["Visualization Manager"]["Displays"]
    assert displays
    graph.start(graph.node("perception_node"), graph.node("counterfactual_node"))
    observer = graph.plain("observer")
    for display in displays:
        topic = display["Topic"]
        assert display["Class"] == "rviz_default_plugins/Image"

        def publishers():
            return observer.get_publishers_info_by_topic(topic["Value"])

        assert graph.spin_until(lambda: publishers(), timeout=60.0), topic["Value"]
        for info in publishers():
            assert info.topic_type == "sensor_msgs/msg/Image"
            # A reliable subscription needs a reliable publisher; volatile takes either.
            if RELIABILITY[topic["Reliability Policy"]] == ReliabilityPolicy.RELIABLE:
                assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE, topic
            if DURABILITY[topic["Durability Policy"]] == DurabilityPolicy.TRANSIENT_LOCAL:
                assert info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL, topic
