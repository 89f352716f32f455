"""Small recordings of a two-camera drive whose run report is worked out by hand: one written
by the package's recorder (rclpy serialisation), one by rosbags' own writer and serialisation (a
stand-in for `ros2 bag record -s mcap`, no code of this package). Used by the run report tests."""

import numpy as np
from competency_cf_msgs.msg import Competency, Counterfactual, Explanation, ScenarioEvent
from sensor_msgs.msg import Image

from competency_cf.ros.recorder import Recorder

BASE_S = 1000  # stamps start here (s)
NS = "/rover1"
TOPICS = {f"{NS}/front/competency": "competency_cf_msgs/msg/Competency",
          f"{NS}/rear/competency": "competency_cf_msgs/msg/Competency",
          f"{NS}/low_competency/image": "sensor_msgs/msg/Image",
          f"{NS}/counterfactual/detail": "competency_cf_msgs/msg/Counterfactual",
          f"{NS}/explanation/detail": "competency_cf_msgs/msg/Explanation",
          f"{NS}/scenario_event": "competency_cf_msgs/msg/ScenarioEvent"}

# The drive, 10 Hz, samples i = 0..99 per camera (t = i / 10 s after BASE_S), threshold 0.5.
# front: low at i 20-29 (1.0 s) and 50-69 (2.0 s); triggers at i 20 (fast "contrast", then final
#        "noise"), 50 (final "brightness") and 60 (final "brightness").
# rear:  low at i 50-54 (0.5 s); trigger at i 50, the same stamp as front's (a stereo pair):
#        only a fast "pixelation" explanation was recorded.
# front carries ground truth: segments none / noise (i 20-29) / none / brightness (50-69) / none.
LOW = {"front": [(20, 30), (50, 70)], "rear": [(50, 55)]}
TRIGGER_COMPETENCY = {("front", 20): 0.3, ("front", 50): 0.1, ("front", 60): 0.2,
                      ("rear", 50): 0.25}
EXPLANATIONS = {("front", 20): [("contrast", False), ("noise", True)],
                ("front", 50): [("brightness", True)], ("front", 60): [("brightness", True)],
                ("rear", 50): [("pixelation", False)]}
SEGMENTS = [(0, 20, "none"), (20, 30, "noise"), (30, 50, "none"), (50, 70, "brightness"),
            (70, 100, "none")]


def _competency(camera: str, i: int) -> float:
    if (camera, i) in TRIGGER_COMPETENCY:
        return TRIGGER_COMPETENCY[(camera, i)]
    return 0.35 if any(a <= i < b for a, b in LOW[camera]) else 0.9


def _stamp_ns(i: int) -> int:
    return BASE_S * 1_000_000_000 + i * 100_000_000


def _frame(value: int, size: int = 48) -> np.ndarray:
    image = np.zeros((size, size, 3), np.uint8)
    image[..., 0] = value
    image[: size // 2, :, 1] = 255 - value
    return image


def drive():
    """(topic, bag time ns, kind, fields) of the whole drive, in bag time order."""
    events = []
    for i in range(100):
        t = _stamp_ns(i)
        for camera in ("front", "rear"):
            value = _competency(camera, i)
            events.append((f"{NS}/{camera}/competency", t + 2_000_000, "competency",
                           dict(camera=camera, i=i, competency=value)))
        segment = next((n, cause) for n, (a, b, cause) in enumerate(SEGMENTS) if a <= i < b)
        events.append((f"{NS}/scenario_event", t + 1_000_000, "scenario",
                       dict(camera="front", i=i, segment=segment[0], cause=segment[1])))
    for (camera, i), said in EXPLANATIONS.items():
        t = _stamp_ns(i)
        events.append((f"{NS}/low_competency/image", t + 3_000_000, "trigger",
                       dict(camera=camera, i=i)))
        for n, (cause, final) in enumerate(said):
            events.append((f"{NS}/counterfactual/detail", t + 30_000_000 + n * 200_000_000,
                           "counterfactual", dict(camera=camera, i=i, final=final)))
            events.append((f"{NS}/explanation/detail", t + 50_000_000 + n * 200_000_000,
                           "explanation", dict(camera=camera, i=i, cause=cause, final=final)))
    return sorted(events, key=lambda e: e[1])


# --- the package's recorder, rclpy messages ----------------------------------------------------

def _header(msg, camera, i):
    msg.header.frame_id = camera
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(_stamp_ns(i), 1_000_000_000)
    return msg


def _image(array: np.ndarray) -> Image:
    return Image(height=array.shape[0], width=array.shape[1], encoding="rgb8",
                 step=array.shape[1] * 3, data=array.tobytes())


def rclpy_message(kind, f):
    if kind == "competency":
        return _header(Competency(competency=f["competency"], threshold=0.5,
                                  low=f["competency"] < 0.5, class_name="crater"),
                       f["camera"], f["i"])
    if kind == "scenario":
        return _header(ScenarioEvent(frame=f["i"], segment=f["segment"], cause=f["cause"],
                                     factor=2.0 if f["cause"] != "none" else 1.0),
                       f["camera"], f["i"])
    if kind == "trigger":
        return _header(_image(_frame(40 + f["i"])), f["camera"], f["i"])
    before = TRIGGER_COMPETENCY[(f["camera"], f["i"])]
    if kind == "counterfactual":
        return _header(Counterfactual(method="LGD" if f["final"] else "Reco",
                                      image=_image(_frame(200, 32)), competency_before=before,
                                      competency_after=0.8, success=True, final=f["final"]),
                       f["camera"], f["i"])
    return _header(Explanation(cause=f["cause"], direction="high", confidence=0.9,
                               text=f"The {f['cause']} is unusual.", competency_before=before,
                               competency_after=0.8, final=f["final"], method="LGD",
                               backend="descriptor"), f["camera"], f["i"])


def record_with_recorder(directory, split_s=None):
    from rclpy.serialization import serialize_message

    recorder = Recorder(directory, TOPICS, split_s=split_s)
    for topic, time_ns, kind, fields in drive():
        recorder.write(topic, serialize_message(rclpy_message(kind, fields)), time_ns)
    recorder.close()
    return directory / "bag"


# --- rosbags' own writer and serialisation (no rclpy, no code of this package) -----------------

def record_with_rosbags(path, compress=False):
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from competency_cf.resources import message_definitions

    store = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for definition in message_definitions():
        types.update(get_types_from_msg(definition.read_text(),
                                        f"competency_cf_msgs/msg/{definition.stem}"))
    store.register(types)
    T = store.types
    Time, Header = T["builtin_interfaces/msg/Time"], T["std_msgs/msg/Header"]

    def header(f):
        sec, nanosec = divmod(_stamp_ns(f["i"]), 1_000_000_000)
        return Header(stamp=Time(sec=sec, nanosec=nanosec), frame_id=f["camera"])

    def image(f, array):
        return T["sensor_msgs/msg/Image"](
            header=header(f), height=array.shape[0], width=array.shape[1], encoding="rgb8",
            is_bigendian=0, step=array.shape[1] * 3, data=array.reshape(-1))

    def message(kind, f):
        if kind == "competency":
            return T["competency_cf_msgs/msg/Competency"](
                header=header(f), competency=f["competency"], p_max=1.0, p_in_distribution=1.0,
                class_id=0, class_name="crater", threshold=0.5, low=f["competency"] < 0.5,
                estimator="parce", model_hash="")
        if kind == "scenario":
            return T["competency_cf_msgs/msg/ScenarioEvent"](
                header=header(f), frame=f["i"], segment=f["segment"], cause=f["cause"],
                factor=1.0)
        if kind == "trigger":
            return image(f, _frame(40 + f["i"]))
        before = TRIGGER_COMPETENCY[(f["camera"], f["i"])]
        if kind == "counterfactual":
            return T["competency_cf_msgs/msg/Counterfactual"](
                header=header(f), method="LGD", image=image(f, _frame(200, 32)),
                competency_before=before, competency_after=0.8, success=True, iterations=0,
                milliseconds=1.0, final=f["final"])
        return T["competency_cf_msgs/msg/Explanation"](
            header=header(f), cause=f["cause"], direction="high", confidence=0.9, region="",
            region_grid=0, region_map=np.zeros(0, np.float32),
            text=f"The {f['cause']} is unusual.", unsure=False, candidates=[],
            candidate_confidences=np.zeros(0, np.float32), method="LGD", backend="descriptor",
            competency_before=before, competency_after=0.8, final=f["final"],
            milliseconds=1.0)

    writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
    if compress:
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with writer:
        connections = {topic: writer.add_connection(topic, kind, typestore=store)
                       for topic, kind in TOPICS.items()}
        for topic, time_ns, kind, fields in drive():
            writer.write(connections[topic], time_ns,
                         store.serialize_cdr(message(kind, fields), TOPICS[topic]))
    return path
