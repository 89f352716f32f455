"""Field recording: the graph's topics into a rosbag2 directory (MCAP) plus explanations.jsonl.

Subscriptions hand over the serialised CDR bytes (`raw=True`), written as they are, so the bag
holds exactly what was on the wire; `ros2 bag info/play` and Foxglove open it. Every explanation
detail is also appended to `explanations.jsonl` and flushed per line. `close()` writes the bag's
metadata; `record` installs SIGINT/SIGTERM handlers so a stopped recording is always complete.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile

# topic -> ROS message type; what a field test needs to replay the story
TOPICS: dict[str, str] = {
    "/perception_node/competency": "std_msgs/msg/Float32",
    "/perception_node/low_competency/image": "sensor_msgs/msg/Image",
    "/counterfactual_node/counterfactual/image": "sensor_msgs/msg/Image",
    "/counterfactual_node/counterfactual/detail": "std_msgs/msg/String",
    "/explainer_node/explanation": "std_msgs/msg/String",
    "/explainer_node/explanation/detail": "std_msgs/msg/String",
    "/sim_camera_node/event": "std_msgs/msg/String",
}
EXPLANATION_DETAIL = "/explainer_node/explanation/detail"


def _message_class(type_name: str):
    import importlib

    package, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


class Recorder:
    """Owns the bag writer and the JSONL file; `node()` makes the subscribing node."""

    def __init__(self, directory: str | Path, topics: dict[str, str] = TOPICS):
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.bag_path = self.directory / "bag"
        if self.bag_path.exists():
            raise FileExistsError(f"a recording already exists at {self.bag_path}")
        self.topics = dict(topics)
        self._lock = threading.Lock()
        self._writer = Writer(self.bag_path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        typestore = get_typestore(Stores.ROS2_KILTED)
        self._connections = {topic: self._writer.add_connection(topic, kind, typestore=typestore)
                             for topic, kind in self.topics.items()}
        self._jsonl = open(self.directory / "explanations.jsonl", "a", encoding="utf-8")
        self.counts = {topic: 0 for topic in self.topics}
        self.closed = False

    def write(self, topic: str, data: bytes, time_ns: int) -> None:
        with self._lock:
            if self.closed:
                return
            self._writer.write(self._connections[topic], time_ns, bytes(data))
            self.counts[topic] += 1
            if topic == EXPLANATION_DETAIL:
                from rclpy.serialization import deserialize_message
                from std_msgs.msg import String

                self._jsonl.write(deserialize_message(bytes(data), String).data + "\n")
                self._jsonl.flush()

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._writer.close()
            self._jsonl.close()

    def node(self, context=None, name: str = "recorder") -> Node:
        """The subscribing node; it also reports the messages recorded per topic on
        /diagnostics every second, so an operator (or a test) sees that recording goes on."""
        from diagnostic_msgs.msg import DiagnosticArray

        node = Node(name, context=context)
        for topic, kind in self.topics.items():
            node.create_subscription(
                _message_class(kind), topic,
                lambda data, topic=topic: self.write(
                    topic, data, node.get_clock().now().nanoseconds),
                QoSProfile(depth=100), raw=True)
        diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", QoSProfile(depth=10))
        node.create_timer(1.0, lambda: diagnostics.publish(self.diagnostics(node)))
        return node

    def diagnostics(self, node):
        """Messages recorded per topic, as a DiagnosticArray stamped with `node`'s clock."""
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        with self._lock:
            counts = dict(self.counts)
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK if not self.closed else DiagnosticStatus.WARN,
            name=f"{node.get_name()}: recorder", hardware_id=str(self.bag_path),
            message="closed" if self.closed else "recording",
            values=[KeyValue(key=topic, value=str(count)) for topic, count in counts.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = node.get_clock().now().to_msg()
        return array


def record(directory: str | Path, duration_s: float | None = None) -> int:
    """Record until SIGINT/SIGTERM (or `duration_s`); the files are complete either way."""
    import rclpy

    from competency_cf.ros.executor import teardown
    from competency_cf.ros.pipeline import spin_nodes

    rclpy.init()
    recorder = Recorder(directory)
    node = recorder.node()
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"recording {len(recorder.topics)} topics to {recorder.bag_path} "
          "(Ctrl-C to stop)", flush=True)
    try:
        spin_nodes([node], duration_s, on_tick=lambda: stop.is_set() and rclpy.shutdown())
    finally:
        recorder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        teardown([node])
    print(f"recorded {sum(recorder.counts.values())} messages to {recorder.bag_path}")
    return 0


def read_bag(bag_path: str | Path) -> list[tuple[str, int, object]]:
    """(topic, time_ns, message) of every recorded message, deserialised with rclpy."""
    from rclpy.serialization import deserialize_message
    from rosbags.rosbag2 import Reader

    messages = []
    with Reader(Path(bag_path)) as reader:
        for connection, time_ns, data in reader.messages():
            kind = _message_class(connection.msgtype)
            messages.append((connection.topic, time_ns, deserialize_message(bytes(data), kind)))
    return messages
