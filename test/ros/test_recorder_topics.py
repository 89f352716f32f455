"""The recorder finds its topics in the graph: relative names in its namespace, types as the graph
advertises them, QoS matched to the publishers (the sim camera's best-effort frames, a transient
local topic published before the recorder started), the node clock as the bag's time."""

import pytest
from competency_cf_msgs.msg import Competency
from geometry_msgs.msg import Twist
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile
from rosgraph_msgs.msg import Clock
from std_msgs.msg import String

import competency_cf.ros.recorder as recorder_module
from competency_cf.ros.recorder import DEFAULT_TOPICS, Recorder, read_bag

pytestmark = pytest.mark.ros

SCENARIO = """
segments:
  - {cause: nominal, seconds: 0.5}
  - {cause: noise, seconds: 0.5, factor: 60}
"""


def test_a_namespaced_graph_is_recorded_with_types_from_the_graph(graph, tmp_path):
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    camera = graph.node("sim_camera_node", namespace="/rover1", scenario=str(scenario),
                        rate_hz=10.0)
    publisher = graph.plain("publisher")
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    description = publisher.create_publisher(String, "/rover1/robot_description", latched)
    description.publish(String(data="<robot name='rover1'/>"))  # before the recorder exists
    competency = publisher.create_publisher(Competency, "/rover1/competency", 10)
    root_competency = publisher.create_publisher(Competency, "/competency", 10)
    velocity = publisher.create_publisher(Twist, "/rover1/cmd_vel", 10)
    recorder = Recorder(tmp_path / "recording",
                        [*DEFAULT_TOPICS, "cmd_vel", "robot_description"])
    graph._add(recorder.node(context=graph.context, namespace="/rover1"))
    assert "/rover1/image_raw" in recorder.wanted and "/diagnostics" in recorder.wanted
    assert "/rover1/cmd_vel" in recorder.wanted and "/competency" not in recorder.wanted
    # The camera's publishers exist once it is configured; it plays once the recorder takes them
    camera.trigger_configure()
    assert graph.spin_until(lambda: camera.image_pub.get_subscription_count() >= 1
                            and camera.event_pub.get_subscription_count() >= 1)
    camera.trigger_activate()

    def publish():
        if recorder.counts.get("/rover1/competency", 0) < 3:  # until a few are in
            competency.publish(Competency(competency=0.5))
            root_competency.publish(Competency(competency=0.1))
        if recorder.counts.get("/rover1/cmd_vel", 0) < 3:
            velocity.publish(Twist())

    def enough():
        counts = recorder.counts
        return (camera.finished and counts.get("/rover1/competency", 0) >= 3
                and counts.get("/rover1/cmd_vel", 0) >= 3
                and counts.get("/rover1/robot_description", 0) == 1
                and counts.get("/diagnostics", 0) >= 1)

    assert graph.spin_until(enough, each=publish), recorder.counts
    recorder.close()
    messages = read_bag(tmp_path / "recording" / "bag")
    topics = {topic for topic, _, _ in messages}
    assert {"/rover1/image_raw", "/rover1/scenario_event", "/rover1/competency",
            "/rover1/cmd_vel", "/rover1/robot_description", "/diagnostics"} <= topics
    assert "/competency" not in topics  # outside the namespace
    assert recorder.topics["/rover1/cmd_vel"] == "geometry_msgs/msg/Twist"  # from the graph
    # Every camera frame of the scenario (10 at 10 Hz), best effort and all
    frames = [m for t, _, m in messages if t == "/rover1/image_raw"]
    assert len(frames) == camera.frame_index == 10
    assert frames[0].encoding == "rgb8" and frames[0].width > 0
    assert [m.data for t, _, m in messages if t == "/rover1/robot_description"] == \
        ["<robot name='rover1'/>"]


def test_sim_time_and_a_type_that_cannot_be_imported(graph, tmp_path, monkeypatch):
    real = recorder_module._message_class

    def without_geometry(kind):
        if kind.startswith("geometry_msgs/"):
            raise ImportError(f"No module named {kind.split('/')[0]!r}")
        return real(kind)

    monkeypatch.setattr(recorder_module, "_message_class", without_geometry)
    publisher = graph.plain("publisher")
    clock = publisher.create_publisher(Clock, "/clock", 10)
    competency = publisher.create_publisher(Competency, "/competency", 10)
    velocity = publisher.create_publisher(Twist, "/cmd_vel", 10)
    recorder = Recorder(tmp_path / "recording", ["competency", "cmd_vel"])
    node = recorder.node(context=graph.context)
    node.set_parameters([Parameter("use_sim_time", value=True)])
    graph._add(node)

    def publish():
        message = Clock()
        message.clock.sec = 42
        clock.publish(message)
        if recorder.counts.get("/competency", 0) < 3:
            competency.publish(Competency(competency=0.5))
        if "/cmd_vel" not in recorder.skipped:
            velocity.publish(Twist())

    assert graph.spin_until(lambda: recorder.counts.get("/competency", 0) >= 3
                            and "/cmd_vel" in recorder.skipped, each=publish)
    recorder.close()
    assert "geometry_msgs/msg/Twist" in recorder.skipped["/cmd_vel"]
    values = {v.key: v.value for v in recorder.diagnostics(node).status[0].values}
    assert values["/cmd_vel"].startswith("skipped")
    times = [t for topic, t, _ in read_bag(tmp_path / "recording" / "bag")]
    # The node clock follows /clock: the first messages may come before the first /clock
    # (time 0), every later one is logged at 42 s
    assert times and times[-1] == 42 * 10**9 and set(times) <= {0, 42 * 10**9}
