"""Field recording: the graph's topics into a rosbag2 directory (MCAP) plus explanations.jsonl.

Which topics: by default the camera input (`image_raw`, and `image_raw/compressed` when a
publisher offers it), every output of the package (`competency`, `low_competency/image`,
`counterfactual/detail`, `counterfactual/image`, `explanation`, `explanation/detail`,
`scenario_event`), `/diagnostics`, `/tf` and `/tf_static`; or the names given. Relative names are
resolved in the recorder node's namespace (and by its remapping rules), so a recorder in
`/rover1` records `/rover1/competency`. As `ros2 bag record` does, the recorder polls the graph:
a requested topic is subscribed once a publisher offers it, with the type the graph advertises
(imported by name; a type whose Python package is not installed is skipped with a logged note)
and a QoS that matches its publishers (best effort when one of them is, transient local when all
of them are, so `/tf_static` is received whole).

Subscriptions hand over the serialised CDR bytes (`raw=True`), written as they are, so the bag
holds exactly what was on the wire; `ros2 bag info/play` and Foxglove open it. The bag carries
the definition of every type it holds. Each message is logged at the time of the recorder
node's clock when it arrived (`use_sim_time:=true` gives simulation time). Every Explanation is
also appended to `explanations.jsonl` as one JSON object and flushed per line, and every trigger
frame and counterfactual image is also saved as a PNG under `triggers/`, named by camera
frame_id and stamp (`<frame_id>_<sec>.<nanosec>_frame.png`, `..._<method>.png`), so the moments
that matter can be looked at without a bag reader. `close()` writes
the bag's metadata; `record` installs SIGINT/SIGTERM handlers so a stopped recording is always
complete.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Iterable

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

# What a field test needs to replay the story and to re-score it offline (`competency-cf
# replay`): relative names follow the recorder's namespace, absolute ones do not.
DEFAULT_TOPICS: tuple[str, ...] = (
    "image_raw", "image_raw/compressed", "competency", "low_competency/image",
    "counterfactual/detail", "counterfactual/image", "explanation", "explanation/detail",
    "scenario_event", "/diagnostics", "/tf", "/tf_static")
# The package's outputs in the root namespace, with their types (no graph needed).
TOPICS: dict[str, str] = {
    "/competency": "competency_cf_msgs/msg/Competency",
    "/low_competency/image": "sensor_msgs/msg/Image",
    "/counterfactual/detail": "competency_cf_msgs/msg/Counterfactual",
    "/explanation": "std_msgs/msg/String",
    "/explanation/detail": "competency_cf_msgs/msg/Explanation",
    "/scenario_event": "competency_cf_msgs/msg/ScenarioEvent",
}
EXPLANATION_DETAIL = "/explanation/detail"
EXPLANATION_TYPE = "competency_cf_msgs/msg/Explanation"
COUNTERFACTUAL_TYPE = "competency_cf_msgs/msg/Counterfactual"
TRIGGER_SUFFIX = "low_competency/image"
UNKNOWN_HASH = "RIHS01_" + "0" * 64  # no definition and no hash known
DISCOVERY_PERIOD_S = 0.1  # graph polling while a requested topic is missing (as ros2 bag)


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


def parse_topics(text: str | None) -> tuple[str, ...]:
    """`--topics T1,T2,...` as names (None or empty: the defaults)."""
    if not text:
        return DEFAULT_TOPICS
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise ValueError(f"--topics {text!r} names no topic")
    return names


def matching_qos(publishers) -> QoSProfile:
    """A subscription QoS that matches every publisher of a topic: best effort when one of
    them is, transient local when all of them are (depth 100 either way)."""
    qos = QoSProfile(depth=100)
    offered = [info.qos_profile for info in publishers]
    if any(p.reliability == ReliabilityPolicy.BEST_EFFORT for p in offered):
        qos.reliability = ReliabilityPolicy.BEST_EFFORT
    if offered and all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in offered):
        qos.durability = DurabilityPolicy.TRANSIENT_LOCAL
    return qos


def _definition(typestore, kind: str) -> tuple[str, str] | None:
    """(msgdef, rihs01) of a type for the bag: from the typestore, else from the .msg file of an
    installed package (ament index), else None (written without a definition)."""
    try:
        if kind not in typestore.fielddefs:
            from ament_index_python.packages import get_package_share_directory
            from rosbags.typesys import get_types_from_msg

            package, _, name = kind.split("/")
            path = Path(get_package_share_directory(package)) / "msg" / f"{name}.msg"
            typestore.register(get_types_from_msg(path.read_text(), kind))
        msgdef, _ = typestore.generate_msgdef(kind, ros_version=2)
        return msgdef, typestore.hash_rihs01(kind)
    except Exception:  # noqa: BLE001 - any failure: the bag still names the type
        return None


def _type_hash(info) -> str:
    """The RIHS01 type hash a publisher advertises ("" when it has none)."""
    try:
        value = info.topic_type_hash
        text = value if isinstance(value, str) else str(value)
        return text if text.startswith("RIHS01_") else ""
    except Exception:  # noqa: BLE001 - older rclpy: no hash
        return ""


class Recorder:
    """Owns the bag writer and the JSONL file; `node()` makes the subscribing node.

    `topics`: names to discover in the graph (default DEFAULT_TOPICS), or a dict topic -> type
    subscribed at once without the graph (absolute names)."""

    def __init__(self, directory: str | Path,
                 topics: Iterable[str] | dict[str, str] | None = None,
                 compress: bool = False, split_mb: float | None = None,
                 split_s: float | None = None):
        from competency_cf.bag_types import default_typestore

        if (split_mb is not None and split_mb <= 0) or (split_s is not None and split_s <= 0):
            raise ValueError("split_mb and split_s must be positive")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.bag_path = self.directory / "bag"
        if self.bag_path.exists():
            raise FileExistsError(f"a recording already exists at {self.bag_path}")
        topics = DEFAULT_TOPICS if topics is None else topics
        self.fixed = dict(topics) if isinstance(topics, dict) else {}
        self.requested = list(topics)
        self.topics: dict[str, str] = {}  # topic -> type, as recorded
        self.skipped: dict[str, str] = {}  # topic -> why it is not recorded
        self.counts: dict[str, int] = {}
        self.compress, self.split_mb, self.split_s = compress, split_mb, split_s
        self.bags: list[Path] = []  # bag, bag_1, bag_2, ... as the recording is split
        self._lock = threading.Lock()
        self._typestore = default_typestore()
        self._definitions: dict[str, tuple] = {}  # topic -> (type, msgdef, rihs01)
        self._open_bag()
        self._jsonl = open(self.directory / "explanations.jsonl", "a", encoding="utf-8")
        self.closed = False
        self.wanted: list[str] = []  # the resolved names the node looks for in the graph
        for topic, kind in self.fixed.items():
            self.add_topic(topic, kind)

    def _open_bag(self) -> None:
        """Start the next bag directory, with every connection known so far."""
        from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer

        path = self.bag_path if not self.bags else \
            self.directory / f"bag_{len(self.bags)}"
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        if self.compress:  # zstd chunks inside the MCAP file
            self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        self._writer.open()
        self.bags.append(path)
        self._bag_bytes, self._bag_started_ns = 0, None
        self._connections = {
            topic: self._writer.add_connection(topic, kind, msgdef=msgdef, rihs01=rihs01)
            for topic, (kind, msgdef, rihs01) in self._definitions.items()}

    def _split_due(self, time_ns: int) -> bool:
        """The open bag holds `split_mb` or spans `split_s`: the next message starts a new one."""
        return (self.split_mb is not None and self._bag_bytes >= self.split_mb * 1e6) or \
            (self.split_s is not None and time_ns - self._bag_started_ns >= self.split_s * 1e9)

    def add_topic(self, topic: str, kind: str, type_hash: str = "") -> None:
        """A connection in the bag for `topic` (its messages are then written with `write`);
        `type_hash` (RIHS01) stands in when the type's definition is not known here."""
        with self._lock:
            if self.closed or topic in self._connections:
                return
            msgdef, rihs01 = _definition(self._typestore, kind) or ("", type_hash or UNKNOWN_HASH)
            self._definitions[topic] = (kind, msgdef, rihs01)
            connection = self._writer.add_connection(topic, kind, msgdef=msgdef, rihs01=rihs01)
            self._connections[topic] = connection
            self.topics[topic] = kind
            self.counts[topic] = 0

    def write(self, topic: str, data: bytes, time_ns: int) -> None:
        with self._lock:
            if self.closed:
                return
            if self._bag_started_ns is not None and self._split_due(time_ns):
                self._writer.close()
                self._open_bag()
            if self._bag_started_ns is None:
                self._bag_started_ns = time_ns
            self._writer.write(self._connections[topic], time_ns, bytes(data))
            self._bag_bytes += len(data)
            self.counts[topic] += 1
            kind = self.topics[topic]
            if kind == EXPLANATION_TYPE:
                import json

                from competency_cf_msgs.msg import Explanation
                from rclpy.serialization import deserialize_message

                record = message_to_dict(deserialize_message(bytes(data), Explanation))
                self._jsonl.write(json.dumps(record) + "\n")
                self._jsonl.flush()
            elif kind == COUNTERFACTUAL_TYPE or topic.endswith(TRIGGER_SUFFIX):
                self._save_trigger_png(kind, bytes(data))

    def _save_trigger_png(self, kind: str, data: bytes) -> None:
        """A trigger frame or counterfactual image as a PNG under triggers/; one that cannot be
        decoded is skipped (the bag has it as it was)."""
        from PIL import Image as PILImage
        from rclpy.serialization import deserialize_message

        from competency_cf.ros.image_codec import ImageDecodeError, to_rgb, to_rgb8

        msg = deserialize_message(data, _message_class(kind))
        image, suffix = (msg.image, msg.method) if kind == COUNTERFACTUAL_TYPE else (msg, "frame")
        name = f"{msg.header.frame_id or 'camera'}_{msg.header.stamp.sec}." \
               f"{msg.header.stamp.nanosec:09d}_{suffix}.png".replace("/", "_")
        try:
            pixels = to_rgb8(to_rgb(image))
        except ImageDecodeError:
            return
        folder = self.directory / "triggers"
        folder.mkdir(exist_ok=True)
        PILImage.fromarray(pixels).save(folder / name)

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._writer.close()
            self._jsonl.close()

    def node(self, context=None, name: str = "recorder", namespace: str = "") -> Node:
        """The subscribing node (in `namespace`, which relative topic names follow). It also
        reports the messages recorded per topic on /diagnostics every second, so an operator
        (or a test) sees that recording goes on."""
        from diagnostic_msgs.msg import DiagnosticArray

        node = Node(name, context=context, namespace=namespace)
        subscriptions = {}

        def subscribe(topic: str, kind: str, qos: QoSProfile) -> None:
            subscriptions[topic] = node.create_subscription(
                _message_class(kind), topic,
                lambda data, topic=topic: self.write(
                    topic, data, node.get_clock().now().nanoseconds),
                qos, raw=True)

        for topic, kind in self.fixed.items():
            subscribe(topic, kind, QoSProfile(depth=100))
        wanted = [node.resolve_topic_name(name) for name in self.requested
                  if name not in self.fixed]
        wanted = list(dict.fromkeys(t for t in wanted if t not in self.fixed))
        logger = node.get_logger()

        def discover() -> None:
            missing = [t for t in wanted if t not in subscriptions and t not in self.skipped]
            if not missing:
                return
            advertised = dict(node.get_topic_names_and_types())
            for topic in missing:
                publishers = node.get_publishers_info_by_topic(topic) \
                    if topic in advertised else []
                if not publishers:
                    continue
                kinds = advertised[topic]
                kind = kinds[0]
                try:
                    _message_class(kind)
                except (ImportError, AttributeError, ValueError) as error:
                    self.skipped[topic] = f"type {kind} not importable ({error})"
                    logger.warning(f"not recording {topic}: its type {kind} cannot be imported "
                                   f"here ({error})")
                    continue
                if len(kinds) > 1:
                    logger.warning(f"{topic} is offered as {', '.join(kinds)}; recording {kind}")
                self.add_topic(topic, kind, _type_hash(publishers[0]))
                subscribe(topic, kind, matching_qos(publishers))
                logger.info(f"recording {topic} ({kind})")

        diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", QoSProfile(depth=10))
        node.create_timer(1.0, lambda: diagnostics.publish(self.diagnostics(node)))
        if wanted:
            node.create_timer(DISCOVERY_PERIOD_S, discover)
            discover()
        self.wanted = wanted
        return node

    def diagnostics(self, node):
        """Messages recorded per topic, as a DiagnosticArray stamped with `node`'s clock."""
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

        with self._lock:
            counts = dict(self.counts)
            skipped = dict(self.skipped)
        status = DiagnosticStatus(
            level=DiagnosticStatus.OK if not self.closed else DiagnosticStatus.WARN,
            name=f"{node.get_name()}: recorder", hardware_id=str(self.bag_path),
            message="closed" if self.closed else "recording",
            values=[KeyValue(key=topic, value=str(count)) for topic, count in counts.items()]
            + [KeyValue(key=topic, value=f"skipped: {why}") for topic, why in skipped.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = node.get_clock().now().to_msg()
        return array


def record(directory: str | Path, duration_s: float | None = None,
           topics: Iterable[str] | None = None, namespace: str = "",
           ros_args: list[str] | None = None, compress: bool = False,
           split_mb: float | None = None, split_s: float | None = None) -> int:
    """Record until SIGINT/SIGTERM (or `duration_s`); the files are complete either way.
    `ros_args` (after `--ros-args`) reach rclpy: `-p use_sim_time:=true`, remapping."""
    import rclpy

    from competency_cf.ros.dds_profile import use_large_frame_profile
    from competency_cf.ros.executor import teardown
    from competency_cf.ros.pipeline import spin_nodes

    use_large_frame_profile()
    extra = [a for a in (ros_args or []) if a != "--ros-args"]
    rclpy.init(args=["record", "--ros-args", *extra] if extra else None)
    recorder = Recorder(directory, topics, compress=compress, split_mb=split_mb, split_s=split_s)
    node = recorder.node(namespace=namespace)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"recording {len(recorder.wanted)} topics to {recorder.bag_path} "
          f"({', '.join(recorder.wanted)}; Ctrl-C to stop)", flush=True)
    try:
        spin_nodes([node], duration_s, on_tick=lambda: stop.is_set() and rclpy.shutdown())
    finally:
        recorder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        teardown([node])
    print(f"recorded {sum(recorder.counts.values())} messages of {len(recorder.topics)} topics "
          f"to {recorder.bag_path}")
    for topic, why in recorder.skipped.items():
        print(f"  not recorded: {topic} ({why})")
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
