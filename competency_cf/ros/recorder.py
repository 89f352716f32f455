"""Field recording: the graph's topics into a rosbag2 directory (MCAP) plus explanations.jsonl.

Subscriptions hand over the serialised CDR bytes (`raw=True`), written as they are, so the bag
holds exactly what was on the wire; `ros2 bag info/play` and Foxglove open it. The bag carries
the definitions of the competency_cf_msgs types it holds. Every explanation is also appended to
`explanations.jsonl` as one JSON object and flushed per line. `close()` writes the bag's
metadata; `record` installs SIGINT/SIGTERM handlers so a stopped recording is always complete.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from rclpy.node import Node
from rclpy.qos import QoSProfile

# topic -> ROS message type; what a field test needs to replay the story (a graph in the root
# namespace with one unnamed camera)
TOPICS: dict[str, str] = {
    "/competency": "competency_cf_msgs/msg/Competency",
    "/low_competency/image": "sensor_msgs/msg/Image",
    "/counterfactual/detail": "competency_cf_msgs/msg/Counterfactual",
    "/explanation": "std_msgs/msg/String",
    "/explanation/detail": "competency_cf_msgs/msg/Explanation",
    "/scenario_event": "competency_cf_msgs/msg/ScenarioEvent",
}
EXPLANATION_DETAIL = "/explanation/detail"


def _message_class(type_name: str):
    import importlib

    package, _, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


def message_to_dict(msg) -> dict:
    """A ROS message as plain JSON-ready values (nested messages as dicts; images left out)."""
    out = {}
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, "get_fields_and_field_types"):
            if type(value).__name__ == "Image":
                continue
            value = message_to_dict(value)
        elif isinstance(value, (list, tuple)) or type(value).__module__ == "array":
            value = list(value)
        elif isinstance(value, float):
            value = round(value, 5)
        out[name] = value
    return out


class Recorder:
    """Owns the bag writer and the JSONL file; `node()` makes the subscribing node."""

    def __init__(self, directory: str | Path, topics: dict[str, str] = TOPICS):
        from rosbags.rosbag2 import StoragePlugin, Writer

        from competency_cf.bag_types import default_typestore

        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.bag_path = self.directory / "bag"
        if self.bag_path.exists():
            raise FileExistsError(f"a recording already exists at {self.bag_path}")
        self.topics = dict(topics)
        self._lock = threading.Lock()
        self._writer = Writer(self.bag_path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        typestore = default_typestore()
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
                import json

                from competency_cf_msgs.msg import Explanation
                from rclpy.serialization import deserialize_message

                record = message_to_dict(deserialize_message(bytes(data), Explanation))
                self._jsonl.write(json.dumps(record) + "\n")
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

    from competency_cf.ros.dds_profile import use_large_frame_profile
    from competency_cf.ros.executor import teardown
    from competency_cf.ros.pipeline import spin_nodes

    use_large_frame_profile()
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
